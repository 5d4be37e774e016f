// RUN: opt-tool %s -p convert-to-llvm | filecheck %s
// RUN: opt-tool %s -p convert-to-llvm | filecheck %s --check-prefix=NOLIBM

// f32 tanh and erf are inline (lowering/llvm_math.py, their sign copied last); atan
// still calls libm.
// NOLIBM-NOT: @tanhf
// NOLIBM-NOT: @erff

func.func @f(%a: f32, %b: f32, %i: i64, %j: i64) -> (f32, i64, i1, i32) {
  %c = arith.constant 0.999 : f32
  %x = arith.mulf %a, %c : f32
  %t = math.tanh %x : f32
  %e = math.erf %t : f32
  %u = math.atan %e : f32
  %r = math.rsqrt %u : f32
  %m = arith.maximumf %r, %b : f32
  %fd = arith.floordivsi %i, %j : i64
  %mx = arith.maxsi %fd, %j : i64
  %cmp = arith.cmpf ult, %a, %b : f32
  %fi = arith.fptosi %m : f32 to i32
  return %m, %mx, %cmp, %fi : f32, i64, i1, i32
}

// CHECK:      llvm.func @f(%{{.*}}: f32, %{{.*}}: f32, %{{.*}}: i64, %{{.*}}: i64) -> !llvm.struct<(f32, i64, i1, i32)>
// CHECK:        llvm.mlir.constant(9.990000e-01 : f32) : f32
// CHECK:        llvm.call_intrinsic "llvm.copysign.f32"
// CHECK:        llvm.call_intrinsic "llvm.copysign.f32"
// CHECK:        llvm.call @atanf(%{{.*}}) : (f32) -> f32
// CHECK:        llvm.call_intrinsic "llvm.sqrt.f32"
// CHECK:        llvm.fdiv
// CHECK:        llvm.call_intrinsic "llvm.maximum.f32"
// CHECK:        llvm.sdiv
// CHECK:        llvm.srem
// CHECK:        llvm.select
// CHECK:        llvm.icmp "sgt"
// CHECK:        llvm.fcmp "ult"
// CHECK:        llvm.call_intrinsic "llvm.fptosi.sat.i32.f32"
// CHECK:        llvm.insertvalue
// CHECK:        llvm.return %{{.*}} : !llvm.struct<(f32, i64, i1, i32)>
// CHECK:      llvm.func @atanf(f32) -> f32
// CHECK:      llvm.func @_kiln_entry_f
// CHECK-NOT: arith.
// CHECK-NOT: math.
// CHECK-NOT: func.
