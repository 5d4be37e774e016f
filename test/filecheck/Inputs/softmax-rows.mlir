// A softmax over rows of a dynamic length (input of gpu/gpu-reduce.mlir).
builtin.module attributes {graph.weights = "mem:0"} {
  func.func @main(%x: tensor<?x?xf32> {graph.name = "x", graph.dims = ["n", "len"]}) -> (tensor<?x?xf32> {graph.name = "y"}) {
    %y = graph.softmax %x {axis = 1 : i64} : (tensor<?x?xf32>) -> tensor<?x?xf32>
    func.return %y : tensor<?x?xf32>
  }
}
