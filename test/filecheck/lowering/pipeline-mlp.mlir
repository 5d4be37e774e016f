// RUN: opt-tool %s -p convert-graph-to-tensor,bufferize,lower-contractions-to-kernels,lower-linalg-to-loops | filecheck %s
// RUN: opt-tool %s -p convert-graph-to-tensor,bufferize,lower-contractions-to-kernels,lower-linalg-to-loops | opt-tool | filecheck %s

// An MLP with a dynamic batch through all three lowering passes: weights are trailing
// memref arguments, the batch size flows from memref.dim into allocs and loop bounds,
// intermediates are freed, nothing of graph/tensor/linalg/affine is left; the gemms
// are calls of the generated kernel (defined in the module).

// CHECK-LABEL: func.func @main
// CHECK-SAME: %x: memref<?x8xf32> {graph.name = "x", graph.dims = ["batch", ""]}
// CHECK-SAME: memref<16x8xf32> {graph.weight = "fc1.w"}
// CHECK-SAME: memref<16xf32> {graph.weight = "fc1.b"}
// CHECK-SAME: memref<4x16xf32> {graph.weight = "fc2.w"}
// CHECK-SAME: memref<4xf32> {graph.weight = "fc2.b"}
// CHECK-SAME: -> (memref<?x4xf32> {graph.name = "y"})
// CHECK: %[[N:.*]] = memref.dim %x, %{{.*}} : memref<?x8xf32>
// CHECK: memref.alloc(%[[N]]) : memref<?x16xf32>
// CHECK: llvm.call @kiln_sgemm_f32
// CHECK: scf.for
// CHECK: arith.maximumf
// CHECK: memref.dealloc
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: memref.dealloc
// CHECK: func.return
// CHECK: llvm.func internal @kiln_sgemm_f32
// CHECK-NOT: graph.
// CHECK-NOT: tensor.
// CHECK-NOT: linalg.
// CHECK-NOT: affine.

builtin.module attributes {graph.weights = "mem:0"} {
  func.func @main(%x: tensor<?x8xf32> {graph.name = "x", graph.dims = ["batch", ""]}) -> (tensor<?x4xf32> {graph.name = "y"}) {
    %w1 = graph.weight "fc1.w" : tensor<16x8xf32>
    %b1 = graph.weight "fc1.b" : tensor<16xf32>
    %h = graph.gemm %x, %w1 bias(%b1 : tensor<16xf32>) {trans_b = 1 : i64, act = "relu"} : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
    %w2 = graph.weight "fc2.w" : tensor<4x16xf32>
    %b2 = graph.weight "fc2.b" : tensor<4xf32>
    %l = graph.gemm %h, %w2 bias(%b2 : tensor<4xf32>) {trans_b = 1 : i64} : tensor<?x16xf32>, tensor<4x16xf32> -> tensor<?x4xf32>
    %y = graph.softmax %l {axis = 1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
    func.return %y : tensor<?x4xf32>
  }
}
