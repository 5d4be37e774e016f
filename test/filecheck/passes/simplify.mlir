// RUN: opt-tool %s --split-input-file -p simplify | filecheck %s

// CHECK-LABEL: func.func @transposes
// CHECK-SAME:    (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT:    %[[T:.*]] = graph.transpose %[[X]] {perm = array<i64: 2, 0, 1>}
// CHECK-NEXT:    func.return %[[X]], %[[T]]
// CHECK-NOT:     graph.transpose
func.func @transposes(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>) {
  %a = graph.transpose %x {perm = array<i64: 1, 0, 2>} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
  %b = graph.transpose %a {perm = array<i64: 1, 0, 2>} : (tensor<3x2x4xf32>) -> tensor<2x3x4xf32>
  %c = graph.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %d = graph.transpose %c {perm = array<i64: 1, 0, 2>} : (tensor<2x4x3xf32>) -> tensor<4x2x3xf32>
  func.return %b, %d : tensor<2x3x4xf32>, tensor<4x2x3xf32>
}

// -----

// CHECK-LABEL: func.func @reshapes
// CHECK-SAME:    (%[[X:.*]]: tensor<2x6xf32>)
// CHECK-NEXT:    %[[R:.*]] = graph.reshape %[[X]] {shape = array<i64: 3, 4>}
// CHECK-NEXT:    func.return %[[R]], %[[X]]
func.func @reshapes(%x: tensor<2x6xf32>) -> (tensor<3x4xf32>, tensor<2x6xf32>) {
  %a = graph.reshape %x {shape = array<i64: 12>} : (tensor<2x6xf32>) -> tensor<12xf32>
  %b = graph.reshape %a {shape = array<i64: 3, 4>} : (tensor<12xf32>) -> tensor<3x4xf32>
  %c = graph.reshape %x {shape = array<i64: 2, 6>} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  func.return %b, %c : tensor<3x4xf32>, tensor<2x6xf32>
}

// -----

// x * 1 and x + 0 vanish; a transposed Gemm/MatMul operand becomes a trans flag.

// CHECK-LABEL: func.func @gemm_flags
// CHECK-SAME:    (%[[A:.*]]: tensor<4x3xf32>, %[[B:.*]]: tensor<5x4xf32>, %[[C:.*]]: tensor<3x4xf32>)
// CHECK-NEXT:    %[[G:.*]] = graph.gemm %[[A]], %[[B]] {{{.*}}trans_a = 1 : i64, trans_b = 1 : i64{{.*}}act = "relu"}
// CHECK-NEXT:    %[[M:.*]] = graph.gemm %[[C]], %[[C]] {{{.*}}trans_b = 1 : i64
// CHECK-NEXT:    func.return %[[G]], %[[M]]
// CHECK-NOT:     graph.transpose
// CHECK-NOT:     graph.mul
func.func @gemm_flags(%a: tensor<4x3xf32>, %b: tensor<5x4xf32>, %c: tensor<3x4xf32>) -> (tensor<3x5xf32>, tensor<3x3xf32>) {
  %one = graph.constant dense<1.0> : tensor<1xf32>
  %a1 = graph.mul %a, %one : (tensor<4x3xf32>, tensor<1xf32>) -> tensor<4x3xf32>
  %at = graph.transpose %a1 {perm = array<i64: 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %bt = graph.transpose %b {perm = array<i64: 1, 0>} : (tensor<5x4xf32>) -> tensor<4x5xf32>
  %g = graph.gemm %at, %bt {act = "relu"} : tensor<3x4xf32>, tensor<4x5xf32> -> tensor<3x5xf32>
  %ct = graph.transpose %c {perm = array<i64: 1, 0>} : (tensor<3x4xf32>) -> tensor<4x3xf32>
  %m = graph.matmul %c, %ct : tensor<3x4xf32>, tensor<4x3xf32> -> tensor<3x3xf32>
  func.return %g, %m : tensor<3x5xf32>, tensor<3x3xf32>
}

// -----

// Negative: a transpose that is not the identity stays; a reshape that changes the type stays;
// a 3-D matmul keeps its transpose.

// CHECK-LABEL: func.func @negative
// CHECK:         graph.transpose
// CHECK:         graph.reshape
// CHECK:         graph.matmul
func.func @negative(%x: tensor<2x3xf32>, %y: tensor<2x3x4xf32>) -> (tensor<3x2xf32>, tensor<6xf32>, tensor<2x3x3xf32>) {
  %t = graph.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %r = graph.reshape %x {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
  %yt = graph.transpose %y {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %m = graph.matmul %y, %yt : tensor<2x3x4xf32>, tensor<2x4x3xf32> -> tensor<2x3x3xf32>
  func.return %t, %r, %m : tensor<3x2xf32>, tensor<6xf32>, tensor<2x3x3xf32>
}
