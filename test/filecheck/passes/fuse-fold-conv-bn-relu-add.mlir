// RUN: opt-tool %s --pipeline=fuse,fold | filecheck %s

// Conv + BatchNorm + residual Add + Relu becomes ONE conv with a folded weight and bias,
// the residual and act = "relu".

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<1x2x4x4xf32>)
// s = scale / sqrt(var + eps) = [0.25, 2]; w' = w * s; b' = (0 - mean) * s + beta
// CHECK-NEXT:    %[[W:.*]] = graph.constant dense<{{\[\[\[\[}}2.500000e-01]], {{\[\[}}5.000000e-01]]], {{\[\[\[}}6.000000e+00]], {{\[\[}}8.000000e+00]]]]> : tensor<2x2x1x1xf32>
// CHECK-NEXT:    %[[B:.*]] = graph.constant dense<[-1.500000e-01, -1.000000e-01]> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = graph.conv %[[X]], %[[W]] bias(%[[B]] : tensor<2xf32>) residual(%[[X]] : tensor<1x2x4x4xf32>) {{{.*}}act = "relu"}
// CHECK-NEXT:    func.return %[[Y]]
// CHECK-NOT:     graph.batch_norm
// CHECK-NOT:     graph.add
// CHECK-NOT:     graph.relu
func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = graph.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %scale = graph.constant dense<[0.5, 2.0]> : tensor<2xf32>
  %beta = graph.constant dense<[0.1, -0.1]> : tensor<2xf32>
  %mean = graph.constant dense<[1.0, 0.0]> : tensor<2xf32>
  %var = graph.constant dense<[4.0, 1.0]> : tensor<2xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %b = graph.batch_norm %c, %scale, %beta, %mean, %var {epsilon = 0.0 : f32} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %a = graph.add %b, %x : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %r = graph.relu %a : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %r : tensor<1x2x4x4xf32>
}
