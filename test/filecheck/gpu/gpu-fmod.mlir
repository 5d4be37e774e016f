// RUN: opt-tool %s -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' | filecheck %s
// RUN: translate-tool --emit=ptx -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s | filecheck %s --check-prefix=PTX

// Float Mod (fmod) is llvm.frem at the loop level; NVPTX would expand it inexactly as
// x - trunc(x / y) * y, so the kernel calls libdevice's exact fmod (inlined in PTX).
// CHECK:     llvm.func internal @main_kernel_0.body
// CHECK:     llvm.call @__nv_fmodf(%{{.*}}, %{{.*}}) : (f32, f32) -> f32
// CHECK:     llvm.call @__nv_fmod(%{{.*}}, %{{.*}}) : (f64, f64) -> f64
// CHECK-NOT: llvm.frem
// PTX:       .visible .entry main_kernel_0(
// PTX-NOT:   .extern
func.func @main(%a: tensor<64xf32>, %b: tensor<64xf32>, %c: tensor<64xf64>, %d: tensor<64xf64>) -> (tensor<64xf32>, tensor<64xf64>) {
  %r = graph.elementwise %a, %b {kind = "mod", params = array<f64: 1.000000e+00>} : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  %s = graph.elementwise %c, %d {kind = "mod", params = array<f64: 1.000000e+00>} : (tensor<64xf64>, tensor<64xf64>) -> tensor<64xf64>
  func.return %r, %s : tensor<64xf32>, tensor<64xf64>
}
