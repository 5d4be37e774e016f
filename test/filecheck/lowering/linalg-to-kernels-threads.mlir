// RUN: opt-tool %s -p "lower-contractions-to-kernels{threads=2}" | filecheck %s
// RUN: translate-tool --pipeline="lower-contractions-to-kernels{threads=2},lower-linalg-to-loops,convert-to-llvm" %s | filecheck %s --check-prefix=LLVM
// RUN: opt-tool %s -p lower-contractions-to-kernels | filecheck %s --check-prefix=SERIAL

// With threads, @kiln_sgemm_f32 keeps its signature (call sites do not change); the entry
// it calls, @kiln_sgemm_f32_packed, becomes a dispatcher: small products call the serial
// kernel (@kiln_sgemm_f32_core), large ones GOMP_parallel with a worker that calls the
// serial kernel on its rows or columns of C.
// CHECK-LABEL: func.func @matmul
// CHECK: llvm.call @kiln_sgemm_f32(
// CHECK-DAG: llvm.func @GOMP_parallel(!llvm.ptr, !llvm.ptr, i32, i32)
// CHECK-DAG: llvm.func @omp_get_thread_num() -> i32
// CHECK-DAG: llvm.func @omp_get_num_threads() -> i32
// CHECK-DAG: llvm.func internal @kiln_sgemm_f32_core(
// CHECK-DAG: llvm.func internal @kiln_sgemm_f32_worker(%{{.*}}: !llvm.ptr)
// CHECK-DAG: llvm.func internal @kiln_sgemm_f32(
// CHECK-DAG: llvm.mlir.addressof @kiln_sgemm_f32_worker
// CHECK-DAG: llvm.call @omp_get_thread_num()
// LLVM-DAG: define internal void @"kiln_sgemm_f32_packed"(
// LLVM-DAG: call ccc void @"GOMP_parallel"({{.*}}@"kiln_sgemm_f32_worker", {{.*}}, i32 2, i32 0)
// LLVM-DAG: call ccc void @"kiln_sgemm_f32_core"(
// SERIAL-NOT: GOMP_parallel
// SERIAL-NOT: kiln_sgemm_f32_core
// SERIAL: llvm.func internal @kiln_sgemm_f32(
// SERIAL-NOT: GOMP_parallel
func.func @matmul(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}
