// RUN: opt-tool %s --split-input-file -p replace | filecheck %s

// CHECK-LABEL: func.func @matmul_add
// CHECK-SAME:    (%[[X:.*]]: tensor<3x4xf32>, %[[W:.*]]: tensor<4x5xf32>, %[[B:.*]]: tensor<5xf32>)
// CHECK-NEXT:    %[[G:.*]] = graph.gemm %[[X]], %[[W]] bias(%[[B]] : tensor<5xf32>)
// CHECK-NEXT:    func.return %[[G]]
// CHECK-NOT:     graph.matmul
func.func @matmul_add(%x: tensor<3x4xf32>, %w: tensor<4x5xf32>, %b: tensor<5xf32>) -> tensor<3x5xf32> {
  %m = graph.matmul %x, %w : tensor<3x4xf32>, tensor<4x5xf32> -> tensor<3x5xf32>
  %a = graph.add %b, %m : (tensor<5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  func.return %a : tensor<3x5xf32>
}

// -----

// A pointwise conv is a matmul over the flattened spatial dims.

// CHECK-LABEL: func.func @conv1x1
// CHECK:         %[[X:.*]] = graph.reshape %{{.*}} {shape = array<i64: 1, 3, 16>}
// CHECK:         %[[W:.*]] = graph.reshape %{{.*}} {shape = array<i64: 2, 3>}
// CHECK:         %[[M:.*]] = graph.matmul %[[W]], %[[X]] {{.*}}act = "relu"
// CHECK:         graph.reshape %[[M]] {shape = array<i64: 1, 2, 4, 4>}
// CHECK-NOT:     graph.conv
func.func @conv1x1(%x: tensor<1x3x4x4xf32>, %w: tensor<2x3x1x1xf32>) -> tensor<1x2x4x4xf32> {
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, act = "relu"} : tensor<1x3x4x4xf32>, tensor<2x3x1x1xf32> -> tensor<1x2x4x4xf32>
  func.return %c : tensor<1x2x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @depthwise
// CHECK:         graph.conv {{.*}}group = 3 : i64, kind = "depthwise"
func.func @depthwise(%x: tensor<1x3x4x4xf32>, %w: tensor<3x1x3x3xf32>) -> tensor<1x3x4x4xf32> {
  %c = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 3 : i64} : tensor<1x3x4x4xf32>, tensor<3x1x3x3xf32> -> tensor<1x3x4x4xf32>
  func.return %c : tensor<1x3x4x4xf32>
}

// -----

// Negative: a batched matmul, an add that broadcasts the result, a strided 1x1 conv,
// a grouped conv with two channels per group.

// CHECK-LABEL: func.func @negative
// CHECK:         graph.matmul
// CHECK:         graph.add
// CHECK:         graph.matmul
// CHECK:         graph.add
// CHECK:         graph.conv {{.*}}strides = array<i64: 2, 2>
// CHECK:         graph.conv
// CHECK-NOT:     depthwise
func.func @negative(%x: tensor<2x3x4xf32>, %w: tensor<4x5xf32>, %v: tensor<3x1xf32>, %u: tensor<1x5xf32>, %i: tensor<1x4x4x4xf32>, %k: tensor<2x4x1x1xf32>, %gk: tensor<4x2x3x3xf32>) -> (tensor<2x3x5xf32>, tensor<2x3x5xf32>, tensor<1x2x2x2xf32>, tensor<1x4x2x2xf32>) {
  %m = graph.matmul %x, %w : tensor<2x3x4xf32>, tensor<4x5xf32> -> tensor<2x3x5xf32>
  %a = graph.add %m, %u : (tensor<2x3x5xf32>, tensor<1x5xf32>) -> tensor<2x3x5xf32>
  %v2 = graph.reshape %v {shape = array<i64: 3, 1>} : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %m2 = graph.matmul %v2, %u : tensor<3x1xf32>, tensor<1x5xf32> -> tensor<3x5xf32>
  %b = graph.add %m2, %m : (tensor<3x5xf32>, tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %c = graph.conv %i, %k {strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x4x4x4xf32>, tensor<2x4x1x1xf32> -> tensor<1x2x2x2xf32>
  %d = graph.conv %i, %gk {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64} : tensor<1x4x4x4xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x2x2xf32>
  func.return %a, %b, %c, %d : tensor<2x3x5xf32>, tensor<2x3x5xf32>, tensor<1x2x2x2xf32>, tensor<1x4x2x2xf32>
}
