// opt-tool --emit=dot: the graph dialect as a Graphviz graph (compiler/graph_dot.py).
// RUN: opt-tool --emit=dot %s | filecheck %s
// RUN: opt-tool --emit=dot %S/../../../examples/models/cnn.onnx | filecheck %s --check-prefix=CNN
// RUN: opt-tool --emit=dot --before-after=O2 %S/../../../examples/models/cnn.onnx | filecheck %s --check-prefix=O2
// RUN: opt-tool -t dot %S/../../../examples/models/cnn.onnx | filecheck %s --check-prefix=TARGET
// RUN: not opt-tool --before-after=O2 %s 2>&1 | filecheck %s --check-prefix=NOEMIT
// RUN: not opt-tool --emit=dot --before-after=nope %s 2>&1 | filecheck %s --check-prefix=BADPIPE

// Regions are clusters (the op's node, one cluster per region), constants fold into the
// ops that use them, yields feed the op's results node, edges carry the types.
// CHECK:       digraph "opt-dot.mlir" {
// CHECK:       [[C:n[0-9]+]] [label=<<B>c</B><BR/><FONT POINT-SIZE="9">i1</FONT>>
// CHECK:       [[X:n[0-9]+]] [label=<<B>x</B><BR/><FONT POINT-SIZE="9">5xf32</FONT>>
// CHECK:       subgraph cluster_{{.*}} {
// CHECK-NEXT:    label="if";
// CHECK-NEXT:    [[IF:n[0-9]+]] [label=<<B>if</B>
// CHECK-NEXT:    subgraph cluster_{{.*}} {
// CHECK-NEXT:      label="then";
// CHECK-NEXT:      [[RELU:n[0-9]+]] [label=<<B>relu</B>
// CHECK-NEXT:      [[Y1:n[0-9]+]] [label=<<B>yield</B>>
// CHECK-NEXT:    }
// CHECK-NEXT:    subgraph cluster_{{.*}} {
// CHECK-NEXT:      label="else";
// CHECK-NEXT:      [[Y2:n[0-9]+]] [label=<<B>yield</B><BR/><FONT POINT-SIZE="9">= const splat 2 : 5xf32</FONT>>
// CHECK-NEXT:    }
// CHECK-NEXT:    [[RES:n[0-9]+]] [label="if results"
// CHECK-NEXT:  }
// CHECK-NOT:   graph.constant
// CHECK:       [[ADD:n[0-9]+]] [label=<<B>add</B>{{.*}}rhs: const [1, 2, 3, 4] : 4xf32
// CHECK:       [[OUT:n[0-9]+]] [label=<<B>result 0</B>
// CHECK-DAG:   [[C]] -> [[IF]] [label="i1"];
// CHECK-DAG:   [[X]] -> [[RELU]] [label="5xf32"];
// CHECK-DAG:   [[RELU]] -> [[Y1]] [label="5xf32"];
// CHECK-DAG:   [[Y1]] -> [[RES]] [style=dashed];
// CHECK-DAG:   [[Y2]] -> [[RES]] [style=dashed];
// CHECK-DAG:   [[RES]] -> [[OUT]] [label="5xf32"];
func.func @main(%c: tensor<i1>, %x: tensor<5xf32>, %v: tensor<4xf32>) -> (tensor<5xf32>, tensor<4xf32>) {
  %r = graph.if %c : tensor<i1> -> (tensor<5xf32>) {
    %a = graph.relu %x : (tensor<5xf32>) -> tensor<5xf32>
    graph.yield %a : tensor<5xf32>
  } else {
    %two = graph.constant dense<2.0> : tensor<5xf32>
    graph.yield %two : tensor<5xf32>
  }
  %k = graph.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %s = graph.add %v, %k : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %r, %s : tensor<5xf32>, tensor<4xf32>
}

// The bundled cnn model. Weights are lines of their consumers, not nodes; defaults are
// left out.
// CNN:         digraph "cnn.onnx" {
// CNN:         [[IN:n[0-9]+]] [label=<<B>input</B><BR/><FONT POINT-SIZE="9">1x3x16x16xf32</FONT>>
// CNN-NEXT:    [[CONV:n[0-9]+]] [label=<<B>conv</B><BR/><FONT POINT-SIZE="9" COLOR="#495057">conv1</FONT><BR/><FONT POINT-SIZE="9">pads 1, 1, 1, 1</FONT><BR/><FONT POINT-SIZE="9">weight: conv1.weight 8x3x3x3xf32</FONT><BR/><FONT POINT-SIZE="9">bias: conv1.bias 8xf32</FONT>>
// CNN-NEXT:    [[BN:n[0-9]+]] [label=<<B>batch_norm</B>
// CNN-NOT:     <B>weight</B>
// CNN:         [[FC:n[0-9]+]] [label=<<B>gemm</B>{{.*}}trans_b 1{{.*}}b: fc.weight 10x8xf32{{.*}}c: fc.bias 10xf32
// CNN-NEXT:    [[OUT:n[0-9]+]] [label=<<B>output</B><BR/><FONT POINT-SIZE="9">1x10xf32</FONT>>
// CNN:         [[IN]] -> [[CONV]] [label="1x3x16x16xf32"];
// CNN-NEXT:    [[CONV]] -> [[BN]] [label="1x8x16x16xf32"];
// CNN:         [[FC]] -> [[OUT]] [label="1x10xf32"];

// --before-after: two clusters; the fused convs are orange, what they absorbed dashed.
// O2:          digraph "cnn.onnx before / after O2" {
// O2:          subgraph cluster_b {
// O2-NEXT:       label="cnn.onnx before"
// O2:            b_n{{[0-9]+}} [label=<<B>batch_norm</B>{{.*}}style="rounded,filled,dashed"];
// O2:          subgraph cluster_a {
// O2-NEXT:       label="after O2"
// O2:            a_n{{[0-9]+}} [label=<<B>conv</B><BR/><FONT POINT-SIZE="9" COLOR="#495057">relu1</FONT>{{.*}}act relu{{.*}}weight: conv1.weight.mul 8x3x3x3xf32{{.*}}fillcolor="#ffc078"
// O2:            a_n{{[0-9]+}} [label=<<B>max_pool</B>{{.*}}fillcolor="#e7f0fb"
// O2:          a_n{{[0-9]+}} -> a_n{{[0-9]+}} [label="residual: 1x8x8x8xf32"];
// O2:          label="orange: fused by the pipeline

// -t dot is the same writer.
// TARGET:      digraph "main" {
// TARGET:      <B>conv</B>

// NOEMIT:      opt-tool: --before-after draws the graph before and after a pipeline: use it with --emit=dot, svg or png
// BADPIPE:     opt-tool: bad pass pipeline 'nope'
