// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | opt-tool --split-input-file | filecheck %s

// Blocked quantize_linear: one generic; the scale and zero point are read at
// (d1 floordiv block_size); x / scale rounds half to even, the zero point is added in f64
// and the sum saturates to [-128, 127] (NaN goes to the low end) before the conversion.
// CHECK-LABEL: func.func @quantize
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, (d1 floordiv 2))>, affine_map<(d0, d1) -> (d0, (d1 floordiv 2))>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK: arith.divf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: math.roundeven %{{.*}} : f32
// CHECK-NEXT: arith.extf %{{.*}} : f32 to f64
// CHECK-NEXT: arith.sitofp %{{.*}} : i8 to f64
// CHECK: arith.constant -1.280000e+02 : f64
// CHECK-NEXT: arith.constant 1.270000e+02 : f64
// CHECK-NEXT: arith.cmpf oge
// CHECK: arith.fptosi %{{.*}} : f64 to i8
// CHECK-NOT: graph.
func.func @quantize(%x: tensor<2x6xf32>, %s: tensor<2x3xf32>, %z: tensor<2x3xi8>) -> tensor<2x6xi8> {
  %q = graph.quantize_linear %x, %s zero_point(%z : tensor<2x3xi8>) {axis = 1 : i64, block_size = 2 : i64} : tensor<2x6xf32>, tensor<2x3xf32> -> tensor<2x6xi8>
  func.return %q : tensor<2x6xi8>
}

// -----

// A dynamic blocked dim: the number of blocks the scale has is checked before the
// generic (its floordiv read is not one the generic checker bounds).
// CHECK-LABEL: func.func @dequantize
// CHECK: check.assert %{{.*}}, "graph.dequantize_linear: dim 1 of the blocked scale or zero point is {0}, but the input needs {1} blocks of 4"
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, (d1 floordiv 4))>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK-NEXT: arith.mulf
// CHECK-NOT: graph.
func.func @dequantize(%x: tensor<2x?xi8>, %s: tensor<2x?xf32>) -> tensor<2x?xf32> {
  %d = graph.dequantize_linear %x, %s {axis = 1 : i64, block_size = 4 : i64} : tensor<2x?xi8>, tensor<2x?xf32> -> tensor<2x?xf32>
  func.return %d : tensor<2x?xf32>
}

// -----

// matmul_integer over 8-bit operands: one contraction over the bytes, each widened in
// its body (unsigned extension for ui8) minus its zero point (read at index 0), no i32
// copy of an operand (the shape lower-contractions-to-kernels gives the integer GEMM
// kernel); requantize per column (d1) in f64.
// CHECK-LABEL: func.func @matmul
// CHECK: linalg.fill ins(%{{.*}} : i32)
// CHECK: affine_map<(d0, d1, d2) -> ()>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b, %az : tensor<?x4xi8>, tensor<4x3xi8>, tensor<i8>) outs(%{{.*}} : tensor<?x3xi32>)
// CHECK: arith.extui %{{.*}} : i8 to i32
// CHECK-NEXT: arith.extui %{{.*}} : i8 to i32
// CHECK-NEXT: arith.subi
// CHECK: arith.muli
// CHECK-NEXT: arith.addi
// CHECK: affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> ()>
// CHECK: arith.sitofp %{{.*}} : i32 to f64
// CHECK: math.roundeven %{{.*}} : f64
// CHECK: arith.uitofp %{{.*}} : i8 to f64
// CHECK: arith.fptoui %{{.*}} : f64 to i8
// CHECK-NOT: graph.
func.func @matmul(%a: tensor<?x4xui8>, %b: tensor<4x3xui8>, %az: tensor<ui8>, %m: tensor<3xf32>, %yz: tensor<ui8>) -> tensor<?x3xui8> {
  %c = graph.matmul_integer %a, %b lhs_zero_point(%az : tensor<ui8>) : tensor<?x4xui8>, tensor<4x3xui8> -> tensor<?x3xi32>
  %r = graph.requantize %c, %m zero_point(%yz : tensor<ui8>) : tensor<?x3xi32>, tensor<3xf32> -> tensor<?x3xui8>
  func.return %r : tensor<?x3xui8>
}

