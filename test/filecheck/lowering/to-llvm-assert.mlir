// RUN: opt-tool %s -p convert-to-llvm | filecheck %s

// cf.assert becomes a branch to a block that stores the check's id into the hidden
// status argument and returns; the entry point returns that status.

// CHECK: builtin.module attributes {kiln.assert_messages = ["n must be positive"]}
// CHECK-LABEL: llvm.func @main
// CHECK-SAME: %[[STATUS:[0-9a-z_]+]]: !llvm.ptr)
// CHECK: %[[ID:[0-9a-z_]+]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: llvm.cond_br %{{.*}}, ^[[OK:.*]], ^[[FAIL:.*]](%[[ID]] : i32)
// CHECK: ^[[FAIL]](%[[CODE:[0-9a-z_]+]]: i32):
// CHECK-NEXT: llvm.store %[[CODE]], %[[STATUS]] : i32, !llvm.ptr
// CHECK-LABEL: llvm.func @_kiln_entry_main(%{{.*}}: !llvm.ptr) -> i32
// CHECK: llvm.alloca
// CHECK: llvm.call @main
// CHECK: llvm.icmp "ne"
// CHECK-NOT: cf.assert
func.func @main(%n: index) -> index {
  %c0 = arith.constant 0 : index
  %ok = arith.cmpi sgt, %n, %c0 : index
  cf.assert %ok, "n must be positive"
  func.return %n : index
}
