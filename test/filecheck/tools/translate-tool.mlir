// RUN: translate-tool --pipeline=convert-to-llvm %s | filecheck %s
// RUN: opt-tool %s -p convert-to-llvm | translate-tool | filecheck %s
// RUN: translate-tool --pipeline=convert-to-llvm --emit=asm %s | filecheck %s --check-prefix=ASM
// RUN: echo "func.func @broken(" | not translate-tool 2>&1 | filecheck %s --check-prefix=ERR

func.func @scale(%a: memref<?xf32>, %s: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %a[%i] : memref<?xf32>
    %y = arith.mulf %x, %s : f32
    memref.store %y, %a[%i] : memref<?xf32>
  }
  return
}

// CHECK: define void @"scale"({ptr, ptr, i64, [1 x i64], [1 x i64]} %{{.*}}, float %{{.*}})
// CHECK: getelementptr float, ptr
// CHECK: fmul float
// CHECK: define i32 @"_kiln_entry_scale"(ptr %{{.*}})

// ASM: _kiln_entry_scale:
// ASM: vmulps

// ERR: translate-tool: parse error: <stdin>:2:1: Expected argument or type
