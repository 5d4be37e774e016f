// RUN: opt-tool %s --split-input-file --verify-diagnostics | filecheck %s

// Malformed graph IR is rejected with the op and the reason.

func.func @bad_broadcast(%a: tensor<3x4xf32>, %b: tensor<5x4xf32>) -> tensor<3x4xf32> {
  %c = graph.add %a, %b : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x4xf32>
  func.return %c : tensor<3x4xf32>
}
// CHECK: graph.add: operands do not broadcast

// -----

func.func @bad_gemm(%a: tensor<3x4xf32>, %b: tensor<5x6xf32>) -> tensor<3x6xf32> {
  %c = graph.gemm %a, %b : tensor<3x4xf32>, tensor<5x6xf32> -> tensor<3x6xf32>
  func.return %c : tensor<3x6xf32>
}
// CHECK: graph.gemm: contraction dims differ (4 vs 5)

// -----

func.func @bad_act(%a: tensor<3x4xf32>, %b: tensor<4x6xf32>) -> tensor<3x6xf32> {
  %c = graph.gemm %a, %b {act = "swish"} : tensor<3x4xf32>, tensor<4x6xf32> -> tensor<3x6xf32>
  func.return %c : tensor<3x6xf32>
}
// CHECK: graph.gemm: act must be one of relu, sigmoid, tanh, clip, leaky_relu, gelu, gelu_tanh, got 'swish'

// -----

func.func @bad_reshape(%a: tensor<3x4xf32>) -> tensor<5x2xf32> {
  %c = graph.reshape %a {shape = array<i64: 5, 2>} : (tensor<3x4xf32>) -> tensor<5x2xf32>
  func.return %c : tensor<5x2xf32>
}
// CHECK: graph.reshape: cannot reshape 12 elements into [5, 2]
