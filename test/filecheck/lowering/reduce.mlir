// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | opt-tool --split-input-file | filecheck %s

// Static axes: one generic with a reduction iterator per axis into a filled accumulator;
// mean divides by the reduced element count in one elementwise generic.
// CHECK-LABEL: func.func @main
// CHECK: %[[N:.*]] = tensor.dim %x, %{{.*}} : tensor<?x4x5xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x5xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK: arith.addf
// CHECK: arith.constant 4.000000e+00 : f32
// CHECK: arith.divf
// CHECK-NOT: graph.
func.func @main(%x: tensor<?x4x5xf32>) -> tensor<?x5xf32> {
  %y = graph.reduce %x {kind = "mean", axes = array<i64: 1>, keepdims = 0 : i64} : tensor<?x4x5xf32> -> tensor<?x5xf32>
  func.return %y : tensor<?x5xf32>
}

// -----

// keepdims reads the accumulator at index 0 of the reduced dims; log_sum_exp reduces a
// max first and shifts by it.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (0, d1)>], iterator_types = ["reduction", "parallel"]}
// CHECK: arith.maximumf
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (0, d1)>, affine_map<(d0, d1) -> (0, d1)>], iterator_types = ["reduction", "parallel"]}
// CHECK: arith.subf
// CHECK: math.exp
// CHECK: math.log
// CHECK-NOT: graph.
func.func @main(%x: tensor<3x4xf32>) -> tensor<1x4xf32> {
  %y = graph.reduce %x {kind = "log_sum_exp", axes = array<i64: 0>} : tensor<3x4xf32> -> tensor<1x4xf32>
  func.return %y : tensor<1x4xf32>
}

// -----

// Integer max uses the smallest integer as identity and signed max; unsigned uses maxui.
// CHECK-LABEL: func.func @main
// CHECK: arith.constant -2147483648 : i32
// CHECK: arith.maxsi
// CHECK: arith.constant 0 : i32
// CHECK: arith.maxui
func.func @main(%x: tensor<3x4xi32>, %u: tensor<3x4xui32>) -> (tensor<3xi32>, tensor<3xui32>) {
  %y = graph.reduce %x {kind = "max", axes = array<i64: 1>, keepdims = 0 : i64} : tensor<3x4xi32> -> tensor<3xi32>
  %z = graph.reduce %u {kind = "max", axes = array<i64: 1>, keepdims = 0 : i64} : tensor<3x4xui32> -> tensor<3xui32>
  func.return %y, %z : tensor<3xi32>, tensor<3xui32>
}

// -----

// Run-time axes: checked (cf.assert), then a reduction over a window of size n_i on the
// listed dims and 1 elsewhere, reading x at output index + window index.
// CHECK-LABEL: func.func @main
// CHECK: tensor.extract %a[%{{.*}}] : tensor<2xi64>
// CHECK: cf.assert %{{.*}}, "graph.reduce: an axis is out of range for rank 3"
// CHECK: cf.assert %{{.*}}, "graph.reduce: the axes must be distinct"
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d3, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
// CHECK: linalg.index 3
// CHECK: tensor.extract %x
// CHECK-NOT: graph.
func.func @main(%x: tensor<3x4x5xf32>, %a: tensor<2xi64>) -> tensor<?x?x?xf32> {
  %y = graph.reduce %x axes(%a : tensor<2xi64>) {kind = "sum", axes = array<i64>} : tensor<3x4x5xf32> -> tensor<?x?x?xf32>
  func.return %y : tensor<?x?x?xf32>
}
