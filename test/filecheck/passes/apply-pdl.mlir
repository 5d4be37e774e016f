// RUN: opt-tool %s -p 'apply-pdl{pdl_file="%inputs/neg-neg.pdl.mlir"}' | filecheck %s

// A user rule written in PDL (xDSL's apply-pdl): -(-x) -> x.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<3xf32>)
// CHECK-NEXT:    func.return %[[X]]
func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
  %a = graph.neg %x : (tensor<3xf32>) -> tensor<3xf32>
  %b = graph.neg %a : (tensor<3xf32>) -> tensor<3xf32>
  func.return %b : tensor<3xf32>
}
