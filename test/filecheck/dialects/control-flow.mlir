// RUN: opt-tool %s --split-input-file | filecheck %s
// RUN: opt-tool %s --split-input-file | opt-tool --split-input-file | filecheck %s
// RUN: opt-tool %s --split-input-file -p cse,dce,fold,fuse | filecheck %s --check-prefix=OPT

// graph.if: a one-element i1 condition, two regions ending in graph.yield; regions use
// outer values directly.
// CHECK-LABEL: func.func @if
// CHECK: %{{.*}} = graph.if %c : tensor<i1> -> (tensor<5xf32>) {
// CHECK-NEXT: %[[A:.*]] = graph.relu %x : (tensor<5xf32>) -> tensor<5xf32>
// CHECK-NEXT: graph.yield %[[A]] : tensor<5xf32>
// CHECK-NEXT: } else {
// CHECK-NEXT: graph.yield %x : tensor<5xf32>
// CHECK-NEXT: }
// OPT-LABEL: func.func @if
// OPT: graph.if
// OPT: graph.relu
func.func @if(%c: tensor<i1>, %x: tensor<5xf32>) -> tensor<5xf32> {
  %r = graph.if %c : tensor<i1> -> (tensor<5xf32>) {
    %a = graph.relu %x : (tensor<5xf32>) -> tensor<5xf32>
    graph.yield %a : tensor<5xf32>
  } else {
    graph.yield %x : tensor<5xf32>
  }
  func.return %r : tensor<5xf32>
}

// -----

// graph.loop: optional max_trip and cond, loop-carried values, scan outputs stacked on
// a new axis 0. A constant inside the body still folds there.
// CHECK-LABEL: func.func @loop
// CHECK: %{{.*}}, %{{.*}} = graph.loop max_trip(%m : tensor<i64>) cond(%c : tensor<i1>) iter_args(%x : tensor<5xf32>) -> (tensor<5xf32>, tensor<?x5xf32>) {
// CHECK-NEXT: ^{{.*}}(%i: tensor<i64>, %ci: tensor<i1>, %yi: tensor<5xf32>):
// CHECK: graph.yield %ci, %{{.*}}, %{{.*}} : tensor<i1>, tensor<5xf32>, tensor<5xf32>
// OPT-LABEL: func.func @loop
// OPT: graph.loop
// OPT-NEXT: ^
// OPT-NEXT: graph.constant dense<2.000000e+00> : tensor<5xf32>
// OPT-NEXT: graph.add
func.func @loop(%c: tensor<i1>, %x: tensor<5xf32>, %m: tensor<i64>) -> (tensor<5xf32>, tensor<?x5xf32>) {
  %y, %s = graph.loop max_trip(%m : tensor<i64>) cond(%c : tensor<i1>) iter_args(%x : tensor<5xf32>) -> (tensor<5xf32>, tensor<?x5xf32>) {
  ^bb0(%i: tensor<i64>, %ci: tensor<i1>, %yi: tensor<5xf32>):
    %one = graph.constant dense<1.0> : tensor<5xf32>
    %two = graph.add %one, %one : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
    %n = graph.add %yi, %two : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
    graph.yield %ci, %n, %n : tensor<i1>, tensor<5xf32>, tensor<5xf32>
  }
  func.return %y, %s : tensor<5xf32>, tensor<?x5xf32>
}

// -----

// graph.scan: states and scan inputs; axes and directions are properties.
// CHECK-LABEL: func.func @scan
// CHECK: graph.scan state(%s0 : tensor<2xf32>) inputs(%x : tensor<3x2xf32>) -> (tensor<2xf32>, tensor<2x3xf32>) {
// CHECK: } {input_axes = array<i64: 0>, input_directions = array<i64: 1>, output_axes = array<i64: 1>, output_directions = array<i64: 0>}
func.func @scan(%s0: tensor<2xf32>, %x: tensor<3x2xf32>) -> (tensor<2xf32>, tensor<2x3xf32>) {
  %s, %o = graph.scan state(%s0 : tensor<2xf32>) inputs(%x : tensor<3x2xf32>) -> (tensor<2xf32>, tensor<2x3xf32>) {
  ^bb0(%acc: tensor<2xf32>, %xs: tensor<2xf32>):
    %n = graph.add %acc, %xs : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    graph.yield %n, %n : tensor<2xf32>, tensor<2xf32>
  } {input_axes = array<i64: 0>, input_directions = array<i64: 1>, output_axes = array<i64: 1>, output_directions = array<i64: 0>}
  func.return %s, %o : tensor<2xf32>, tensor<2x3xf32>
}

// -----

// graph.rnn: one op for LSTM/GRU/RNN with optional operands by keyword.
// CHECK-LABEL: func.func @gru
// CHECK: %{{.*}}, %{{.*}} = graph.rnn %x, %w, %r bias(%b : tensor<2x18xf32>) initial_h(%h : tensor<2x1x3xf32>) {kind = "gru", direction = "bidirectional", hidden_size = 3 : i64, activations = ["sigmoid", "tanh", "sigmoid", "tanh"], activation_alpha = array<f32: 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00>, activation_beta = array<f32: 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00>, linear_before_reset = 1 : i64} : tensor<2x1x2xf32>, tensor<2x9x2xf32>, tensor<2x9x3xf32> -> tensor<2x2x1x3xf32>, tensor<2x1x3xf32>
func.func @gru(%x: tensor<2x1x2xf32>, %w: tensor<2x9x2xf32>, %r: tensor<2x9x3xf32>, %b: tensor<2x18xf32>, %h: tensor<2x1x3xf32>) -> (tensor<2x2x1x3xf32>, tensor<2x1x3xf32>) {
  %y, %yh = graph.rnn %x, %w, %r bias(%b : tensor<2x18xf32>) initial_h(%h : tensor<2x1x3xf32>) {kind = "gru", direction = "bidirectional", hidden_size = 3 : i64, activations = ["sigmoid", "tanh", "sigmoid", "tanh"], activation_alpha = array<f32: 0.0, 0.0, 0.0, 0.0>, activation_beta = array<f32: 0.0, 0.0, 0.0, 0.0>, linear_before_reset = 1 : i64} : tensor<2x1x2xf32>, tensor<2x9x2xf32>, tensor<2x9x3xf32> -> tensor<2x2x1x3xf32>, tensor<2x1x3xf32>
  func.return %y, %yh : tensor<2x2x1x3xf32>, tensor<2x1x3xf32>
}
