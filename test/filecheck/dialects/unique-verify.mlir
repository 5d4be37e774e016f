// RUN: opt-tool %s --split-input-file --verify-diagnostics | filecheck %s

// Malformed graph.unique is rejected with the reason.

func.func @rank(%x: tensor<4xf32>) -> tensor<?xi64> {
  %i, %inv, %c = graph.unique %x : (tensor<4xf32>) -> (tensor<?xi64>, tensor<4xi64>, tensor<?xi64>)
  func.return %i : tensor<?xi64>
}
// CHECK: graph.unique: the input must be 2-D (rows), got rank 1

// -----

func.func @inverse(%x: tensor<4x2xf32>) -> tensor<?xi64> {
  %i, %inv, %c = graph.unique %x : (tensor<4x2xf32>) -> (tensor<?xi64>, tensor<3xi64>, tensor<?xi64>)
  func.return %i : tensor<?xi64>
}
// CHECK: graph.unique: inverse must have the [4] rows' shape

// -----

func.func @counts(%x: tensor<4x2xf32>) -> tensor<?xi64> {
  %i, %inv, %c = graph.unique %x : (tensor<4x2xf32>) -> (tensor<?xi64>, tensor<4xi64>, tensor<?xi32>)
  func.return %i : tensor<?xi64>
}
// CHECK: graph.unique: counts must be a 1-D i64 tensor, got tensor<?xi32>
