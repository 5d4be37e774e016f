// RUN: opt-tool %s -p outline-loop-kernels | filecheck %s
// RUN: opt-tool %s -p outline-loop-kernels,convert-to-llvm | filecheck %s --check-prefix=LLVM
// RUN: translate-tool %s -p outline-loop-kernels,convert-to-llvm | filecheck %s --check-prefix=IR

// The two Relu nests over different buffers of one shape share @main_kernel_0; the nest
// of another shape gets its own function; the loop that allocates (a Loop body) stays in
// the host and its inner nest is outlined; the dim it reads comes in as an argument.
// CHECK-LABEL: func.func @main
// CHECK:         func.call @main_kernel_0(%{{.*}}, %{{.*}}) : (memref<4x8xf32>, memref<4x8xf32>) -> ()
// CHECK:         func.call @main_kernel_0(%{{.*}}, %{{.*}}) : (memref<4x8xf32>, memref<4x8xf32>) -> ()
// CHECK:         func.call @main_kernel_1(
// CHECK:         scf.for
// CHECK:           memref.alloc
// CHECK:           func.call @main_kernel_2(
// CHECK-NOT:   scf.for
// CHECK:         func.return
// CHECK:       func.func private @main_kernel_0(%{{.*}}: memref<4x8xf32>, %{{.*}}: memref<4x8xf32>) attributes {kiln.noinline}
// CHECK:         arith.constant 8 : index
// CHECK:         scf.for
// CHECK:       func.func private @main_kernel_1({{.*}}) attributes {kiln.noinline}
// CHECK:       func.func private @main_kernel_2(%{{.*}}: index, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>) attributes {kiln.noinline}
// CHECK-NOT:   func.func private @main_kernel_3

// LLVM: llvm.func internal @main_kernel_0({{.*}}) attributes {kiln.noinline}
// IR:   call ccc void @"main_kernel_0"
// IR:   define internal void @"main_kernel_0"({{.*}}) noinline
func.func @main(%x: memref<4x8xf32>, %y: memref<4x8xf32>, %z: memref<4x8xf32>,
                %w: memref<16xf32>, %v: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %a = memref.load %x[%i, %j] : memref<4x8xf32>
      %r = arith.maximumf %a, %zero : f32
      memref.store %r, %y[%i, %j] : memref<4x8xf32>
    }
  }
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %a = memref.load %y[%i, %j] : memref<4x8xf32>
      %r = arith.maximumf %a, %zero : f32
      memref.store %r, %z[%i, %j] : memref<4x8xf32>
    }
  }
  scf.for %i = %c0 to %c16 step %c1 {
    %a = memref.load %w[%i] : memref<16xf32>
    %r = arith.maximumf %a, %zero : f32
    memref.store %r, %w[%i] : memref<16xf32>
  }
  %n = memref.dim %v, %c0 : memref<?xf32>
  scf.for %t = %c0 to %c4 step %c1 {
    %tmp = memref.alloc(%n) : memref<?xf32>
    scf.for %i = %c0 to %n step %c1 {
      %a = memref.load %v[%i] : memref<?xf32>
      memref.store %a, %tmp[%i] : memref<?xf32>
    }
    memref.dealloc %tmp : memref<?xf32>
  }
  func.return
}
