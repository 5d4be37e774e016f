func.func @main(%a: tensor<9223372036854775807xf32>) -> tensor<9223372036854775807xf32> {
  %r = graph.relu %a : (tensor<9223372036854775807xf32>) -> tensor<9223372036854775807xf32>
  func.return %r : tensor<9223372036854775807xf32>
}
