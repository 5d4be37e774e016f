// RUN: rm -rf %t && %python %inputs/make_onnx_op_models.py %t
// RUN: opt-tool %t/gn_static.onnx | filecheck %s --check-prefix=STATIC
// RUN: opt-tool %t/gn_dyn.onnx | filecheck %s --check-prefix=DYN
// RUN: opt-tool -p convert-graph-to-tensor %t/gn_dyn.onnx | filecheck %s --check-prefix=LOWER

// GroupNormalization-21 is its ONNX function body: [N, C, H, W] -> [N, G, C/G*H*W],
// mean and population variance over the last dim, reshaped back, scale and bias per
// channel (as [C, 1, 1]). No layer/instance norm op and no stash cast for f32 data.
// STATIC:      %[[G:.*]] = graph.reshape %x {shape = array<i64: 2, 3, 12>} : (tensor<2x6x3x2xf32>) -> tensor<2x3x12xf32>
// STATIC-NEXT: %[[MEAN:.*]] = graph.reduce %[[G]] {kind = "mean", axes = array<i64: 2>} : tensor<2x3x12xf32> -> tensor<2x3x1xf32>
// STATIC-NEXT: %[[C:.*]] = graph.sub %[[G]], %[[MEAN]]
// STATIC-NEXT: %[[SQ:.*]] = graph.mul %[[C]], %[[C]]
// STATIC-NEXT: %[[VAR:.*]] = graph.reduce %[[SQ]] {kind = "mean", axes = array<i64: 2>}
// STATIC-NEXT: %[[EPS:.*]] = graph.constant dense<1.000000e-03> : tensor<f32>
// STATIC-NEXT: %[[VE:.*]] = graph.add %[[VAR]], %[[EPS]]
// STATIC-NEXT: %[[STD:.*]] = graph.sqrt %[[VE]]
// STATIC-NEXT: %[[N:.*]] = graph.div %[[C]], %[[STD]]
// STATIC-NEXT: %[[Y:.*]] = graph.reshape %[[N]] {shape = array<i64: 2, 6, 3, 2>} : (tensor<2x3x12xf32>) -> tensor<2x6x3x2xf32>
// STATIC-NEXT: %[[S:.*]] = graph.reshape %s {shape = array<i64: 6, 1, 1>}
// STATIC-NEXT: %[[YS:.*]] = graph.mul %[[Y]], %[[S]]
// STATIC-NEXT: %[[B:.*]] = graph.reshape %b {shape = array<i64: 6, 1, 1>}
// STATIC-NEXT: %y = graph.add %[[YS]], %[[B]]
// STATIC-NOT:  graph.layer_norm
// STATIC-NOT:  graph.elementwise
// STATIC-NOT:  graph.reshape_dynamic

// N, H and W dynamic: ONNX Reshape [0, G, -1] in, the input's graph.shape back out.
// DYN:      %[[T:.*]] = graph.constant dense<[0, 2, -1]> : tensor<3xi64>
// DYN-NEXT: %[[G:.*]] = graph.reshape_dynamic %x, %[[T]] : (tensor<?x6x?x?xf32>, tensor<3xi64>) -> tensor<?x2x?xf32>
// DYN:      %[[SH:.*]] = graph.shape %x {start = 0 : i64, end = 4 : i64}
// DYN-NEXT: graph.reshape_dynamic %{{.*}}, %[[SH]] {allowzero = 1 : i64} : (tensor<?x2x?xf32>, tensor<4xi64>) -> tensor<?x6x?x?xf32>

// LOWER:     func.func @main
// LOWER-NOT: graph.{{[a-z_]+}} %
