// RUN: rm -rf %t && %python %S/../../../examples/make_models.py --out %t
// RUN: opt-tool %t/cnn.onnx | filecheck %s --check-prefix=IMPORT
// RUN: opt-tool --pipeline=fuse,fold %t/cnn.onnx | filecheck %s --check-prefix=FUSED
// RUN: opt-tool %t/mlp.onnx | filecheck %s --check-prefix=MLP
// RUN: opt-tool %t/cnn.onnx > %t/cnn.mlir && opt-tool %t/cnn.mlir > %t/cnn2.mlir && diff %t/cnn.mlir %t/cnn2.mlir
// RUN: opt-tool %t/mlp.onnx > %t/mlp.mlir && opt-tool %t/mlp.mlir | diff %t/mlp.mlir -
// RUN: opt-tool %t/mlp.onnx --print-debuginfo | filecheck %s --check-prefix=LOC

// Importing the bundled CNN: weights by name, file-backed weight store.
// IMPORT:      builtin.module attributes {graph.weights = "file:{{.*}}cnn.onnx"}
// IMPORT:      func.func @main(%input: tensor<1x3x16x16xf32> {graph.name = "input", graph.dims = ["", "", "", ""]}) -> (tensor<1x10xf32> {graph.name = "output"})
// IMPORT:      graph.weight "conv1.weight" : tensor<8x3x3x3xf32>
// IMPORT:      graph.conv
// IMPORT:      graph.batch_norm
// IMPORT:      graph.relu
// IMPORT:      graph.max_pool
// IMPORT:      graph.conv
// IMPORT:      graph.batch_norm
// IMPORT:      graph.add
// IMPORT:      graph.relu
// IMPORT:      graph.global_avg_pool
// IMPORT:      graph.reshape %{{.*}} {shape = array<i64: 1, 8>}
// IMPORT:      graph.gemm

// fuse,fold: two convs carry BN (folded into new weights), the residual and the relus.
// FUSED-NOT:   graph.batch_norm
// FUSED:       %[[W1:.*]] = graph.weight "conv1.weight.mul{{.*}}" : tensor<8x3x3x3xf32>
// FUSED:       %[[C1:.*]] = graph.conv %input, %[[W1]] bias(%{{.*}} : tensor<8xf32>) {{{.*}}act = "relu"}
// FUSED:       %[[P:.*]] = graph.max_pool %[[C1]]
// FUSED:       graph.conv %[[P]], %{{.*}} bias(%{{.*}} : tensor<8xf32>) residual(%[[P]] : tensor<1x8x8x8xf32>) {{{.*}}act = "relu"}
// FUSED-NOT:   graph.batch_norm
// FUSED-NOT:   graph.add
// FUSED-NOT:   graph.relu

// The MLP keeps its symbolic batch dim.
// MLP:         func.func @main(%x: tensor<?x32xf32> {graph.name = "x", graph.dims = ["batch", ""]}) -> (tensor<?x10xf32> {graph.name = "y"})
// MLP-COUNT-3: graph.gemm

// Node names are op locations.
// LOC:         graph.gemm {{.*}} loc("fc0")
