// RUN: opt-tool --split-input-file --pipeline=quantize-dynamic %s | filecheck %s
// RUN: opt-tool --pipeline=O2,expose-calibration-values %S/../../../examples/models/cnn.onnx | filecheck %s --check-prefix=EXPOSE

// quantize-dynamic: the activation's run-time range (with 0) gives a uint8 scale and zero
// point (DynamicQuantizeLinear's formula), the weight is int8 per column, the product an
// integer matmul, scaled back in float by x_scale * w_scale, then bias and activation.
// CHECK-LABEL: func.func @dynamic
// CHECK-DAG:   %[[W:.*]] = graph.constant dense<{{\[\[}}127, -127], [-127, 64]]> : tensor<2x2xi8>
// CHECK-DAG:   graph.reduce %x {kind = "max"
// CHECK-DAG:   graph.reduce %x {kind = "min"
// CHECK:       %[[Q:.*]] = graph.quantize_linear %x, %[[SCALE:[^ ]*]] zero_point(%[[ZP:.*]] : tensor<ui8>)
// CHECK:       %[[ACC:.*]] = graph.matmul_integer %[[Q]], %[[W]] lhs_zero_point(%[[ZP]] : tensor<ui8>)
// CHECK:       %[[F:.*]] = graph.elementwise %[[ACC]] {kind = "cast"}
// CHECK:       graph.mul %[[F]], %[[SCALE]]
// CHECK:       graph.relu
// CHECK-NOT:   graph.gemm
func.func @dynamic(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = graph.constant dense<[[1.0, -1.0], [-2.0, 1.0]]> : tensor<2x2xf32>
  %y = graph.gemm %x, %w {trans_b = 1 : i64, act = "relu"} : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// -----

// A conv is left to static quantization.
// CHECK-LABEL: func.func @conv_stays
// CHECK:       graph.conv
// CHECK-NOT:   graph.conv_integer
func.func @conv_stays(%x: tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32> {
  %w = graph.constant dense<1.0> : tensor<1x1x1x1xf32>
  %y = graph.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x1x2x2xf32>, tensor<1x1x1x1xf32> -> tensor<1x1x2x2xf32>
  func.return %y : tensor<1x1x2x2xf32>
}

// expose-calibration-values: the inputs of the quantizable ops (conv, conv, gemm) and the
// results a requantize could produce (the first conv: relu, no residual) become results.
// EXPOSE:      func.func @main(%input: tensor<1x3x16x16xf32> {{.*}}) -> (tensor<1x10xf32> {graph.name = "output"}, tensor<1x3x16x16xf32> {graph.name = "kiln.calibration.0"}, tensor<1x8x16x16xf32> {graph.name = "kiln.calibration.1"}, tensor<1x8x8x8xf32> {graph.name = "kiln.calibration.2"}, tensor<1x8xf32> {graph.name = "kiln.calibration.3"}, tensor<1x10xf32> {graph.name = "kiln.calibration.4"})
// EXPOSE:      func.return %output, %input, %r1, %p1, %flat, %output
