// RUN: opt-tool --pipeline=O2,precision %S/../../../examples/models/cnn.onnx | filecheck %s
// RUN: opt-tool --pipeline=O2,precision{mode=int8} %S/../../../examples/models/cnn.onnx | filecheck %s --check-prefix=NOOP
// RUN: opt-tool --pipeline=O2,precision %S/../../../examples/models/lstm.onnx | filecheck %s --check-prefix=RNN

// precision (compile(precision="fp16")): every f32 weight of a conv/gemm becomes an f16
// weight read through a widening cast; activations and the folded biases stay f32.
// CHECK:      %[[W1:.*]] = graph.weight "conv1.weight.mul.f16" : tensor<8x3x3x3xf16>
// CHECK-NEXT: %[[C1:.*]] = graph.elementwise %[[W1]] {kind = "cast"} : (tensor<8x3x3x3xf16>) -> tensor<8x3x3x3xf32>
// CHECK:      graph.conv %input, %[[C1]] bias({{.*}} : tensor<8xf32>)
// CHECK:      graph.weight "conv2.weight.mul.f16" : tensor<8x8x3x3xf16>
// CHECK:      graph.weight "fc.weight.f16" : tensor<10x8xf16>
// CHECK:      %[[B:.*]] = graph.weight "fc.bias.f16" : tensor<10xf16>
// CHECK-NEXT: %[[CB:.*]] = graph.elementwise %[[B]] {kind = "cast"}
// CHECK:      graph.gemm %flat, %{{.*}} bias(%[[CB]] : tensor<10xf32>)
// the f32 originals are gone
// CHECK-NOT:  graph.weight {{.*}}xf32>

// Other modes leave the graph alone (int8 is the quantize pass's).
// NOOP:     graph.weight "conv1.weight.mul" : tensor<8x3x3x3xf32>
// NOOP-NOT: xf16>

// A recurrent op's input and recurrent weights and bias are narrowed too.
// RNN:      %[[W:.*]] = graph.weight "{{.*}}.f16" : tensor<2x128x16xf16>
// RNN-NEXT: %[[WC:.*]] = graph.elementwise %[[W]] {kind = "cast"}
// RNN:      %[[R:.*]] = graph.weight "{{.*}}.f16" : tensor<2x128x32xf16>
// RNN-NEXT: %[[RC:.*]] = graph.elementwise %[[R]] {kind = "cast"}
// RNN:      graph.rnn %input, %[[WC]], %[[RC]] bias(
// RNN-NOT:  graph.weight {{.*}}xf32>

// RUN: opt-tool --pipeline=O2,precision %S/../../../examples/models/bert.onnx | filecheck %s --check-prefix=GATHER
// An embedding table is gathered from its f16 copy; only the gathered rows are widened.
// GATHER:      %[[E:.*]] = graph.weight "{{.*}}.f16" : tensor<1000x64xf16>
// GATHER:      %[[ROWS:.*]] = graph.gather %[[E]], %input_ids {axis = 0 : i64} : (tensor<1000x64xf16>, tensor<?x?xi64>) -> tensor<?x?x64xf16>
// GATHER-NEXT: graph.elementwise %[[ROWS]] {kind = "cast"} : (tensor<?x?x64xf16>) -> tensor<?x?x64xf32>
// GATHER-NOT:  tensor<1000x64xf32>
