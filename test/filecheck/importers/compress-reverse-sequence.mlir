// RUN: rm -rf %t && %python %inputs/make_onnx_op_models.py %t
// RUN: opt-tool %t/compress_axis.onnx | filecheck %s --check-prefix=AXIS
// RUN: opt-tool %t/compress_flat.onnx | filecheck %s --check-prefix=FLAT
// RUN: opt-tool %t/reverse_sequence.onnx | filecheck %s --check-prefix=REV
// RUN: opt-tool -p convert-graph-to-tensor %t/compress_axis.onnx | filecheck %s --check-prefix=LOWER
// RUN: opt-tool -p convert-graph-to-tensor %t/reverse_sequence.onnx | filecheck %s --check-prefix=LOWER-REV

// Compress has no graph op: a gather of the condition's non-zero positions, so the
// result dim is sized at run time by graph.non_zero (axis -1 normalized to 1).
// AXIS:      %[[NZ:.*]] = graph.non_zero %c : (tensor<3xi1>) -> tensor<1x?xi64>
// AXIS-NEXT: %[[I:.*]] = graph.squeeze %[[NZ]] {axes = array<i64: 0>} : (tensor<1x?xi64>) -> tensor<?xi64>
// AXIS-NEXT: %y = graph.gather %x, %[[I]] {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x?xf32>

// Without axis the input is flattened first.
// FLAT:      graph.reshape %x {shape = array<i64: -1>} : (tensor<2x3xf32>) -> tensor<6xf32>
// FLAT:      graph.non_zero %c : (tensor<?xi1>) -> tensor<1x?xi64>
// FLAT:      graph.gather %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<6xf32>, tensor<?xi64>) -> tensor<?xf32>

// ReverseSequence: t = range(T) along the time axis against the lengths (clamped to T)
// along the batch axis; index = t < len ? len - 1 - t : t, expanded to the input's
// shape and gathered along time.
// REV:      %[[T:.*]] = graph.range {{.*}} -> tensor<?xi64>
// REV-NEXT: %[[TT:.*]] = graph.unsqueeze %[[T]] {axes = array<i64: 1, 2>} : (tensor<?xi64>) -> tensor<?x1x1xi64>
// REV-NEXT: %[[L:.*]] = graph.elementwise %l, %{{.*}} {kind = "min"}
// REV-NEXT: %[[LL:.*]] = graph.unsqueeze %[[L]] {axes = array<i64: 0, 2>} : (tensor<3xi64>) -> tensor<1x3x1xi64>
// REV:      graph.elementwise %[[TT]], %[[LL]] {kind = "less"} : {{.*}} -> tensor<?x3x1xi1>
// REV-NEXT: %[[IX:.*]] = graph.elementwise %{{.*}}, %{{.*}}, %[[TT]] {kind = "where"}
// REV:      %[[E:.*]] = graph.expand %[[IX]], %{{.*}} : (tensor<?x3x1xi64>, tensor<3xi64>) -> tensor<?x3x2xi64>
// REV-NEXT: %y = graph.gather_elements %x, %[[E]] {axis = 0 : i64}

// Lowered, the gather checks its run-time indices (a condition with a true entry past the
// axis is an error, not an out-of-bounds read) and no graph op is left.
// LOWER:     cf.assert %{{.*}}, "Gather: index out of range"
// LOWER-NOT: graph.{{[a-z_]+}} %
// LOWER-REV:     cf.assert %{{.*}}, "GatherElements: index out of range"
// LOWER-REV-NOT: graph.{{[a-z_]+}} %
