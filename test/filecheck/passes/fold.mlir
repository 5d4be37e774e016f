// RUN: opt-tool %s --split-input-file -p fold | filecheck %s

// Constant operands are evaluated at compile time; dead constants vanish.

// CHECK-LABEL: func.func @constants
// CHECK-NEXT:    %{{.*}} = graph.constant dense<[2.000000e+00, 0.000000e+00, 4.000000e+00]> : tensor<3xf32>
// CHECK-NEXT:    func.return
// CHECK-NOT:     graph.add
// CHECK-NOT:     graph.relu
func.func @constants() -> tensor<3xf32> {
  %a = graph.constant dense<[1.0, -2.0, 3.0]> : tensor<3xf32>
  %b = graph.constant dense<1.0> : tensor<1xf32>
  %s = graph.add %a, %b : (tensor<3xf32>, tensor<1xf32>) -> tensor<3xf32>
  %r = graph.relu %s : (tensor<3xf32>) -> tensor<3xf32>
  func.return %r : tensor<3xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_transpose
// CHECK-NEXT:    %{{.*}} = graph.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    func.return
func.func @reshape_transpose() -> tensor<2x2xf32> {
  %a = graph.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %r = graph.reshape %a {shape = array<i64: 2, -1>} : (tensor<4xf32>) -> tensor<2x2xf32>
  %t = graph.transpose %r {perm = array<i64: 1, 0>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %t : tensor<2x2xf32>
}

// -----

// x + 0, x * 1, x - 0, x / 1 are dropped when they do not change x's shape.

// CHECK-LABEL: func.func @identities
// CHECK-SAME:    (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT:    func.return %[[X]] : tensor<2x3xf32>
func.func @identities(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %z = graph.constant dense<0.0> : tensor<1x3xf32>
  %o = graph.constant dense<1.0> : tensor<1xf32>
  %a = graph.add %z, %x : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %m = graph.mul %a, %o : (tensor<2x3xf32>, tensor<1xf32>) -> tensor<2x3xf32>
  %s = graph.sub %m, %z : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
  %d = graph.div %s, %o : (tensor<2x3xf32>, tensor<1xf32>) -> tensor<2x3xf32>
  func.return %d : tensor<2x3xf32>
}

// -----

// Not a no-op: the add broadcasts x, and 0 - x is not x.

// CHECK-LABEL: func.func @not_identities
// CHECK:         graph.add
// CHECK:         graph.sub
func.func @not_identities(%x: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %z = graph.constant dense<0.0> : tensor<2x3xf32>
  %z1 = graph.constant dense<0.0> : tensor<3xf32>
  %a = graph.add %x, %z : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = graph.sub %z1, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %a, %s : tensor<2x3xf32>, tensor<3xf32>
}

// -----

// Without a weight store (IR text) weight-dependent folds are skipped.

// CHECK-LABEL: func.func @no_store
// CHECK:         graph.weight "w"
// CHECK-NEXT:    graph.neg
func.func @no_store() -> tensor<4xf32> {
  %w = graph.weight "w" : tensor<4xf32>
  %n = graph.neg %w : (tensor<4xf32>) -> tensor<4xf32>
  func.return %n : tensor<4xf32>
}

// -----

// Non-constant operands are left alone.

// CHECK-LABEL: func.func @dynamic
// CHECK:         graph.relu %{{.*}} : (tensor<?x4xf32>)
func.func @dynamic(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %r = graph.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %r : tensor<?x4xf32>
}
