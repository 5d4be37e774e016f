// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | opt-tool --split-input-file | filecheck %s

// Weights become trailing arguments; constants become arith.constant dense.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %x: tensor<2x3xf32> {graph.name = "x"}
// CHECK-SAME: %w: tensor<3xf32> {graph.weight = "w"}
// CHECK: arith.constant dense<{{.*}}> : tensor<3xf32>
// CHECK: tensor.empty() : tensor<2x3xf32>
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK: arith.addf
// CHECK: arith.mulf
// CHECK-NOT: graph.
func.func @main(%x: tensor<2x3xf32> {graph.name = "x"}) -> tensor<2x3xf32> {
  %w = graph.weight "w" : tensor<3xf32>
  %c = graph.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %a = graph.add %x, %w : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %m = graph.mul %a, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %m : tensor<2x3xf32>
}

// -----

// Broadcast of a size-1 dim reads index 0; relu is maximumf with 0.
// CHECK-LABEL: func.func @main
// CHECK: affine_map<(d0, d1) -> (d0, 0)>
// CHECK: arith.maximumf
// CHECK-NOT: graph.
func.func @main(%x: tensor<4x1xf32>, %y: tensor<4x5xf32>) -> tensor<4x5xf32> {
  %a = graph.sub %x, %y : (tensor<4x1xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  %r = graph.relu %a : (tensor<4x5xf32>) -> tensor<4x5xf32>
  func.return %r : tensor<4x5xf32>
}

// -----

// Dynamic batch: sizes come from tensor.dim; gemm C seeds the accumulator, the
// contraction is a reduction generic, the activation one elementwise generic.
// CHECK-LABEL: func.func @main
// CHECK: %[[D:.*]] = tensor.dim %x, %{{.*}} : tensor<?x3xf32>
// CHECK: tensor.empty(%[[D]]) : tensor<?x4xf32>
// CHECK: linalg.generic {{.*}}affine_map<(d0, d1) -> (d1)>
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK: math.tanh
// CHECK-NOT: graph.
func.func @main(%x: tensor<?x3xf32>, %w: tensor<4x3xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  %y = graph.gemm %x, %w bias(%b : tensor<4xf32>) {trans_b = 1 : i64, act = "tanh"} : tensor<?x3xf32>, tensor<4x3xf32> -> tensor<?x4xf32>
  func.return %y : tensor<?x4xf32>
}

// -----

// Conv with padding: a padded copy (linalg.index + clamped tensor.extract + select),
// then the strided conv reduction with d*stride + k*dilation maps, then the fused
// residual + relu epilogue.
// CHECK-LABEL: func.func @main
// CHECK: linalg.index 2
// CHECK: tensor.extract %x
// CHECK: arith.select
// CHECK: affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d4, ((d2 * 2) + (d5 * 2)), ((d3 * 2) + (d6 * 2)))>
// CHECK-SAME: "reduction", "reduction", "reduction"
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK-NOT: graph.
func.func @main(%x: tensor<1x2x6x6xf32>, %w: tensor<3x2x2x2xf32>, %r: tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32> {
  %c = graph.conv %x, %w residual(%r : tensor<1x3x3x3xf32>) {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 2, 2>, act = "relu"} : tensor<1x2x6x6xf32>, tensor<3x2x2x2xf32> -> tensor<1x3x3x3xf32>
  func.return %c : tensor<1x3x3x3xf32>
}

// -----

// Max pool: a reduction over a window operand; padding masked with -inf.
// CHECK-LABEL: func.func @main
// CHECK: tensor.empty() : tensor<3x3xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32)
// CHECK: "reduction", "reduction"
// CHECK: tensor.extract
// CHECK: arith.constant 0xff800000 : f32
// CHECK: arith.select
// CHECK: arith.maximumf
// CHECK-NOT: graph.
func.func @main(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32> {
  %p = graph.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
  func.return %p : tensor<1x1x2x2xf32>
}

// -----

// Reshape with an inferred dynamic dim: tensor.dim product / known, from_elements.
// CHECK-LABEL: func.func @main
// CHECK: tensor.dim %x
// CHECK: arith.divsi
// CHECK: %[[S:.*]] = tensor.from_elements %{{.*}}, %{{.*}} : tensor<2xindex>
// CHECK: tensor.reshape %x(%[[S]]) : (tensor<?x4x1x1xf32>, tensor<2xindex>) -> tensor<?x4xf32>
// CHECK-NOT: graph.
func.func @main(%x: tensor<?x4x1x1xf32>) -> tensor<?x4xf32> {
  %f = graph.reshape %x {shape = array<i64: -1, 4>} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
  func.return %f : tensor<?x4xf32>
}

// -----

// Transpose is a permutation map; softmax is max-reduce, exp-sum, divide.
// CHECK-LABEL: func.func @main
// CHECK: affine_map<(d0, d1, d2) -> (d1, d2, d0)>
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK-NOT: graph.
func.func @main(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %t = graph.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %s = graph.softmax %t {axis = 2 : i64} : (tensor<4x2x3xf32>) -> tensor<4x2x3xf32>
  func.return %s : tensor<4x2x3xf32>
}

// -----

// Concat with a dynamic axis size: each input inserted at its offset from tensor.dim; no
// input is read speculatively (an empty one would be read out of bounds).
// CHECK-LABEL: func.func @main
// CHECK: %[[N:.*]] = tensor.dim %a
// CHECK: %[[TOTAL:.*]] = arith.addi %[[N]], %{{.*}}
// CHECK: %[[E:.*]] = tensor.empty(%[[TOTAL]]) : tensor<2x?xf32>
// CHECK: %[[A:.*]] = tensor.insert_slice %a into %[[E]][0, 0] [2, %[[N]]] [1, 1]
// CHECK: tensor.insert_slice %b into %[[A]][0, %[[N]]] [2, 3] [1, 1]
// CHECK-NOT: tensor.extract
// CHECK-NOT: arith.select
// CHECK-NOT: graph.
func.func @main(%a: tensor<2x?xf32>, %b: tensor<2x3xf32>) -> tensor<2x?xf32> {
  %c = graph.concat %a, %b {axis = 1 : i64} : (tensor<2x?xf32>, tensor<2x3xf32>) -> tensor<2x?xf32>
  func.return %c : tensor<2x?xf32>
}
