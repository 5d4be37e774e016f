// RUN: opt-tool %s --split-input-file -p fuse | filecheck %s

// Elementwise chains become one graph.fused op; splat constants move into the body.

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    (%[[X:.*]]: tensor<2x4xf32>, %[[Y:.*]]: tensor<4xf32>)
// CHECK-NEXT:    %[[F:.*]] = graph.fused(%[[X]], %[[Y]]) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32):
// CHECK-NEXT:      %[[H:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT:      %[[M:.*]] = arith.mulf %[[A]], %[[H]] : f32
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[M]], %[[B]] : f32
// CHECK-NEXT:      %[[T:.*]] = math.tanh %[[S]] : f32
// CHECK-NEXT:      graph.fused_yield %[[T]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[F]]
// CHECK-NOT:     graph.mul
// CHECK-NOT:     graph.tanh
func.func @chain(%x: tensor<2x4xf32>, %y: tensor<4xf32>) -> tensor<2x4xf32> {
  %h = graph.constant dense<0.5> : tensor<1xf32>
  %m = graph.mul %x, %h : (tensor<2x4xf32>, tensor<1xf32>) -> tensor<2x4xf32>
  %s = graph.add %m, %y : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %t = graph.tanh %s : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %t : tensor<2x4xf32>
}

// -----

// Negative: an intermediate with two uses, a producer that is broadcast by its consumer,
// and a lone elementwise op stay as they are.

// CHECK-LABEL: func.func @no_chain
// CHECK-NOT:     graph.fused
func.func @no_chain(%x: tensor<4xf32>, %z: tensor<2x4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<2x4xf32>) {
  %e = graph.exp %x : (tensor<4xf32>) -> tensor<4xf32>
  %n = graph.neg %e : (tensor<4xf32>) -> tensor<4xf32>
  %s = graph.sqrt %x : (tensor<4xf32>) -> tensor<4xf32>
  %b = graph.add %s, %z : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %e, %n, %b : tensor<4xf32>, tensor<4xf32>, tensor<2x4xf32>
}

// -----

// GELU after a matmul becomes its activation; LayerNorm absorbs its scale and bias.

// CHECK-LABEL: func.func @gelu_layer_norm
// CHECK:         %[[M:.*]] = graph.matmul %{{.*}}, %{{.*}} {act = "gelu"}
// CHECK:         graph.layer_norm %[[M]] scale(%{{.*}} : tensor<4xf32>) bias(%{{.*}} : tensor<4xf32>) {axis = 1 : i64
// CHECK-NOT:     graph.gelu
// CHECK-NOT:     graph.mul
// CHECK-NOT:     graph.add
func.func @gelu_layer_norm(%x: tensor<2x3xf32>, %w: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %s = graph.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %m = graph.matmul %x, %w : tensor<2x3xf32>, tensor<3x4xf32> -> tensor<2x4xf32>
  %g = graph.gelu %m : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %l = graph.layer_norm %g {axis = 1 : i64} : tensor<2x4xf32> -> tensor<2x4xf32>
  %a = graph.mul %l, %s : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %b = graph.add %s, %a : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %b : tensor<2x4xf32>
}

// -----

// BatchNorm after a Gemm folds into its weight and C; a residual Add feeds a MatMul bias.

// CHECK-LABEL: func.func @gemm_bn_residual
// CHECK:         graph.gemm %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<2xf32>)
// CHECK:         graph.matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<2x2xf32>) {act = "relu"}
// CHECK-NOT:     graph.batch_norm
// CHECK-NOT:     graph.relu
func.func @gemm_bn_residual(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>, %r: tensor<2x2xf32>, %v: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %p = graph.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = graph.gemm %x, %w : tensor<2x3xf32>, tensor<3x2xf32> -> tensor<2x2xf32>
  %b = graph.batch_norm %y, %p, %p, %p, %p : (tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %m = graph.matmul %r, %v : tensor<2x2xf32>, tensor<2x2xf32> -> tensor<2x2xf32>
  %a = graph.add %r, %m : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %z = graph.relu %a : (tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %b, %z : tensor<2x2xf32>, tensor<2x2xf32>
}
