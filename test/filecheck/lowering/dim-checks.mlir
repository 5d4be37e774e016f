// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p 'convert-graph-to-tensor{check-proofs=true}' | filecheck %s --check-prefix=BOUNDS

// Dims that share a name are equal (checked once on entry): no check at the add, no view.
// CHECK-LABEL: func.func @main
// CHECK: check.assert {{.*}} "inputs 0 and 1 must agree on dim 'n' ({0} vs {1})"
// CHECK-NOT: check.assert
// CHECK-NOT: tensor.extract_slice
// CHECK: linalg.generic
// BOUNDS-LABEL: func.func @main
func.func @main(%a: tensor<?x4xf32> {graph.name = "a", graph.dims = ["n", ""]},
                %b: tensor<?x4xf32> {graph.name = "b", graph.dims = ["n", ""]}) -> tensor<?x4xf32> {
  %y = graph.add %a, %b : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %y : tensor<?x4xf32>
}

// -----

// Unrelated run-time dims: the result dim is the one that is not 1 (checked), and each
// operand is read through a view whose stride is 0 exactly when its dim is 1.
// CHECK-LABEL: func.func @main
// CHECK: check.assert {{.*}} "graph.add (node 'the_add'): operands do not broadcast: dim 0 of the result is {0} by one operand but {1} in operand 1"[{{.*}} : index, index]
// CHECK: arith.select
// CHECK: tensor.extract_slice %a[0, 0] [%{{.*}}, 4] [%{{.*}}, 1]
// CHECK: tensor.extract_slice %b[0, 0] [%{{.*}}, 4] [%{{.*}}, 1]
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>]
func.func @main(%a: tensor<?x4xf32> {graph.name = "a", graph.dims = ["n", ""]},
                %b: tensor<?x4xf32> {graph.name = "b", graph.dims = ["m", ""]}) -> tensor<?x4xf32> {
  %y = graph.add %a, %b : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>  loc("the_add")
  func.return %y : tensor<?x4xf32>
}

// -----

// A `?` dim against a static one must be 1 or equal to it.
// CHECK-LABEL: func.func @main
// CHECK: check.assert {{.*}} "graph.mul: dim 0 of operand 1 is {0}, which does not broadcast to {1}"
// CHECK: tensor.extract_slice %b[0, 0] [3, 4]
func.func @main(%a: tensor<3x4xf32>, %b: tensor<?x4xf32>) -> tensor<3x4xf32> {
  %y = graph.mul %a, %b : (tensor<3x4xf32>, tensor<?x4xf32>) -> tensor<3x4xf32>
  func.return %y : tensor<3x4xf32>
}

// -----

// A shape chain resolves symbolically: reshape(x, shape(x)) has x's dims, so adding x to
// it needs no check; with check-proofs=true the analysis is not trusted.
// CHECK-LABEL: func.func @main
// CHECK-NOT: check.assert
// CHECK: linalg.generic
// BOUNDS-LABEL: func.func @main
// BOUNDS: check.assert
func.func @main(%x: tensor<?x8xf32> {graph.name = "x", graph.dims = ["n", ""]}) -> tensor<?x8xf32> {
  %s = graph.shape %x {start = 0 : i64, end = 2 : i64} : (tensor<?x8xf32>) -> tensor<2xi64>
  %r = graph.reshape_dynamic %x, %s : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x8xf32>
  %y = graph.add %r, %x : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  func.return %y : tensor<?x8xf32>
}

// -----

// Concat writes each input into its slice of the result: the other dims must agree.
// CHECK-LABEL: func.func @main
// CHECK: check.assert {{.*}} "graph.concat: dim 0 of input 1 is {0}, but {1} in input 0"
func.func @main(%a: tensor<?x2xf32>, %b: tensor<?x3xf32>) -> tensor<?x5xf32> {
  %y = graph.concat %a, %b {axis = 1 : i64} : (tensor<?x2xf32>, tensor<?x3xf32>) -> tensor<?x5xf32>
  func.return %y : tensor<?x5xf32>
}

// -----

// A matmul's contracted dims must agree.
// CHECK-LABEL: func.func @main
// CHECK: check.assert {{.*}} "graph.matmul: the contracted dims differ: {0} in operand 0, {1} in operand 1"
func.func @main(%a: tensor<2x?xf32>, %b: tensor<?x4xf32>) -> tensor<2x4xf32> {
  %y = graph.matmul %a, %b : tensor<2x?xf32>, tensor<?x4xf32> -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}
