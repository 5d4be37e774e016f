// RUN: rm -rf %t && %python %inputs/make_onnx_op_models.py %t
// RUN: opt-tool %t/eye_static.onnx | filecheck %s --check-prefix=STATIC
// RUN: opt-tool %t/eye_dyn.onnx | filecheck %s --check-prefix=DYN
// RUN: opt-tool -p convert-graph-to-tensor %t/eye_dyn.onnx | filecheck %s --check-prefix=LOWER

// EyeLike of a static shape is a constant: the input is not read at all.
// STATIC:      %y = graph.constant dense<{{\[\[}}0.000000e+00, 1.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 1.000000e+00]]> : tensor<2x3xf32>
// STATIC-NEXT: func.return %y
// STATIC-NOT:  graph.trilu
// STATIC-NOT:  graph.constant_of_shape

// A dynamic shape: ones of the input's shape (in `dtype`), then triu and tril at k.
// DYN:      %[[S:.*]] = graph.shape %x {start = 0 : i64, end = 2 : i64}
// DYN-NEXT: %[[ONES:.*]] = graph.constant_of_shape %[[S]] {value = dense<1> : tensor<1xi32>} : (tensor<2xi64>) -> tensor<?x3xi32>
// DYN-NEXT: %[[K:.*]] = graph.constant dense<-1> : tensor<i64>
// DYN-NEXT: %[[U:.*]] = graph.trilu %[[ONES]], %[[K]] : (tensor<?x3xi32>, tensor<i64>) -> tensor<?x3xi32>
// DYN-NEXT: %y = graph.trilu %[[U]], %[[K]] {upper = 0 : i64} : (tensor<?x3xi32>, tensor<i64>) -> tensor<?x3xi32>

// LOWER:     linalg.fill
// LOWER:     linalg.generic
// LOWER:     %y = linalg.generic
// LOWER-NOT: graph.
