// RUN: opt-tool %s -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' | filecheck %s --check-prefix=NVVM
// RUN: translate-tool --emit=ptx -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s | filecheck %s --check-prefix=PTX
// RUN: translate-tool --emit=ptx --arch=sm_90 -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s | filecheck %s --check-prefix=SM90
// RUN: not translate-tool --emit=ptx --arch=sm_12 -p 'convert-graph-to-tensor,bufferize,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s 2>&1 | filecheck %s --check-prefix=ARCH

// A matmul with a dynamic row count (a zero fill, then the product), then atan (libdevice) and a relu: the kernels are
// internal llvm.funcs over descriptors reading NVVM special registers; their float
// multiply-adds are contractable and atan calls libdevice. In PTX each is an .entry
// whose loads come from the global space, with fma.rn.f32 and libdevice's code inlined.

// NVVM: "gpu.module"() <{sym_name = "kernels"}>
// NVVM: llvm.func internal @main_kernel_0.body(%{{.*}}: i64, %{{.*}}: !llvm.struct<(!llvm.ptr, !llvm.ptr, i64, !llvm.array<2 x i64>, !llvm.array<2 x i64>)>
// NVVM: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.ctaid.x"() : () -> i32
// NVVM: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.ntid.x"() : () -> i32
// NVVM: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.x"() : () -> i32
// NVVM: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.nctaid.x"() : () -> i32
// NVVM: llvm.fmul {{.*}} {fastmathFlags = #llvm.fastmath<contract>} : f32
// NVVM: llvm.fadd {{.*}} {fastmathFlags = #llvm.fastmath<contract>} : f32
// NVVM: llvm.call @__nv_atanf(%{{.*}}) : (f32) -> f32
// NVVM: llvm.func @__nv_atanf(f32) -> f32
// NVVM: kiln.kernels = ["main_kernel_0", "main_kernel_1", "main_kernel_2", "main_kernel_3"]
// NVVM-NOT: gpu.func
// NVVM-NOT: gpu.thread_id
// NVVM-NOT: llvm.call @atanf

// PTX: .target sm_80
// PTX: .visible .entry main_kernel_0(
// PTX: st.global
// PTX: .visible .entry main_kernel_1(
// PTX: mov.u32 {{.*}}%ctaid.x
// PTX: ld.global
// PTX: fma.rn.f32
// PTX: st.global
// PTX: .visible .entry main_kernel_2(
// PTX: .visible .entry main_kernel_3(
// PTX: max.NaN.f32
// PTX-NOT: __nv_atanf
// PTX-NOT: .extern

// SM90: .version 7.8
// SM90: .target sm_90

// ARCH: translate-tool: error: unknown CUDA architecture 'sm_12'; supported: sm_75, sm_80

builtin.module attributes {graph.weights = "mem:0"} {
  func.func @main(%a: tensor<?x64xf32> {graph.name = "a", graph.dims = ["n", ""]}, %b: tensor<64x32xf32> {graph.name = "b"}) -> (tensor<?x32xf32> {graph.name = "y"}) {
    %m = graph.matmul %a, %b : tensor<?x64xf32>, tensor<64x32xf32> -> tensor<?x32xf32>
    %t = graph.elementwise %m {kind = "atan"} : (tensor<?x32xf32>) -> tensor<?x32xf32>
    %y = graph.relu %t : (tensor<?x32xf32>) -> tensor<?x32xf32>
    func.return %y : tensor<?x32xf32>
  }
}
