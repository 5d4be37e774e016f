// RUN: opt-tool %s --split-input-file | filecheck %s
// RUN: opt-tool %s --split-input-file | opt-tool --split-input-file | filecheck %s
// RUN: opt-tool %s --split-input-file -p fold | filecheck %s --check-prefix=FOLD

// The quantize family: quantize/dequantize (per tensor, per axis, blocked), the integer
// contractions and requantize, printed and parsed back.
// CHECK-LABEL: func.func @ops
// CHECK: graph.quantize_linear %x, %s zero_point(%z : tensor<3xi8>) : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xi8>
// CHECK: graph.dequantize_linear %q, %bs {block_size = 2 : i64} : tensor<2x3xi8>, tensor<2x2xf32> -> tensor<2x3xf32>
// CHECK: graph.matmul_integer %a, %b lhs_zero_point(%az : tensor<ui8>) : tensor<2x4xui8>, tensor<4x3xi8> -> tensor<2x3xi32>
// CHECK: graph.conv_integer %cx, %cw weight_zero_point(%cz : tensor<4xi8>) {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : tensor<1x2x5x5xui8>, tensor<4x2x3x3xi8> -> tensor<1x4x5x5xi32>
// CHECK: graph.requantize %m, %s zero_point(%rz : tensor<ui8>) bias(%rb : tensor<3xi32>) : tensor<2x3xi32>, tensor<3xf32> -> tensor<2x3xui8>
func.func @ops(%x: tensor<2x3xf32>, %s: tensor<3xf32>, %z: tensor<3xi8>, %bs: tensor<2x2xf32>,
               %a: tensor<2x4xui8>, %b: tensor<4x3xi8>, %az: tensor<ui8>,
               %cx: tensor<1x2x5x5xui8>, %cw: tensor<4x2x3x3xi8>, %cz: tensor<4xi8>,
               %rz: tensor<ui8>, %rb: tensor<3xi32>)
    -> (tensor<2x3xf32>, tensor<2x3xi32>, tensor<1x4x5x5xi32>, tensor<2x3xui8>) {
  %q = graph.quantize_linear %x, %s zero_point(%z : tensor<3xi8>) {axis = 1 : i64} : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xi8>
  %d = graph.dequantize_linear %q, %bs {axis = 1 : i64, block_size = 2 : i64} : tensor<2x3xi8>, tensor<2x2xf32> -> tensor<2x3xf32>
  %m = graph.matmul_integer %a, %b lhs_zero_point(%az : tensor<ui8>) : tensor<2x4xui8>, tensor<4x3xi8> -> tensor<2x3xi32>
  %c = graph.conv_integer %cx, %cw weight_zero_point(%cz : tensor<4xi8>) {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : tensor<1x2x5x5xui8>, tensor<4x2x3x3xi8> -> tensor<1x4x5x5xi32>
  %r = graph.requantize %m, %s zero_point(%rz : tensor<ui8>) bias(%rb : tensor<3xi32>) : tensor<2x3xi32>, tensor<3xf32> -> tensor<2x3xui8>
  func.return %d, %m, %c, %r : tensor<2x3xf32>, tensor<2x3xi32>, tensor<1x4x5x5xi32>, tensor<2x3xui8>
}

// -----

// Constant operands fold (the ops' numpy evaluators): 1.0 / 0.5 = 2, + 3 -> 5; -300
// saturates to -128; 2.5 / 1 rounds half to even, to 2.
// FOLD-LABEL: func.func @fold
// FOLD-NOT: graph.quantize_linear
// FOLD: graph.constant dense<[5, -128, 5]> : tensor<3xi8>
func.func @fold() -> tensor<3xi8> {
  %x = graph.constant dense<[1.0, -150.0, 1.0]> : tensor<3xf32>
  %s = graph.constant dense<0.5> : tensor<f32>
  %z = graph.constant dense<3> : tensor<i8>
  %q = graph.quantize_linear %x, %s zero_point(%z : tensor<i8>) : tensor<3xf32>, tensor<f32> -> tensor<3xi8>
  func.return %q : tensor<3xi8>
}
