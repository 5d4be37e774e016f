// RUN: opt-tool %s -p gpu-outline-kernels | filecheck %s
// RUN: opt-tool %s -p gpu-outline-kernels | opt-tool | filecheck %s

// Each outermost scf.parallel becomes a gpu.func kernel (a grid-stride loop over the
// linearized iterations, delinearized last dim fastest); the host computes the trip
// count and the grid, and launches it with the captured values as arguments (constants
// and globals are cloned into the kernel). A host memref.copy becomes a kernel too; a
// host load after launches waits for them first.

// CHECK: builtin.module attributes {gpu.container_module}
// CHECK-LABEL: func.func @main
// CHECK: %[[N:.*]] = memref.dim %x
// CHECK: arith.muli
// CHECK: arith.minsi %{{.*}}, %{{.*}}
// CHECK: "gpu.launch_func"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[N]], %x, %y) <{kernel = @kernels::@main_kernel_0
// CHECK: "gpu.launch_func"({{.*}}) <{kernel = @kernels::@main_kernel_1
// CHECK: gpu.wait
// CHECK-NEXT: memref.load %y
// CHECK: func.return
// CHECK: "gpu.module"() <{sym_name = "kernels"}>
// CHECK: "memref.global"() <{sym_name = "table"
// CHECK: "gpu.func"() <{function_type = (index, memref<?x4xf32>, memref<?x4xf32>) -> (), kernel}>
// CHECK: "gpu.block_id"() <{dimension = #gpu<dim x>}>
// CHECK: "gpu.thread_id"() <{dimension = #gpu<dim x>}>
// CHECK: "gpu.grid_dim"() <{dimension = #gpu<dim x>}>
// CHECK: scf.for %[[LIN:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: arith.remui %[[LIN]]
// CHECK: arith.divui %[[LIN]]
// CHECK: memref.get_global @table
// CHECK: scf.for
// CHECK: math.exp
// CHECK: "gpu.return"()
// CHECK: "gpu.func"() <{function_type = (index, index, memref<?x4xf32>, memref<?x4xf32>) -> (), kernel}>
// CHECK-NOT: scf.parallel
// CHECK-NOT: memref.copy

builtin.module {
  "memref.global"() <{sym_name = "table", sym_visibility = "private", type = memref<4xf32>, initial_value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>, constant}> : () -> ()
  func.func @main(%x: memref<?x4xf32>, %y: memref<?x4xf32>, %z: memref<?x4xf32>) -> f32 {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %n = memref.dim %x, %c0 : memref<?x4xf32>
    "scf.parallel"(%c0, %c0, %n, %c4, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
    ^bb0(%i: index, %j: index):
      %t = memref.get_global @table : memref<4xf32>
      %w = memref.load %t[%j] : memref<4xf32>
      %init = memref.load %x[%i, %j] : memref<?x4xf32>
      %acc = scf.for %k = %c0 to %c4 step %c1 iter_args(%a = %init) -> (f32) {
        %e = math.exp %a : f32
        %s = arith.mulf %e, %w : f32
        scf.yield %s : f32
      }
      memref.store %acc, %y[%i, %j] : memref<?x4xf32>
      scf.reduce
    }) : (index, index, index, index, index, index) -> ()
    "memref.copy"(%y, %z) : (memref<?x4xf32>, memref<?x4xf32>) -> ()
    %v = memref.load %y[%c0, %c0] : memref<?x4xf32>
    func.return %v : f32
  }
}
