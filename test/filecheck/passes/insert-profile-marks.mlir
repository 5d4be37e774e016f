// RUN: opt-tool %s -p insert-profile-marks | filecheck %s
// RUN: opt-tool %s -p insert-profile-marks | opt-tool -p insert-profile-marks | filecheck %s --check-prefix=ONCE

// A mark before each graph op of @main (its index), none before constants and weights,
// -1 before the return; the module records what each index is.
// CHECK:       builtin.module attributes {kiln.profile_ops = [{op = "graph.matmul", node = "", flops = 1024 : i64, bytes = 896 : i64}, {op = "graph.relu", node = "", flops = -1 : i64, bytes = 512 : i64}]}
// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %w = graph.constant
// CHECK-NEXT:    %[[I0:.*]] = arith.constant 0 : i64
// CHECK-NEXT:    func.call @kiln_profile_mark(%[[I0]]) : (i64) -> ()
// CHECK-NEXT:    %y = graph.matmul
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : i64
// CHECK-NEXT:    func.call @kiln_profile_mark(%[[I1]]) : (i64) -> ()
// CHECK-NEXT:    %r = graph.relu
// CHECK-NEXT:    %[[END:.*]] = arith.constant -1 : i64
// CHECK-NEXT:    func.call @kiln_profile_mark(%[[END]]) : (i64) -> ()
// CHECK-NEXT:    func.return %r
// CHECK:       func.func private @kiln_profile_mark(i64) -> ()
// ONCE-COUNT-3: func.call @kiln_profile_mark
// ONCE-NOT:     func.call @kiln_profile_mark
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = graph.constant dense<1.0> : tensor<8x16xf32>
  %y = graph.matmul %x, %w : tensor<4x8xf32>, tensor<8x16xf32> -> tensor<4x16xf32>
  %r = graph.relu %y : (tensor<4x16xf32>) -> tensor<4x16xf32>
  func.return %r : tensor<4x16xf32>
}
