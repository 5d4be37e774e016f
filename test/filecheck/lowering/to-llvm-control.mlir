// RUN: opt-tool %s -p convert-to-llvm | filecheck %s

"memref.global"() <{sym_name = "w", sym_visibility = "private", type = memref<2x2xf32>, initial_value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>, constant}> : () -> ()

func.func @g(%n: i64) -> (i64, memref<4xf32>) {
  %zero = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %r = scf.while (%v = %n) : (i64) -> i64 {
    %more = arith.cmpi sgt, %v, %zero : i64
    scf.condition(%more) %v : i64
  } do {
  ^bb0(%v2: i64):
    %pos = arith.cmpi sgt, %v2, %one : i64
    %next = scf.if %pos -> (i64) {
      %d = arith.subi %v2, %one : i64
      scf.yield %d : i64
    } else {
      scf.yield %zero : i64
    }
    scf.yield %next : i64
  }
  %w = memref.get_global @w : memref<2x2xf32>
  %f = memref.collapse_shape %w [[0, 1]] : memref<2x2xf32> into memref<4xf32>
  return %r, %f : i64, memref<4xf32>
}

// CHECK:      llvm.mlir.global internal constant @w(dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<4 x f32>
// CHECK:      llvm.func @g(%{{.*}}: i64) -> !llvm.struct<(i64, !llvm.struct<(!llvm.ptr, !llvm.ptr, i64, !llvm.array<1 x i64>, !llvm.array<1 x i64>)>)>
// CHECK:        llvm.br ^[[BEFORE:.*]](%{{.*}} : i64)
// CHECK:      ^[[BEFORE]](%{{.*}}: i64):
// CHECK:        llvm.cond_br
// CHECK:        llvm.mlir.addressof @w : !llvm.ptr
// CHECK:        llvm.mlir.zero : !llvm.ptr
// CHECK-NOT: scf.
// CHECK-NOT: cf.
// CHECK-NOT: memref.
