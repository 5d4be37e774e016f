// RUN: opt-tool %s --split-input-file -p cse,dce | filecheck %s

// Identical constants, weight references and computations merge; unused ops vanish,
// inside regions too.

// CHECK-LABEL: func.func @merge
// CHECK-SAME:    (%[[X:.*]]: tensor<4xf32>, %[[P:.*]]: i1)
// CHECK-NEXT:    %[[W:.*]] = graph.weight "w" : tensor<4xf32>
// CHECK-NEXT:    %[[A:.*]] = graph.add %[[X]], %[[W]]
// CHECK-NEXT:    %[[R:.*]] = scf.if %[[P]]
// CHECK-NEXT:      %[[N:.*]] = graph.neg %[[A]]
// CHECK-NEXT:      scf.yield %[[N]]
// CHECK-NEXT:    } else {
// CHECK-NEXT:      scf.yield %[[A]]
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[S:.*]] = graph.mul %[[A]], %[[R]]
// CHECK-NEXT:    func.return %[[S]]
// CHECK-NOT:     graph.relu
// CHECK-NOT:     graph.constant
func.func @merge(%x: tensor<4xf32>, %p: i1) -> tensor<4xf32> {
  %w1 = graph.weight "w" : tensor<4xf32>
  %w2 = graph.weight "w" : tensor<4xf32>
  %a1 = graph.add %x, %w1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %a2 = graph.add %x, %w2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %dead = graph.relu %a1 : (tensor<4xf32>) -> tensor<4xf32>
  %r = scf.if %p -> (tensor<4xf32>) {
    %a3 = graph.add %x, %w1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %n = graph.neg %a3 : (tensor<4xf32>) -> tensor<4xf32>
    %c = graph.constant dense<1.0> : tensor<4xf32>
    %deadinner = graph.relu %c : (tensor<4xf32>) -> tensor<4xf32>
    scf.yield %n : tensor<4xf32>
  } else {
    scf.yield %a2 : tensor<4xf32>
  }
  %s = graph.mul %a2, %r : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %s : tensor<4xf32>
}

// -----

// Negative: different weights, properties or operands do not merge.

// CHECK-LABEL: func.func @distinct
// CHECK-COUNT-2: graph.weight
// CHECK-COUNT-2: graph.transpose
func.func @distinct(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %a = graph.weight "a" : tensor<2x2xf32>
  %b = graph.weight "b" : tensor<2x2xf32>
  %t = graph.transpose %a {perm = array<i64: 1, 0>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %u = graph.transpose %b {perm = array<i64: 1, 0>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %a, %b, %t, %u : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
