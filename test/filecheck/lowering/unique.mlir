// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file | opt-tool --split-input-file | filecheck %s --check-prefix=ROUND

// ROUND: graph.unique %x : (tensor<?x3xf32>) -> (tensor<?xi64>, tensor<?xi64>, tensor<?xi64>)
// ROUND: graph.unique %x {sorted = 0 : i64} : (tensor<?x1xi32>)

// Rows of 3: diff[j, i] is a min over the columns where they differ (NaN equal to NaN),
// lexless[j, i] compares at that column (NaN last); first occurrences, inverse (how
// many distinct rows sort before), their count K, then indices and counts over K. No
// element is read at a computed index (no tensor.extract of %x).
// CHECK-LABEL: func.func @rows
// CHECK:      linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %x
// CHECK:      arith.minsi
// CHECK:      arith.cmpf uno
// CHECK:      arith.cmpf oeq
// CHECK:      iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %x, %{{.*}} : tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x?xi64>) outs(%{{.*}} : tensor<?x?xi1>)
// CHECK:      arith.cmpf ord
// CHECK:      arith.cmpf olt
// CHECK:      affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]
// CHECK:      %inv = linalg.generic
// CHECK:      iterator_types = ["reduction"]} ins(%{{.*}} : tensor<?xi64>) outs(%{{.*}} : tensor<i64>)
// CHECK:      tensor.extract %{{.*}}[] : tensor<i64>
// CHECK:      %i, %c = linalg.generic
// CHECK-NOT:  tensor.extract %x
// CHECK-NOT:  graph.unique
func.func @rows(%x: tensor<?x3xf32>) -> (tensor<?xi64>, tensor<?xi64>, tensor<?xi64>) {
  %i, %inv, %c = graph.unique %x : (tensor<?x3xf32>) -> (tensor<?xi64>, tensor<?xi64>, tensor<?xi64>)
  func.return %i, %inv, %c : tensor<?xi64>, tensor<?xi64>, tensor<?xi64>
}

// -----

// One-element rows compare directly (no diff matrix); unsorted, inverse counts the first
// occurrences before the row's own first occurrence (no row order at all).
// CHECK-LABEL: func.func @flat
// CHECK-NOT:  tensor<?x?xi64>
// CHECK:      affine_map<(d0, d1) -> (d1, 0)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x, %x
// CHECK:      arith.cmpi eq, %{{.*}}, %{{.*}} : i32
// CHECK-NOT:  arith.cmpi slt, %{{.*}}, %{{.*}} : i32
// CHECK:      %inv = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>]
// CHECK-NOT:  arith.cmpi slt, %{{.*}}, %{{.*}} : i32
// CHECK-NOT:  graph.unique
func.func @flat(%x: tensor<?x1xi32>) -> (tensor<?xi64>, tensor<?xi64>, tensor<?xi64>) {
  %i, %inv, %c = graph.unique %x {sorted = 0 : i64} : (tensor<?x1xi32>) -> (tensor<?xi64>, tensor<?xi64>, tensor<?xi64>)
  func.return %i, %inv, %c : tensor<?xi64>, tensor<?xi64>, tensor<?xi64>
}
