// RUN: rm -rf %t && %python %inputs/make_onnx_op_models.py %t
// RUN: opt-tool %t/d2s_dcr.onnx | filecheck %s --check-prefix=DCR
// RUN: opt-tool %t/d2s_crd.onnx | filecheck %s --check-prefix=CRD
// RUN: opt-tool -p cse %t/d2s_dyn.onnx | filecheck %s --check-prefix=DYN
// RUN: opt-tool -p convert-graph-to-tensor %t/d2s_dcr.onnx | filecheck %s --check-prefix=LOWER

// DepthToSpace has no graph op: [N, C, H, W] -> reshape -> transpose -> reshape.
// DCR splits the channels as (b, b, C/b²) and moves both block dims behind H and W.
// DCR:      %[[R:.*]] = graph.reshape %x {shape = array<i64: 1, 2, 2, 2, 3, 4>} : (tensor<1x8x3x4xf32>) -> tensor<1x2x2x2x3x4xf32>
// DCR-NEXT: %[[T:.*]] = graph.transpose %[[R]] {perm = array<i64: 0, 3, 4, 1, 5, 2>} : {{.*}} -> tensor<1x2x3x2x4x2xf32>
// DCR-NEXT: %y = graph.reshape %[[T]] {shape = array<i64: 1, 2, 6, 8>} : {{.*}} -> tensor<1x2x6x8xf32>
// DCR-NEXT: func.return %y
// DCR-NOT:  graph.reshape_dynamic
// DCR-NOT:  graph.shape

// CRD splits them as (C/b², b, b).
// CRD:      graph.reshape %x {shape = array<i64: 1, 2, 2, 2, 3, 4>}
// CRD-NEXT: graph.transpose %{{.*}} {perm = array<i64: 0, 1, 4, 2, 5, 3>}
// CRD-NEXT: graph.reshape %{{.*}} {shape = array<i64: 1, 2, 6, 8>}

// Several dynamic dims: the targets are run-time vectors of graph.shape slices (C/4 by
// graph.div, H*2 and W*2 by graph.mul), read by graph.reshape_dynamic (allowzero: a 0
// from an empty dim is a size).
// DYN:      %[[N:.*]] = graph.shape %x {start = 0 : i64, end = 1 : i64}
// DYN:      %[[BB:.*]] = graph.constant dense<2> : tensor<2xi64>
// DYN:      %[[C:.*]] = graph.shape %x {start = 1 : i64, end = 2 : i64}
// DYN:      %[[CB:.*]] = graph.div %[[C]], %{{.*}}
// DYN:      %[[H:.*]] = graph.shape %x {start = 2 : i64, end = 3 : i64}
// DYN:      %[[W:.*]] = graph.shape %x {start = 3 : i64, end = 4 : i64}
// DYN:      %[[S:.*]] = graph.concat %[[N]], %[[BB]], %[[CB]], %[[H]], %[[W]] {axis = 0 : i64}
// DYN:      %[[R:.*]] = graph.reshape_dynamic %x, %[[S]] {allowzero = 1 : i64} : {{.*}} -> tensor<?x2x2x?x?x?xf32>
// DYN:      %[[T:.*]] = graph.transpose %[[R]] {perm = array<i64: 0, 3, 4, 1, 5, 2>}
// DYN:      %[[H2:.*]] = graph.mul %[[H]], %{{.*}}
// DYN:      %[[W2:.*]] = graph.mul %[[W]], %{{.*}}
// DYN:      %[[S2:.*]] = graph.concat %[[N]], %[[CB]], %[[H2]], %[[W2]] {axis = 0 : i64}
// DYN:      %y = graph.reshape_dynamic %[[T]], %[[S2]] {allowzero = 1 : i64} : {{.*}} -> tensor<?x?x?x?xf32>

// Lowered: tensor.reshape, a permuting linalg.generic, tensor.reshape; no graph op is left.
// LOWER:     tensor.reshape %x
// LOWER:     linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d3, d5, d1, d2, d4)>
// LOWER:     tensor.reshape
// LOWER-NOT: graph.
