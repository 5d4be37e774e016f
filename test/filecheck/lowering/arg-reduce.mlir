// RUN: opt-tool %s -p convert-graph-to-tensor | filecheck %s
// (no round trip: xDSL's linalg.generic parser rejects the `-> (T1, T2)` result list it
// prints for multi-result generics)

// ArgMax: (value, index) accumulators in one generic; the index comes from linalg.index.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
// CHECK: linalg.index 1
// CHECK: arith.cmpf ogt
// CHECK: arith.select
// CHECK: -> (tensor<3xf32>, tensor<3xi64>)
func.func @main(%x: tensor<3x4xf32>) -> tensor<3xi64> {
  %i = graph.arg_reduce %x {kind = "max", axis = 1 : i64, keepdims = 0 : i64} : (tensor<3x4xf32>) -> tensor<3xi64>
  func.return %i : tensor<3xi64>
}
