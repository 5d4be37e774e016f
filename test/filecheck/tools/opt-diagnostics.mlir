// RUN: not opt-tool %s 2>&1 | filecheck %s --check-prefix=VERIFY
// RUN: not opt-tool -p O2 %inputs/huge-float.mlir 2>&1 | filecheck %s --check-prefix=FLOAT
// RUN: not opt-tool %inputs/huge-dim.mlir 2>&1 | filecheck %s --check-prefix=DIM
// RUN: not opt-tool %inputs/huge-splat.mlir 2>&1 | filecheck %s --check-prefix=SPLAT
// RUN: not opt-tool -p lower %S/../lowering/linalg-to-loops.mlir 2>&1 | filecheck %s --check-prefix=LEVEL
// RUN: not opt-tool -p lower-linalg-to-loops --split-input-file %S/../lowering/bufferize.mlir 2>&1 | filecheck %s --check-prefix=LOOPS
// RUN: not opt-tool -p 'fold{' %s 2>&1 | filecheck %s --check-prefix=PIPELINE
// RUN: not translate-tool --pipeline=lower %inputs/huge-float.mlir 2>&1 | filecheck %s --check-prefix=TRANSLATE
// RUN: not translate-tool --pipeline=lower %S/../lowering/linalg-to-loops.mlir 2>&1 | filecheck %s --check-prefix=TLEVEL

// Every failure is one message on stderr with the position (exit status 1), never a
// Python traceback.

func.func @main(%a: tensor<3x4xf32>, %b: tensor<5x6xf32>) -> tensor<3x6xf32> {
  %c = graph.gemm %a, %b : tensor<3x4xf32>, tensor<5x6xf32> -> tensor<3x6xf32>
  func.return %c : tensor<3x6xf32>
}

// A verifier failure names the op's position and shows its line.
// VERIFY:      opt-tool: error: {{.*}}opt-diagnostics.mlir:15:3: graph.gemm: contraction dims differ (4 vs 5)
// VERIFY-NEXT: %c = graph.gemm
// VERIFY-NEXT: ^
// VERIFY-NOT:  Traceback

// xDSL's OverflowError packing 1e39 into an f32 is a parse error at the literal.
// FLOAT:       opt-tool: parse error: {{.*}}huge-float.mlir:2:28: value out of range for its type: float too large to pack with f format
// FLOAT-NEXT:  %c = graph.constant dense<1.0e39> : tensor<4xf32>
// FLOAT-NOT:   Traceback

// Sizes that would overflow byte counts are rejected with the type.
// DIM:         opt-tool: error: {{.*}}huge-dim.mlir:1:1: func.func: tensor<9223372036854775807xf32> has a dim of 9223372036854775807; Kiln supports at most 2^48 per dim
// SPLAT:       opt-tool: parse error: {{.*}}huge-splat.mlir:2:36: dense literal of type tensor<4611686018427387904xf32> has 4611686018427387904 elements; Kiln accepts at most 16777216 inline

// A pass given IR of another level says so (this file is at memref level already).
// LEVEL:       opt-tool: error: pass 'bufferize' failed: bufferize: expected tensor-level IR, found func.func (it has memref operands or results) at {{.*}}linalg-to-loops.mlir:{{[0-9]+}}:1
// LEVEL-NOT:   internal error
// LOOPS:       opt-tool: error: pass 'lower-linalg-to-loops' failed: lower-linalg-to-loops: expected memref-level IR, found func.func (it has tensor operands or results: run bufferize first) at {{.*}}bufferize.mlir:{{[0-9]+}}:1

// PIPELINE:    opt-tool: bad pass pipeline 'fold{'
// PIPELINE-NOT: Traceback

// TRANSLATE:   translate-tool: parse error: {{.*}}huge-float.mlir:2:28: value out of range for its type
// TLEVEL:      translate-tool: error: pass 'bufferize' failed: bufferize: expected tensor-level IR
