// RUN: opt-tool %s | filecheck %s
// RUN: opt-tool %s | opt-tool | filecheck %s

// The graph dialect's custom syntax parses and prints back the same way.

// CHECK-LABEL: func.func @main
// CHECK-SAME: graph.dims = ["batch", "", "", ""]
func.func @main(%x: tensor<?x3x8x8xf32> {graph.name = "x", graph.dims = ["batch", "", "", ""]}, %r: tensor<?x4x8x8xf32>) -> (tensor<?x4xf32> {graph.name = "y"}) {
  // CHECK: %[[W:.*]] = graph.weight "conv.w" : tensor<4x3x3x3xf32>
  %w = graph.weight "conv.w" : tensor<4x3x3x3xf32>
  // CHECK: graph.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>
  %b = graph.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  // CHECK: graph.conv %{{.*}}, %[[W]] bias(%{{.*}} : tensor<4xf32>) residual(%{{.*}} : tensor<?x4x8x8xf32>) {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, act = "relu"} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
  %c = graph.conv %x, %w bias(%b : tensor<4xf32>) residual(%r : tensor<?x4x8x8xf32>) {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, act = "relu"} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
  // CHECK: graph.max_pool
  %p = graph.max_pool %c {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32>
  // CHECK: graph.global_avg_pool
  %g = graph.global_avg_pool %p : (tensor<?x4x4x4xf32>) -> tensor<?x4x1x1xf32>
  // CHECK: graph.reshape %{{.*}} {shape = array<i64: -1, 4>}
  %f = graph.reshape %g {shape = array<i64: -1, 4>} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
  // CHECK: graph.gemm %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<4xf32>) {trans_b = 1 : i64, act = "relu"}
  %fw = graph.weight "fc.w" : tensor<4x4xf32>
  %y = graph.gemm %f, %fw bias(%b : tensor<4xf32>) {trans_b = 1 : i64, act = "relu"} : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  // CHECK: graph.softmax %{{.*}} {axis = 1 : i64}
  %s = graph.softmax %y {axis = 1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %s : tensor<?x4xf32>
}
