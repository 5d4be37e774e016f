func.func @main() -> tensor<4611686018427387904xf32> {
  %r = graph.constant dense<1.0> : tensor<4611686018427387904xf32>
  func.return %r : tensor<4611686018427387904xf32>
}
