// RUN: translate-tool --emit=ptx -p 'convert-graph-to-tensor,bufferize,gpu-tile-contractions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s | filecheck %s
// RUN: opt-tool -p 'convert-graph-to-tensor,bufferize,gpu-tile-contractions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %s | filecheck %s --check-prefix=NVVM
// (gpu-ptxas.mlir assembles this file's PTX with ptxas for sm_80 and sm_90.)

// A strided conv (C_out 32) and a matmul, tiled: their kernels stage the operand slices
// in .shared arrays (one pair per kernel, 16x33 floats each), synchronize with bar.sync,
// read the slices with ld.shared and accumulate with fma.rn.f32. The workgroup buffers
// are trailing arguments of the kernel bodies, listed in kiln.shared, not parameters.

// NVVM: llvm.call_intrinsic "llvm.nvvm.barrier.cta.sync.aligned.all"(%{{.*}}) : (i32) -> ()
// NVVM: kiln.kernels = [{{.*}}"main_tiled_0"{{.*}}"main_tiled_1"
// NVVM-SAME: kiln.shared = {main_tiled_0 = [memref<16x33xf32>, memref<16x33xf32>], main_tiled_1 = [memref<16x33xf32>, memref<16x33xf32>]}
// NVVM-NOT: gpu.barrier
// NVVM-NOT: memref.alloca

// CHECK: .visible .entry main_tiled_0(
// CHECK: .shared .align 16 .b8 main_tiled_0{{.*}}shared[2112];
// CHECK: .shared .align 16 .b8 main_tiled_0{{.*}}shared{{.*}}[2112];
// CHECK: ld.global
// CHECK: bar.sync 0;
// CHECK: st.shared.b32
// CHECK: bar.sync 0;
// CHECK: ld.shared.b32
// CHECK: fma.rn.f32
// CHECK: .visible .entry main_tiled_1(
// CHECK: bar.sync 0;
// CHECK: ld.shared.b32
// CHECK: fma.rn.f32
// CHECK-NOT: .extern

builtin.module attributes {graph.weights = "mem:0"} {
  func.func @main(%x: tensor<?x3x16x16xf32> {graph.name = "x", graph.dims = ["n", "", "", ""]}, %w: tensor<32x3x3x3xf32> {graph.name = "w"}, %a: tensor<?x40xf32> {graph.name = "a", graph.dims = ["m", ""]}, %b: tensor<40x24xf32> {graph.name = "b"}) -> (tensor<?x32x8x8xf32> {graph.name = "y"}, tensor<?x24xf32> {graph.name = "z"}) {
    %y = graph.conv %x, %w {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : tensor<?x3x16x16xf32>, tensor<32x3x3x3xf32> -> tensor<?x32x8x8xf32>
    %z = graph.matmul %a, %b : tensor<?x40xf32>, tensor<40x24xf32> -> tensor<?x24xf32>
    func.return %y, %z : tensor<?x32x8x8xf32>, tensor<?x24xf32>
  }
}
