// RUN: opt-tool %s -p insert-bounds-checks | filecheck %s
// RUN: opt-tool %s -p insert-bounds-checks,convert-to-llvm | filecheck %s --check-prefix=LLVM

// Every index of a load or store is checked against its dim, and a view against the
// buffer it views.
// CHECK-LABEL: func.func @main
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt
// CHECK: check.assert {{.*}} "out-of-bounds access: a read at index {0} of dim 0, whose size is {1}"
// CHECK: memref.load %a
// CHECK: check.assert {{.*}} "out-of-bounds access: a view reaches element {0} of a buffer of {1} elements"
// CHECK: memref.reinterpret_cast
// CHECK: check.assert {{.*}} "out-of-bounds access: a write at index {0} of dim 0, whose size is {1}"
// CHECK: memref.store
// The reported values go to @kiln_check_values before the status return.
// LLVM: llvm.mlir.addressof @kiln_check_values
// LLVM: llvm.store
// LLVM-NOT: check.assert
// LLVM: llvm.mlir.global common @kiln_check_values
func.func @main(%a: memref<?xf32>, %i: index) -> memref<2xf32> {
  %x = memref.load %a[%i] : memref<?xf32>
  %v = memref.reinterpret_cast %a to offset: [%i], sizes: [2], strides: [1] : memref<?xf32> to memref<2xf32, strided<[1], offset: ?>>
  %out = memref.alloc() : memref<2xf32>
  memref.store %x, %out[%i] : memref<2xf32>
  func.return %out : memref<2xf32>
}
