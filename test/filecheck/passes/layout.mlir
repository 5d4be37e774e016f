// RUN: opt-tool %s --split-input-file -p layout,cse | filecheck %s

// Two convs and a residual: NHWC inside, transposes only at the borders.

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    (%[[X:.*]]: tensor<1x2x4x4xf32>, %[[W:.*]]: tensor<2x2x3x3xf32>)
// CHECK-NEXT:    %[[IN:.*]] = graph.transpose %[[X]] {perm = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    %[[C1:.*]] = graph.conv %[[IN]], %[[W]] {{{.*}}layout = "nhwc"{{.*}}} : tensor<1x4x4x2xf32>, tensor<2x2x3x3xf32> -> tensor<1x4x4x2xf32>
// CHECK-NEXT:    %[[R:.*]] = graph.relu %[[C1]] : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:    %[[C2:.*]] = graph.conv %[[R]], %[[W]] residual(%[[IN]] : tensor<1x4x4x2xf32>) {{{.*}}layout = "nhwc"
// CHECK-NEXT:    %[[OUT:.*]] = graph.transpose %[[C2]] {perm = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:    func.return %[[OUT]]
func.func @chain(%x: tensor<1x2x4x4xf32>, %w: tensor<2x2x3x3xf32>) -> tensor<1x2x4x4xf32> {
  %c1 = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32> -> tensor<1x2x4x4xf32>
  %r = graph.relu %c1 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %c2 = graph.conv %r, %w residual(%x : tensor<1x2x4x4xf32>) {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32> -> tensor<1x2x4x4xf32>
  func.return %c2 : tensor<1x2x4x4xf32>
}

// -----

// Negative: a 1-D conv stays NCW; a pooling op is a border (transposes around it stay).

// CHECK-LABEL: func.func @borders
// CHECK:         graph.conv {{.*}} : tensor<1x2x8xf32>
// CHECK-NOT:     layout = "nhwc"{{.*}}tensor<1x2x8xf32>
// CHECK:         graph.transpose
// CHECK:         graph.conv {{.*}}layout = "nhwc"
// CHECK:         graph.transpose {{.*}}perm = array<i64: 0, 3, 1, 2>
// CHECK:         graph.max_pool
func.func @borders(%v: tensor<1x2x8xf32>, %k: tensor<2x2x1xf32>, %x: tensor<1x2x4x4xf32>, %w: tensor<2x2x1x1xf32>) -> (tensor<1x2x8xf32>, tensor<1x2x2x2xf32>) {
  %a = graph.conv %v, %k {strides = array<i64: 1>, pads = array<i64: 0, 0>, dilations = array<i64: 1>} : tensor<1x2x8xf32>, tensor<2x2x1xf32> -> tensor<1x2x8xf32>
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %p = graph.max_pool %c {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
  func.return %a, %p : tensor<1x2x8xf32>, tensor<1x2x2x2xf32>
}
