// RUN: opt-tool %s -p gpu-tile-contractions | filecheck %s
// RUN: opt-tool %s -p gpu-tile-contractions | opt-tool | filecheck %s
// RUN: opt-tool %s -p 'gpu-tile-contractions{tile=64 k_tile=32}' | filecheck %s --check-prefix=T64
// RUN: not opt-tool %s -p 'gpu-tile-contractions{tile=48}' 2>&1 | filecheck %s --check-prefix=BAD

// A matmul with a dynamic row count becomes one tiled kernel launched with 16x16 threads
// and ceil(M/32)*ceil(N/32) blocks (at most 65536; the kernel loops over the rest). In
// the kernel: two workgroup buffers (address space 3, rows padded by one), a block-stride
// loop over tiles, the accumulators loaded once (clamped into the buffer), full K slices
// (barrier, A and B slices staged in shared memory with clamped loads, barrier, 16 k's of
// 2x2 register multiply-adds), then the partial last slice over its valid k only, and
// stores guarded by row < M and col < N. The small product (N = 8) keeps its generic.

// CHECK-LABEL: func.func @main
// CHECK: %[[M:.*]] = memref.dim %c, %{{.*}} : memref<?x48xf32>
// CHECK: arith.ceildivsi %[[M]], %{{.*}}
// CHECK: arith.minsi %{{.*}}, %{{.*}}
// CHECK: %[[T:.*]] = arith.constant 16 : index
// CHECK: "gpu.launch_func"(%{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %[[T]], %{{.*}}, %[[M]], %a, %b, %c) <{kernel = @kernels::@main_tiled_0
// CHECK: linalg.generic
// CHECK-SAME: ins(%a, %w
// CHECK: "gpu.module"() <{sym_name = "kernels"}>
// CHECK: "gpu.func"() <{function_type = (index, memref<?x64xf32>, memref<64x48xf32>, memref<?x48xf32>) -> (), kernel}>
// CHECK: %[[AS:.*]] = memref.alloca() : memref<16x33xf32, 3 : i64>
// CHECK: %[[BS:.*]] = memref.alloca() : memref<16x33xf32, 3 : i64>
// CHECK: "gpu.thread_id"() <{dimension = #gpu<dim y>}>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: arith.minsi
// CHECK: memref.load %{{.*}} : memref<?x48xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32) {
// CHECK: "gpu.barrier"() : () -> ()
// CHECK: memref.load %{{.*}} : memref<?x64xf32>
// CHECK: memref.store %{{.*}}, %[[AS]]
// CHECK: memref.load %{{.*}} : memref<64x48xf32>
// CHECK: memref.store %{{.*}}, %[[BS]]
// CHECK: "gpu.barrier"() : () -> ()
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32) {
// CHECK: memref.load %[[AS]]
// CHECK: memref.load %[[BS]]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32) {
// CHECK: "gpu.barrier"() : () -> ()
// CHECK: arith.cmpi ult
// CHECK: arith.cmpi ult
// CHECK: scf.if
// CHECK-NEXT: memref.store %{{.*}} : memref<?x48xf32>
// CHECK: "gpu.return"()
// CHECK-NOT: "gpu.func"

// T64: memref.alloca() : memref<32x65xf32, 3 : i64>
// T64: iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)

// BAD: gpu-tile-contractions: tile=48, k_tile=16: tile must be 16, 32 or 64 and k_tile 16 or 32

builtin.module {
  func.func @main(%a: memref<?x64xf32>, %b: memref<64x48xf32>, %c: memref<?x48xf32>, %w: memref<64x8xf32>, %d: memref<?x8xf32>) {
    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<?x64xf32>, memref<64x48xf32>) outs(%c : memref<?x48xf32>) {
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %p = arith.mulf %x, %y : f32
      %s = arith.addf %acc, %p : f32
      linalg.yield %s : f32
    }
    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : memref<?x64xf32>, memref<64x8xf32>) outs(%d : memref<?x8xf32>) {
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %p = arith.mulf %x, %y : f32
      %s = arith.addf %acc, %p : f32
      linalg.yield %s : f32
    }
    func.return
  }
}
