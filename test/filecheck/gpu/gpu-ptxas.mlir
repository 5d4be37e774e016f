// REQUIRES: ptxas
// RUN: translate-tool --emit=ptx --arch=sm_80 -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s -o %t.sm80.ptx
// RUN: ptxas -arch=sm_80 %t.sm80.ptx -o %t.sm80.cubin
// RUN: translate-tool --emit=ptx --arch=sm_90 -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s -o %t.sm90.ptx
// RUN: ptxas -arch=sm_90 %t.sm90.ptx -o %t.sm90.cubin
// RUN: translate-tool --emit=ptx --arch=sm_80 -p 'convert-graph-to-tensor,bufferize,gpu-tile-contractions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %S/gpu-tile-ptx.mlir -o %t.tile80.ptx
// RUN: ptxas -arch=sm_80 %t.tile80.ptx -o %t.tile80.cubin
// RUN: translate-tool --emit=ptx --arch=sm_90 -p 'convert-graph-to-tensor,bufferize,gpu-tile-contractions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %S/gpu-tile-ptx.mlir -o %t.tile90.ptx
// RUN: ptxas -arch=sm_90 %t.tile90.ptx -o %t.tile90.cubin
// RUN: translate-tool --emit=ptx --arch=sm_80 -p 'convert-graph-to-tensor,bufferize,gpu-block-reductions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %inputs/softmax-rows.mlir -o %t.reduce80.ptx
// RUN: ptxas -arch=sm_80 %t.reduce80.ptx -o %t.reduce80.cubin
// RUN: translate-tool --emit=ptx --arch=sm_90 -p 'convert-graph-to-tensor,bufferize,gpu-block-reductions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %inputs/softmax-rows.mlir -o %t.reduce90.ptx
// RUN: ptxas -arch=sm_90 %t.reduce90.ptx -o %t.reduce90.cubin

// The PTX of a softmax over a gemm with bias and of erf/tanh/exp math (inline and
// libdevice) assembles with ptxas for sm_80 and sm_90; so do the shared-memory tiled
// conv and matmul kernels of gpu-tile-ptx.mlir and the block-reduction softmax of
// Inputs/softmax-rows.mlir.

builtin.module attributes {graph.weights = "mem:0"} {
  func.func @main(%x: tensor<?x16xf32> {graph.name = "x", graph.dims = ["n", ""]}, %w: tensor<8x16xf32> {graph.name = "w"}, %b: tensor<8xf32> {graph.name = "b"}) -> (tensor<?x8xf32> {graph.name = "y"}) {
    %g = graph.gemm %x, %w bias(%b : tensor<8xf32>) {trans_b = 1 : i64} : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
    %e = graph.elementwise %g {kind = "erf"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    %s = graph.elementwise %e {kind = "sinh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    %y = graph.softmax %s {axis = 1 : i64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    func.return %y : tensor<?x8xf32>
  }
}
