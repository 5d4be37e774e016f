// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | opt-tool --split-input-file | filecheck %s

// Einsum: one generic, a loop per letter; the summed letter is the reduction loop.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: graph.
func.func @main(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> {
  %y = graph.einsum %a, %b {equation = "bij,bjk->bik"} : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
  func.return %y : tensor<2x3x5xf32>
}

// -----

// A repeated letter reads a diagonal.
// CHECK-LABEL: func.func @main
// CHECK: affine_map<(d0) -> (d0, d0)>, affine_map<(d0) -> (d0)>
func.func @main(%a: tensor<4x4xf32>) -> tensor<4xf32> {
  %y = graph.einsum %a {equation = "ii->i"} : (tensor<4x4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

// ConvTranspose: a gather over the output; input taps are masked where
// (o + pad - k * dilation) is not a multiple of the stride or out of range.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d1, d5, d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
// CHECK: arith.remsi
// CHECK: arith.divsi
// CHECK: tensor.extract %x
// CHECK: arith.select
// CHECK-NOT: graph.
func.func @main(%x: tensor<1x2x3x3xf32>, %w: tensor<2x3x3x3xf32>) -> tensor<1x3x5x5xf32> {
  %y = graph.conv_transpose %x, %w {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, output_padding = array<i64: 0, 0>} : tensor<1x2x3x3xf32>, tensor<2x3x3x3xf32> -> tensor<1x3x5x5xf32>
  func.return %y : tensor<1x3x5x5xf32>
}

// -----

// LogSoftmax: max, sum of exp(x - max), then x - max - log(sum).
// CHECK-LABEL: func.func @main
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: math.log
// CHECK: arith.subf
func.func @main(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %y = graph.log_softmax %x {axis = 1 : i64} : (tensor<2x5xf32>) -> tensor<2x5xf32>
  func.return %y : tensor<2x5xf32>
}

// -----

// LRN: a sum of squares over a channel window operand, then x / (bias + a/n * s)^beta.
// CHECK-LABEL: func.func @main
// CHECK: tensor.empty() : tensor<3xf32>
// CHECK: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: math.powf
func.func @main(%x: tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32> {
  %y = graph.lrn %x {size = 3 : i64} : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  func.return %y : tensor<1x4x2x2xf32>
}

// -----

// Dropout: the output is the input, the mask an all-true fill; a run-time training flag
// is checked with cf.assert.
// CHECK-LABEL: func.func @main
// CHECK: tensor.extract %t[] : tensor<i1>
// CHECK: cf.assert %{{.*}}, "Dropout: training mode
// CHECK: linalg.fill ins(%{{.*}} : i1) outs(%{{.*}} : tensor<3xi1>)
// CHECK: func.return %x, %{{.*}} : tensor<3xf32>, tensor<3xi1>
func.func @main(%x: tensor<3xf32>, %r: tensor<f32>, %t: tensor<i1>) -> (tensor<3xf32>, tensor<3xi1>) {
  %y, %m = graph.dropout %x ratio(%r : tensor<f32>) training(%t : tensor<i1>) : tensor<3xf32> -> tensor<3xf32>, tensor<3xi1>
  func.return %y, %m : tensor<3xf32>, tensor<3xi1>
}
