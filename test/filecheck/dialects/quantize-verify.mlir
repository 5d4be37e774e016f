// RUN: opt-tool %s --split-input-file --verify-diagnostics | filecheck %s

// Malformed quantize-family IR is rejected with the op and the reason.

func.func @axis_scale(%x: tensor<2x3xf32>, %s: tensor<2xf32>) -> tensor<2x3xui8> {
  %q = graph.quantize_linear %x, %s : tensor<2x3xf32>, tensor<2xf32> -> tensor<2x3xui8>
  func.return %q : tensor<2x3xui8>
}
// CHECK: graph.quantize_linear: the scale has 2 elements, dim 1 of the input is 3

// -----

func.func @zp_type(%x: tensor<3xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<3xui8> {
  %q = graph.quantize_linear %x, %s zero_point(%z : tensor<i8>) {axis = 0 : i64} : tensor<3xf32>, tensor<f32> -> tensor<3xui8>
  func.return %q : tensor<3xui8>
}
// CHECK: graph.quantize_linear: the zero point's element type i8 differs from the result's ui8

// -----

func.func @blocked(%x: tensor<2x6xi8>, %s: tensor<2x2xf32>) -> tensor<2x6xf32> {
  %d = graph.dequantize_linear %x, %s {block_size = 2 : i64} : tensor<2x6xi8>, tensor<2x2xf32> -> tensor<2x6xf32>
  func.return %d : tensor<2x6xf32>
}
// CHECK: graph.dequantize_linear: blocked the scale shape [2, 2] does not fit input [2, 6] with block_size 2 on axis 1

// -----

func.func @float_in(%x: tensor<3xf32>, %s: tensor<f32>) -> tensor<3xf32> {
  %d = graph.dequantize_linear %x, %s : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  func.return %d : tensor<3xf32>
}
// CHECK: graph.dequantize_linear: input element type f32 is not a quantized type

// -----

func.func @mm_zp(%a: tensor<2x4xi8>, %b: tensor<4x3xi8>, %z: tensor<3xi8>) -> tensor<2x3xi32> {
  %m = graph.matmul_integer %a, %b lhs_zero_point(%z : tensor<3xi8>) : tensor<2x4xi8>, tensor<4x3xi8> -> tensor<2x3xi32>
  func.return %m : tensor<2x3xi32>
}
// CHECK: graph.matmul_integer: the lhs zero point [3] does not broadcast to the lhs [2, 4]

// -----

func.func @conv_zp(%x: tensor<1x2x5x5xui8>, %w: tensor<4x2x3x3xui8>, %z: tensor<2xui8>) -> tensor<1x4x3x3xi32> {
  %c = graph.conv_integer %x, %w input_zero_point(%z : tensor<2xui8>) {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x2x5x5xui8>, tensor<4x2x3x3xui8> -> tensor<1x4x3x3xi32>
  func.return %c : tensor<1x4x3x3xi32>
}
// CHECK: graph.conv_integer: the input zero point must have one element

// -----

func.func @requant(%m: tensor<2x3xi32>, %s: tensor<3xf32>, %b: tensor<2xi32>) -> tensor<2x3xi8> {
  %r = graph.requantize %m, %s bias(%b : tensor<2xi32>) : tensor<2x3xi32>, tensor<3xf32> -> tensor<2x3xi8>
  func.return %r : tensor<2x3xi8>
}
// CHECK: graph.requantize: the bias has 2 elements, dim 1 of the input is 3
