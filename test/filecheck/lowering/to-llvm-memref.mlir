// RUN: opt-tool %s -p convert-to-llvm | filecheck %s

func.func @add(%a: memref<?x4xf32>, %b: memref<4xf32>) -> memref<?x4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %n = memref.dim %a, %c0 : memref<?x4xf32>
  %out = memref.alloc(%n) : memref<?x4xf32>
  scf.for %i = %c0 to %n step %c1 {
    scf.for %j = %c0 to %c4 step %c1 {
      %x = memref.load %a[%i, %j] : memref<?x4xf32>
      %y = memref.load %b[%j] : memref<4xf32>
      %s = arith.addf %x, %y : f32
      memref.store %s, %out[%i, %j] : memref<?x4xf32>
    }
  }
  return %out : memref<?x4xf32>
}

// The trailing !llvm.ptr is the status of the run-time checks: a failed malloc is one.
// CHECK:      llvm.func @add(%{{.*}}: !llvm.struct<(!llvm.ptr, !llvm.ptr, i64, !llvm.array<2 x i64>, !llvm.array<2 x i64>)>, %{{.*}}: !llvm.struct<(!llvm.ptr, !llvm.ptr, i64, !llvm.array<1 x i64>, !llvm.array<1 x i64>)>, %{{.*}}: !llvm.ptr) -> !llvm.struct<(!llvm.ptr, !llvm.ptr, i64, !llvm.array<2 x i64>, !llvm.array<2 x i64>)>
// CHECK:        llvm.extractvalue %{{.*}}[3, 0]
// CHECK:        llvm.call @malloc(%{{.*}}) : (i64) -> !llvm.ptr
// CHECK:        llvm.and %{{.*}}, %{{.*}} : i64
// CHECK:        llvm.getelementptr %{{.*}}[%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK:        llvm.ptrtoint
// CHECK:        llvm.icmp "ne"
// CHECK:        llvm.cond_br
// CHECK:        llvm.icmp "slt"
// CHECK:        llvm.cond_br
// CHECK:        llvm.extractvalue %{{.*}}[1]
// CHECK:        llvm.getelementptr %{{.*}}[%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:        llvm.load %{{.*}} : !llvm.ptr -> f32
// CHECK:        llvm.fadd
// CHECK:        llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr
// CHECK:        llvm.return
// CHECK:      llvm.func @malloc(i64) -> !llvm.ptr
// CHECK:      llvm.func @_kiln_entry_add(%[[ARGS:.*]]: !llvm.ptr) -> i32 {
// CHECK:        llvm.load %[[ARGS]] : !llvm.ptr -> !llvm.ptr
// CHECK:        llvm.call @add(
// CHECK:        llvm.getelementptr %[[ARGS]][2] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK:        llvm.store
// CHECK-NOT: memref.
// CHECK-NOT: scf.
// CHECK-NOT: arith.
// CHECK-NOT: unrealized_conversion_cast
