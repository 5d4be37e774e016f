// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | opt-tool --split-input-file | filecheck %s

// Integer add is addi on signless i32.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic
// CHECK: ^{{.*}}(%{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32):
// CHECK: arith.addi %{{.*}}, %{{.*}} : i32
// CHECK-NOT: graph.
func.func @main(%x: tensor<4xi32>, %y: tensor<4xi32>) -> tensor<4xi32> {
  %a = graph.add %x, %y : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  func.return %a : tensor<4xi32>
}

// -----

// Unsigned division: the graph type ui8 picks divui; the lowered IR is signless i8.
// CHECK-LABEL: func.func @main
// CHECK-SAME: tensor<4xi8>
// CHECK: arith.divui %{{.*}}, %{{.*}} : i8
// CHECK-NOT: ui8
func.func @main(%x: tensor<4xui8>, %y: tensor<4xui8>) -> tensor<4xui8> {
  %a = graph.div %x, %y : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  func.return %a : tensor<4xui8>
}

// -----

// Comparisons give i1; unsigned ones use the u predicates, floats ordered ones.
// CHECK-LABEL: func.func @main
// CHECK: arith.cmpi ult, %{{.*}}, %{{.*}} : i32
// CHECK: tensor<2x3xi1>
// CHECK: arith.cmpf olt, %{{.*}}, %{{.*}} : f64
// CHECK-NOT: ui32
func.func @main(%x: tensor<2x3xui32>, %y: tensor<3xui32>, %f: tensor<3xf64>) -> (tensor<2x3xi1>, tensor<3xi1>) {
  %a = graph.elementwise %x, %y {kind = "less"} : (tensor<2x3xui32>, tensor<3xui32>) -> tensor<2x3xi1>
  %b = graph.elementwise %f, %f {kind = "less"} : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xi1>
  func.return %a, %b : tensor<2x3xi1>, tensor<3xi1>
}

// -----

// Where is a select with the condition broadcast.
// CHECK-LABEL: func.func @main
// CHECK: affine_map<(d0, d1) -> (d1)>
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : i64
func.func @main(%c: tensor<3xi1>, %x: tensor<2x3xi64>, %y: tensor<2x3xi64>) -> tensor<2x3xi64> {
  %a = graph.elementwise %c, %x, %y {kind = "where"} : (tensor<3xi1>, tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  func.return %a : tensor<2x3xi64>
}

// -----

// Casts: f32 -> ui8 is fptoui, ui16 -> f32 uitofp, i8 -> i64 extsi, f32 -> bool cmpf une.
// CHECK-LABEL: func.func @main
// CHECK: arith.fptoui %{{.*}} : f32 to i8
// CHECK: arith.uitofp %{{.*}} : i16 to f32
// CHECK: arith.extsi %{{.*}} : i8 to i64
// CHECK: arith.cmpf une
func.func @main(%x: tensor<4xf32>, %u: tensor<4xui16>, %s: tensor<4xi8>) -> (tensor<4xui8>, tensor<4xf32>, tensor<4xi64>, tensor<4xi1>) {
  %a = graph.elementwise %x {kind = "cast"} : (tensor<4xf32>) -> tensor<4xui8>
  %b = graph.elementwise %u {kind = "cast"} : (tensor<4xui16>) -> tensor<4xf32>
  %c = graph.elementwise %s {kind = "cast"} : (tensor<4xi8>) -> tensor<4xi64>
  %d = graph.elementwise %x {kind = "cast"} : (tensor<4xf32>) -> tensor<4xi1>
  func.return %a, %b, %c, %d : tensor<4xui8>, tensor<4xf32>, tensor<4xi64>, tensor<4xi1>
}

// -----

// Activations carry their attributes as params: leaky_relu is cmpf + mulf + select.
// CHECK-LABEL: func.func @main
// CHECK: arith.cmpf olt
// CHECK: arith.constant {{.*}} : f16
// CHECK: arith.mulf
// CHECK: arith.select
func.func @main(%x: tensor<4xf16>) -> tensor<4xf16> {
  %a = graph.elementwise %x {kind = "leaky_relu", params = array<f64: 0.2>} : (tensor<4xf16>) -> tensor<4xf16>
  func.return %a : tensor<4xf16>
}
