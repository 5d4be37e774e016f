// RUN: opt-tool --split-input-file --pipeline=quantize %s | filecheck %s

// DQ -> conv (bias, relu) -> Q: conv_integer on the uint8 input with int8 per-channel
// weights, and a requantize (multiplier x_scale * w_scale / y_scale, int32 bias) that
// replaces the Q; the relu is the saturation at zero point 0.
// CHECK-LABEL: func.func @conv_requantize
// CHECK:       %[[W:.*]] = graph.constant dense<{{\[\[\[\[}}64]], {{\[\[}}-127]]], {{\[\[\[}}16]], {{\[\[}}127]]], {{\[\[\[}}127]], {{\[\[}}127]]]]> : tensor<3x2x1x1xi8>
// CHECK:       %[[ACC:.*]] = graph.conv_integer %x, %[[W]] input_zero_point(%z : tensor<ui8>)
// CHECK-SAME:  -> tensor<1x3x4x4xi32>
// CHECK:       %[[M:.*]] = graph.constant dense<[0.0157480314, 0.0314960629, 0.0157480314]> : tensor<3xf32>
// CHECK:       %[[B:.*]] = graph.constant dense<[127, -64, 254]> : tensor<3xi32>
// CHECK:       %[[Q:.*]] = graph.requantize %[[ACC]], %[[M]] zero_point(%yz : tensor<ui8>) bias(%[[B]] : tensor<3xi32>)
// CHECK-NEXT:  graph.dequantize_linear %[[Q]]
// CHECK-NOT:   graph.conv %
// CHECK-NOT:   graph.quantize_linear
func.func @conv_requantize(%x: tensor<1x2x4x4xui8>) -> tensor<1x3x4x4xf32> {
  %s = graph.constant dense<0.5> : tensor<f32>
  %z = graph.constant dense<3> : tensor<ui8>
  %d = graph.dequantize_linear %x, %s zero_point(%z : tensor<ui8>) {axis = 0 : i64} : tensor<1x2x4x4xui8>, tensor<f32> -> tensor<1x2x4x4xf32>
  %w = graph.constant dense<[[[[0.5]], [[-1.0]]], [[[0.25]], [[2.0]]], [[[1.0]], [[1.0]]]]> : tensor<3x2x1x1xf32>
  %b = graph.constant dense<[0.5, -0.5, 1.0]> : tensor<3xf32>
  %y = graph.conv %d, %w bias(%b : tensor<3xf32>) {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, act = "relu"} : tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32> -> tensor<1x3x4x4xf32>
  %ys = graph.constant dense<0.25> : tensor<f32>
  %yz = graph.constant dense<0> : tensor<ui8>
  %q = graph.quantize_linear %y, %ys zero_point(%yz : tensor<ui8>) {axis = 0 : i64} : tensor<1x3x4x4xf32>, tensor<f32> -> tensor<1x3x4x4xui8>
  %o = graph.dequantize_linear %q, %ys zero_point(%yz : tensor<ui8>) {axis = 0 : i64} : tensor<1x3x4x4xui8>, tensor<f32> -> tensor<1x3x4x4xf32>
  func.return %o : tensor<1x3x4x4xf32>
}

// -----

// DQ -> matmul without a Q after it: matmul_integer, then a float epilogue
// float(acc) * (x_scale * w_scale per column) + bias. A zero zero point is left out.
// CHECK-LABEL: func.func @matmul_float_epilogue
// CHECK:       %[[W:.*]] = graph.constant dense<{{\[\[}}127, -127], [-127, 64]]> : tensor<2x2xi8>
// CHECK:       %[[ACC:.*]] = graph.matmul_integer %x, %[[W]] : tensor<3x2xi8>, tensor<2x2xi8> -> tensor<3x2xi32>
// CHECK:       %[[F:.*]] = graph.elementwise %[[ACC]] {kind = "cast"} : (tensor<3x2xi32>) -> tensor<3x2xf32>
// CHECK:       %[[S:.*]] = graph.constant dense<{{\[\[}}0.000787401572, 0.00157480314]]> : tensor<1x2xf32>
// CHECK:       %[[M:.*]] = graph.mul %[[F]], %[[S]]
// CHECK:       graph.add %[[M]]
// CHECK-NOT:   graph.matmul %
// CHECK-NOT:   graph.dequantize_linear
func.func @matmul_float_epilogue(%x: tensor<3x2xi8>) -> tensor<3x2xf32> {
  %s = graph.constant dense<0.1> : tensor<f32>
  %z = graph.constant dense<0> : tensor<i8>
  %d = graph.dequantize_linear %x, %s zero_point(%z : tensor<i8>) {axis = 0 : i64} : tensor<3x2xi8>, tensor<f32> -> tensor<3x2xf32>
  %w = graph.constant dense<[[1.0, -2.0], [-1.0, 1.0]]> : tensor<2x2xf32>
  %b = graph.constant dense<[0.5, 1.5]> : tensor<2xf32>
  %y = graph.matmul %d, %w bias(%b : tensor<2xf32>) : tensor<3x2xf32>, tensor<2x2xf32> -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}

// -----

// Q(DQ(x)) with the same scale and zero point is x; with another scale it stays.
// CHECK-LABEL: func.func @cancel
// CHECK-NEXT:  graph.constant
// CHECK-NEXT:  graph.constant
// CHECK-NEXT:  graph.constant
// CHECK-NEXT:  %[[D:.*]] = graph.dequantize_linear %x
// CHECK-NEXT:  %[[Q:.*]] = graph.quantize_linear %[[D]], %s2
// CHECK-NEXT:  func.return %x, %[[Q]]
func.func @cancel(%x: tensor<4xui8>) -> (tensor<4xui8>, tensor<4xui8>) {
  %s = graph.constant dense<0.5> : tensor<f32>
  %s2 = graph.constant dense<0.25> : tensor<f32>
  %z = graph.constant dense<7> : tensor<ui8>
  %d = graph.dequantize_linear %x, %s zero_point(%z : tensor<ui8>) {axis = 0 : i64} : tensor<4xui8>, tensor<f32> -> tensor<4xf32>
  %q = graph.quantize_linear %d, %s zero_point(%z : tensor<ui8>) {axis = 0 : i64} : tensor<4xf32>, tensor<f32> -> tensor<4xui8>
  %q2 = graph.quantize_linear %d, %s2 zero_point(%z : tensor<ui8>) {axis = 0 : i64} : tensor<4xf32>, tensor<f32> -> tensor<4xui8>
  func.return %q, %q2 : tensor<4xui8>, tensor<4xui8>
}

// -----

// An activation the epilogue cannot apply (gelu) keeps the op in float32.
// CHECK-LABEL: func.func @gelu_stays_float
// CHECK:       graph.dequantize_linear
// CHECK:       graph.matmul %d
// CHECK-NOT:   graph.matmul_integer
func.func @gelu_stays_float(%x: tensor<3x2xui8>) -> tensor<3x2xf32> {
  %s = graph.constant dense<0.1> : tensor<f32>
  %z = graph.constant dense<128> : tensor<ui8>
  %d = graph.dequantize_linear %x, %s zero_point(%z : tensor<ui8>) {axis = 0 : i64} : tensor<3x2xui8>, tensor<f32> -> tensor<3x2xf32>
  %w = graph.constant dense<[[1.0, -2.0], [-1.0, 1.0]]> : tensor<2x2xf32>
  %y = graph.matmul %d, %w {act = "gelu"} : tensor<3x2xf32>, tensor<2x2xf32> -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}
