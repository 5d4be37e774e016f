// RUN: rm -rf %t && %python %inputs/make_onnx_op_models.py %t
// RUN: opt-tool %t/s2d_dcr.onnx | filecheck %s --check-prefix=DCR
// RUN: opt-tool %t/s2d_crd.onnx | filecheck %s --check-prefix=CRD
// RUN: opt-tool %t/s2d_dyn_n.onnx | filecheck %s --check-prefix=DYN
// RUN: opt-tool -p convert-graph-to-tensor %t/s2d_crd.onnx | filecheck %s --check-prefix=LOWER

// SpaceToDepth has no graph op: H and W split as (H/b, b) and (W/b, b), a transpose
// gathers the block dims (before C in DCR mode), a reshape merges them into the
// channels.
// DCR:      %[[R:.*]] = graph.reshape %x {shape = array<i64: 1, 3, 2, 2, 3, 2>} : (tensor<1x3x4x6xf32>) -> tensor<1x3x2x2x3x2xf32>
// DCR-NEXT: %[[T:.*]] = graph.transpose %[[R]] {perm = array<i64: 0, 3, 5, 1, 2, 4>} : {{.*}} -> tensor<1x2x2x3x2x3xf32>
// DCR-NEXT: %y = graph.reshape %[[T]] {shape = array<i64: 1, 12, 2, 3>} : {{.*}} -> tensor<1x12x2x3xf32>
// DCR-NEXT: func.return %y
// DCR-NOT:  graph.reshape_dynamic

// CRD (the mode attribute of opset 28) keeps C first.
// CRD:      graph.reshape %x {shape = array<i64: 1, 3, 2, 2, 3, 2>}
// CRD-NEXT: graph.transpose %{{.*}} {perm = array<i64: 0, 1, 3, 5, 2, 4>}
// CRD-NEXT: graph.reshape %{{.*}} {shape = array<i64: 1, 12, 2, 3>}

// One dynamic dim (the batch) is the -1 of a static graph.reshape: no shape vector.
// DYN:      graph.reshape %x {shape = array<i64: -1, 3, 2, 2, 3, 2>} : (tensor<?x3x4x6xf32>) -> tensor<?x3x2x2x3x2xf32>
// DYN-NEXT: graph.transpose %{{.*}} {perm = array<i64: 0, 3, 5, 1, 2, 4>}
// DYN-NEXT: graph.reshape %{{.*}} {shape = array<i64: -1, 12, 2, 3>} : {{.*}} -> tensor<?x12x2x3xf32>
// DYN-NOT:  graph.shape
// DYN-NOT:  graph.reshape_dynamic

// LOWER:     tensor.reshape %x
// LOWER:     linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d2, d5, d3)>
// LOWER:     tensor.reshape
// LOWER-NOT: graph.
