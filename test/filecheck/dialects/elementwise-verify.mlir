// RUN: opt-tool %s --split-input-file --verify-diagnostics

func.func @main(%x: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error@+1 {{graph.elementwise 'sin': element type i32 is not supported (allowed: float)}}
  %a = graph.elementwise %x {kind = "sin"} : (tensor<4xi32>) -> tensor<4xi32>
  func.return %a : tensor<4xi32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{graph.elementwise 'less': result element type must be i1}}
  %a = graph.elementwise %x, %x {kind = "less"} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %a : tensor<4xf32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{graph.elementwise: unknown kind 'frobnicate'}}
  %a = graph.elementwise %x {kind = "frobnicate"} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %a : tensor<4xf32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{graph.elementwise 'leaky_relu': expects 1 params (alpha), got 0}}
  %a = graph.elementwise %x {kind = "leaky_relu"} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %a : tensor<4xf32>
}
