// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s

// graph.shape: tensor.dim (or the static size) + index_cast into tensor.from_elements.
// CHECK-LABEL: func.func @main
// CHECK: %[[D0:.*]] = tensor.dim %x, %{{.*}} : tensor<?x6xf32>
// CHECK: %[[I0:.*]] = arith.index_cast %[[D0]] : index to i64
// CHECK: %[[I1:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: tensor.from_elements %[[I0]], %[[I1]] : tensor<2xi64>
// CHECK-NOT: graph.
func.func @main(%x: tensor<?x6xf32>) -> tensor<2xi64> {
  %sh = graph.shape %x {start = 0 : i64, end = 2 : i64} : (tensor<?x6xf32>) -> tensor<2xi64>
  func.return %sh : tensor<2xi64>
}

// -----

// graph.reshape_dynamic reads the target at run time (extract + index_cast), resolves
// 0 and -1 with selects, and checks the element count with cf.assert; `?x6 -> ?x?` is
// not a valid tensor.reshape for xDSL's verifier, so it is a gathering copy.
// CHECK-LABEL: func.func @main
// CHECK: tensor.extract %s[%{{.*}}] : tensor<2xi64>
// CHECK: arith.index_cast %{{.*}} : i64 to index
// CHECK: check.assert %{{.*}}, "graph.reshape_dynamic: Reshape: target dim 0 is {0}, below -1"
// CHECK: arith.divsi
// CHECK: check.assert %{{.*}}, "graph.reshape_dynamic: cannot reshape {0} elements into a shape of {1} elements"
// CHECK: linalg.generic
// CHECK: arith.remsi
// CHECK: tensor.extract %x
func.func @main(%x: tensor<?x6xf32>, %s: tensor<2xi64>) -> tensor<?x?xf32> {
  %r = graph.reshape_dynamic %x, %s : (tensor<?x6xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  func.return %r : tensor<?x?xf32>
}

// -----

// graph.gather: one reduction generic counts out-of-range indices (cf.assert), then a
// generic over the output reads the data at the wrapped, clamped index.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>], iterator_types = ["reduction"]}
// CHECK: cf.assert %{{.*}}, "Gather: index out of range"
// CHECK: linalg.generic
// CHECK: tensor.extract %i[%{{.*}}] : tensor<2xi64>
// CHECK: arith.minsi
// CHECK: tensor.extract %x[%{{.*}}, %{{.*}}] : tensor<?x4xf32>
// CHECK-NOT: graph.
func.func @main(%x: tensor<?x4xf32>, %i: tensor<2xi64>) -> tensor<?x2xf32> {
  %g = graph.gather %x, %i {axis = 1 : i64} : (tensor<?x4xf32>, tensor<2xi64>) -> tensor<?x2xf32>
  func.return %g : tensor<?x2xf32>
}

// -----

// graph.slice with run-time bounds: step checked non-zero, strided copy with clamped reads.
// CHECK-LABEL: func.func @main
// CHECK: cf.assert %{{.*}}, "Slice: a step is 0"
// CHECK: tensor.empty(%{{.*}}) : tensor<?xf32>
// CHECK: linalg.generic
// CHECK: linalg.index 0
// CHECK: arith.muli
// CHECK: tensor.extract %x
func.func @main(%x: tensor<8xf32>, %s: tensor<1xi64>, %e: tensor<1xi64>, %a: tensor<1xi64>, %t: tensor<1xi64>) -> tensor<?xf32> {
  %y = graph.slice %x, %s, %e, %a, %t : (tensor<8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?xf32>
  func.return %y : tensor<?xf32>
}

// -----

// graph.topk: a rank generic (comparisons with index tie-break), then a pick generic
// producing values and i64 indices.
// CHECK-LABEL: func.func @main
// CHECK: cf.assert %{{.*}}, "TopK: k is out of range for the axis"
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.cmpf ogt
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: -> (tensor<3x2xf32>, tensor<3x2xi64>)
func.func @main(%x: tensor<3x5xf32>, %k: tensor<1xi64>) -> (tensor<3x2xf32>, tensor<3x2xi64>) {
  %v, %i = graph.topk %x, %k {axis = 1 : i64, largest = 1 : i64} : (tensor<3x5xf32>, tensor<1xi64>) -> (tensor<3x2xf32>, tensor<3x2xi64>)
  func.return %v, %i : tensor<3x2xf32>, tensor<3x2xi64>
}
