func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %c = graph.constant dense<1.0e39> : tensor<4xf32>
  %r = graph.add %a, %c : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}
