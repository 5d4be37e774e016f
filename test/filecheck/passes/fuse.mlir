// RUN: opt-tool %s --split-input-file -p fuse | filecheck %s

// Conv + BatchNorm: the BN arithmetic moves onto the weight and bias (fold evaluates it).

// CHECK-LABEL: func.func @conv_bn
// CHECK-NOT:     graph.batch_norm
// CHECK:         %[[W:.*]] = graph.mul %{{.*}}, %{{.*}} : (tensor<2x3x1x1xf32>, tensor<2x1x1x1xf32>)
// CHECK:         graph.conv %{{.*}}, %[[W]] bias(%{{.*}} : tensor<2xf32>)
// CHECK-NOT:     graph.batch_norm
func.func @conv_bn(%x: tensor<1x3x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = graph.constant dense<1.0> : tensor<2x3x1x1xf32>
  %p = graph.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x3x4x4xf32>, tensor<2x3x1x1xf32> -> tensor<1x2x4x4xf32>
  %b = graph.batch_norm %c, %p, %p, %p, %p : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %b : tensor<1x2x4x4xf32>
}

// -----

// A [1, C, 1, 1] constant add becomes the conv's bias (reshaped to [C]), then relu its act.

// CHECK-LABEL: func.func @conv_bias_relu
// CHECK:         %[[B:.*]] = graph.reshape %{{.*}} {shape = array<i64: 2>}
// CHECK:         graph.conv %{{.*}}, %{{.*}} bias(%[[B]] : tensor<2xf32>) {{{.*}}act = "relu"}
// CHECK-NOT:     graph.add
// CHECK-NOT:     graph.relu
func.func @conv_bias_relu(%x: tensor<1x3x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = graph.constant dense<1.0> : tensor<2x3x1x1xf32>
  %b = graph.constant dense<[[[[1.0]], [[2.0]]]]> : tensor<1x2x1x1xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x3x4x4xf32>, tensor<2x3x1x1xf32> -> tensor<1x2x4x4xf32>
  %a = graph.add %b, %c : (tensor<1x2x1x1xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %r = graph.relu %a : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %r : tensor<1x2x4x4xf32>
}

// -----

// Gemm without C takes the add as C with beta = 1; matmul takes a bias; acts fuse.

// CHECK-LABEL: func.func @gemm_matmul
// CHECK:         graph.gemm %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<5xf32>) {alpha = 2.000000e+00 : f32, act = "sigmoid"}
// CHECK:         graph.matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<1x5xf32>) {act = "tanh"}
// CHECK-NOT:     graph.add
// CHECK-NOT:     graph.sigmoid
// CHECK-NOT:     graph.tanh
func.func @gemm_matmul(%x: tensor<?x8xf32>, %w: tensor<8x5xf32>, %m: tensor<5x5xf32>) -> tensor<?x5xf32> {
  %b = graph.constant dense<1.0> : tensor<5xf32>
  %b2 = graph.constant dense<1.0> : tensor<1x5xf32>
  %g = graph.gemm %x, %w {alpha = 2.0 : f32, beta = 0.5 : f32} : tensor<?x8xf32>, tensor<8x5xf32> -> tensor<?x5xf32>
  %a = graph.add %g, %b : (tensor<?x5xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %s = graph.sigmoid %a : (tensor<?x5xf32>) -> tensor<?x5xf32>
  %mm = graph.matmul %s, %m : tensor<?x5xf32>, tensor<5x5xf32> -> tensor<?x5xf32>
  %a2 = graph.add %b2, %mm : (tensor<1x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
  %t = graph.tanh %a2 : (tensor<?x5xf32>) -> tensor<?x5xf32>
  func.return %t : tensor<?x5xf32>
}

// -----

// Residual: add of a same-shaped value to a single-use conv result, then relu.

// CHECK-LABEL: func.func @residual
// CHECK:         graph.conv %{{.*}}, %{{.*}} residual(%{{.*}} : tensor<1x2x4x4xf32>) {{{.*}}act = "relu"}
// CHECK-NOT:     graph.add
// CHECK-NOT:     graph.relu
func.func @residual(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = graph.constant dense<1.0> : tensor<2x2x1x1xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %a = graph.add %x, %c : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %r = graph.relu %a : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %r : tensor<1x2x4x4xf32>
}

// -----

// Negative: the conv result has a second use, so nothing is absorbed.

// CHECK-LABEL: func.func @multi_use
// CHECK:         graph.conv %{{.*}}, %{{.*}} {strides
// CHECK-NOT:     act =
// CHECK:         graph.batch_norm
// CHECK:         graph.relu
// CHECK:         graph.add
func.func @multi_use(%x: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %w = graph.constant dense<1.0> : tensor<2x2x1x1xf32>
  %p = graph.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %b = graph.batch_norm %c, %p, %p, %p, %p : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %r = graph.relu %c : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %a = graph.add %c, %x : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %b, %r, %a : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// Negative: a [4] constant adds along W (not a channel bias), and an act is already fused.

// CHECK-LABEL: func.func @no_bias_no_second_act
// CHECK:         graph.add
// CHECK:         graph.tanh
func.func @no_bias_no_second_act(%x: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %w = graph.constant dense<1.0> : tensor<2x2x1x1xf32>
  %b = graph.constant dense<1.0> : tensor<4xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %a = graph.add %c, %b : (tensor<1x2x4x4xf32>, tensor<4xf32>) -> tensor<1x2x4x4xf32>
  %c2 = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, act = "relu"} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %t = graph.tanh %c2 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %a, %t : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}
