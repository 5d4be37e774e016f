// RUN: opt-tool %s -p gpu-block-reductions | filecheck %s
// RUN: opt-tool %s -p gpu-block-reductions | opt-tool | filecheck %s
// RUN: translate-tool --emit=ptx -p 'convert-graph-to-tensor,bufferize,gpu-block-reductions,lower-linalg-to-loops{parallel=true},gpu-outline-kernels,convert-gpu-to-nvvm' %inputs/softmax-rows.mlir | filecheck %s --check-prefix=PTX

// A row sum of exp(x - m) (softmax's denominator) over a dynamic row length becomes one
// kernel: the host launches one block of 256 threads per row (at most 65536, the kernel
// loops over the rest). Per row: m is loaded once; each thread folds its elements t,
// t + 256, ... starting from its first one (clamped into the row), writes its partial to
// workgroup memory, and a tree of 8 halving steps (barrier after each, combining t and
// t + s only where t + s < K) leaves the sum in slot 0, which thread 0 adds to the
// output's initial value. A row max over a static 20 elements and a column sum (not along
// the contiguous dim) keep their generics.

// CHECK-LABEL: func.func @main
// CHECK: %[[ROWS:.*]] = memref.dim %s, %{{.*}} : memref<?xf32>
// CHECK: arith.minsi %[[ROWS]], %{{.*}}
// CHECK: %[[B:.*]] = arith.constant 256 : index
// CHECK: "gpu.launch_func"(%{{.*}}, %{{.*}}, %{{.*}}, %[[B]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %x, %m, %s) <{kernel = @kernels::@main_reduce_0
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: "gpu.func"() <{function_type = (index, index, memref<?x?xf32>, memref<?xf32>, memref<?xf32>) -> (), kernel}>
// CHECK: %[[P:.*]] = memref.alloca() : memref<256xf32, 3 : i64>
// CHECK: scf.for
// CHECK: "gpu.barrier"()
// CHECK: scf.if
// CHECK: memref.load %{{.*}} : memref<?xf32>
// CHECK: arith.minui
// CHECK: math.exp
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (f32) {
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: memref.store %{{.*}}, %[[P]]
// CHECK: "gpu.barrier"()
// CHECK-COUNT-8: "gpu.barrier"()
// CHECK: arith.cmpi eq
// CHECK: memref.load %[[P]]
// CHECK: arith.addf
// CHECK: memref.store %{{.*}} : memref<?xf32>
// CHECK: "gpu.return"()
// CHECK-NOT: "gpu.func"

// The softmax of Inputs/softmax-rows.mlir: its row max and its row sum of exp are block
// reductions over .shared partials with bar.sync between the tree's steps.
// PTX: .visible .entry main_reduce_0(
// PTX: .shared .align 16 .b8 main_reduce_0{{.*}}shared[1024];
// PTX: st.shared.b32
// PTX: bar.sync 0;
// PTX: ld.shared.b32
// PTX: max.NaN.f32
// PTX: bar.sync 0;
// PTX: .visible .entry main_reduce_1(
// PTX: .shared .align 16 .b8 main_reduce_1{{.*}}shared[1024];
// PTX: fma.rn.f32
// PTX: bar.sync 0;
// PTX: ld.shared.b32
// PTX: add.f32
// PTX-NOT: .extern

builtin.module {
  func.func @main(%x: memref<?x?xf32>, %m: memref<?xf32>, %s: memref<?xf32>, %y: memref<?x20xf32>, %mx: memref<?xf32>, %cs: memref<?xf32>) {
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x, %m : memref<?x?xf32>, memref<?xf32>) outs(%s : memref<?xf32>) {
    ^bb0(%a: f32, %b: f32, %acc: f32):
      %d = arith.subf %a, %b : f32
      %e = math.exp %d : f32
      %r = arith.addf %acc, %e : f32
      linalg.yield %r : f32
    }
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%y : memref<?x20xf32>) outs(%mx : memref<?xf32>) {
    ^bb0(%a: f32, %acc: f32):
      %r = arith.maximumf %acc, %a : f32
      linalg.yield %r : f32
    }
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<?x?xf32>) outs(%cs : memref<?xf32>) {
    ^bb0(%a: f32, %acc: f32):
      %r = arith.addf %acc, %a : f32
      linalg.yield %r : f32
    }
    func.return
  }
}