// -----

// conv_integer: x minus its zero point and w minus its per-output-channel zero point
// (read at d0) in i32; the conv lowering's zero padding then pads with x_zero_point.
// CHECK-LABEL: func.func @conv
// CHECK: affine_map<(d0, d1, d2, d3) -> ()>
// CHECK: affine_map<(d0, d1, d2, d3) -> (d0)>
// CHECK: tensor.empty() : tensor<1x2x7x7xi32>
// CHECK: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<1x2x7x7xi32>, tensor<4x2x3x3xi32>)
// CHECK-NOT: graph.
func.func @conv(%x: tensor<1x2x5x5xui8>, %w: tensor<4x2x3x3xi8>, %xz: tensor<ui8>, %wz: tensor<4xi8>) -> tensor<1x4x5x5xi32> {
  %c = graph.conv_integer %x, %w input_zero_point(%xz : tensor<ui8>) weight_zero_point(%wz : tensor<4xi8>) {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : tensor<1x2x5x5xui8>, tensor<4x2x3x3xi8> -> tensor<1x4x5x5xi32>
  func.return %c : tensor<1x4x5x5xi32>
}

// -----

// quantize_linear to float8 is the Cast of x / scale (+ the zero point unless it is 0,
// so -0 stays -0): no rounding to an integer, saturate clamps to +-448 before the truncf.
// CHECK-LABEL: func.func @quantize_f8
// CHECK: arith.divf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: arith.extf %{{.*}} : f8E4M3FN to f32
// CHECK-NEXT: arith.addf
// CHECK: arith.cmpf oeq
// CHECK-NEXT: arith.select
// CHECK-NEXT: arith.constant 4.480000e+02 : f32
// CHECK: arith.truncf %{{.*}} : f32 to f8E4M3FN
// CHECK-NOT: math.roundeven
// CHECK-NOT: graph.
func.func @quantize_f8(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<f8E4M3FN>) -> tensor<4xf8E4M3FN> {
  %q = graph.quantize_linear %x, %s zero_point(%z : tensor<f8E4M3FN>) {axis = 0 : i64} : tensor<4xf32>, tensor<f32> -> tensor<4xf8E4M3FN>
  func.return %q : tensor<4xf8E4M3FN>
}

// -----

// saturate = 0: the quotient (f16 here) is truncated straight to e5m2 (overflow to inf).
// CHECK-LABEL: func.func @quantize_f8_nosat
// CHECK: arith.divf %{{.*}}, %{{.*}} : f16
// CHECK-NEXT: arith.truncf %{{.*}} : f16 to f8E5M2
// CHECK-NEXT: linalg.yield
// CHECK-NOT: graph.
func.func @quantize_f8_nosat(%x: tensor<4xf16>, %s: tensor<4xf16>) -> tensor<4xf8E5M2> {
  %q = graph.quantize_linear %x, %s {axis = 0 : i64, saturate = 0 : i64} : tensor<4xf16>, tensor<4xf16> -> tensor<4xf8E5M2>
  func.return %q : tensor<4xf8E5M2>
}

// -----

// dequantize_linear of float4e2m1 reads it exactly as f32.
// CHECK-LABEL: func.func @dequantize_f4
// CHECK: arith.extf %{{.*}} : f4E2M1FN to f32
// CHECK-NEXT: arith.mulf
// CHECK-NOT: graph.
func.func @dequantize_f4(%x: tensor<4xf4E2M1FN>, %s: tensor<f32>) -> tensor<4xf32> {
  %d = graph.dequantize_linear %x, %s : tensor<4xf4E2M1FN>, tensor<f32> -> tensor<4xf32>
  func.return %d : tensor<4xf32>
}
