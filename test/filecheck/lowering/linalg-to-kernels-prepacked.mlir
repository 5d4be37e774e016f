// RUN: opt-tool %s -p lower-contractions-to-kernels | filecheck %s
// RUN: translate-tool --pipeline=lower-contractions-to-kernels,lower-linalg-to-loops,convert-to-llvm %s | filecheck %s --check-prefix=LLVM

// B is a weight argument: the first call packs it (kiln_sgemm_f32_pack_b) into a buffer
// kept in a zero-initialized global of this call site, every call then runs the kernel
// on the packed panels. An activation as B is packed by the kernel at each call.
// CHECK:       builtin.module attributes {kiln.packed_weights = ["kiln_packed_b_0"]}
// CHECK-LABEL: func.func @linear
// CHECK:         %[[SLOT:.*]] = llvm.mlir.addressof @kiln_packed_b_0 : !llvm.ptr
// CHECK:         %[[OLD:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> i64
// CHECK:         %[[FIRST:.*]] = arith.cmpi eq, %[[OLD]], %{{.*}} : i64
// CHECK:         scf.if %[[FIRST]] {
// CHECK-NEXT:      %[[P:.*]] = llvm.call @kiln_sgemm_f32_pack_b(
// CHECK-NEXT:      llvm.store %[[P]], %[[SLOT]] : i64, !llvm.ptr
// CHECK:         %[[PACKED:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> i64
// CHECK:         llvm.call @kiln_sgemm_f32_packed({{.*}}, %[[PACKED]], %{{.*}}, %{{.*}})
// CHECK-NOT:     llvm.call @kiln_sgemm_f32(
// CHECK-LABEL: func.func @activations
// CHECK-NOT:     kiln_sgemm_f32_pack_b
// CHECK:         llvm.call @kiln_sgemm_f32(
// CHECK-DAG:   llvm.mlir.global common @kiln_packed_b_0() {addr_space = 0 : i32, alignment = 8 : i64} : i64
// CHECK-DAG:   llvm.func internal @kiln_sgemm_f32_pack_b(
// CHECK-DAG:   llvm.func internal @kiln_sgemm_f32_packed(
// LLVM-DAG:    @"kiln_packed_b_0" = common global i64 0, align 8
// LLVM-DAG:    define internal i64 @"kiln_sgemm_f32_pack_b"(
func.func @linear(%x: memref<8x64xf32>, %w: memref<64x32xf32> {graph.weight = "w"}, %y: memref<8x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<8x64xf32>, memref<64x32xf32>) outs(%y : memref<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}
func.func @activations(%x: memref<8x64xf32>, %w: memref<64x32xf32>, %y: memref<8x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<8x64xf32>, memref<64x32xf32>) outs(%y : memref<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}
