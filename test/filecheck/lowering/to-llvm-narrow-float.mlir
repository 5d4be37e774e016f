// f16 conversions are lowered without soft-float libcalls (LLVM turns fptrunc f64 -> f16
// into __truncdfhf2 on CPUs without AVX512-FP16, e.g. every AMD CPU, and MCJIT cannot
// resolve it). f64 -> f16 rounds to odd into f32, then f32 -> f16 (F16C) rounds once.
// RUN: opt-tool %s -p convert-to-llvm | filecheck %s
// RUN: translate-tool --pipeline=convert-to-llvm %s | filecheck %s --check-prefix=IR
// RUN: translate-tool --pipeline=convert-to-llvm --emit=asm %s | filecheck %s --check-prefix=ASM

func.func @f64_to_f16(%x: f64) -> f16 {
  %y = arith.truncf %x : f64 to f16
  return %y : f16
}

// CHECK-LABEL: llvm.func @f64_to_f16
// CHECK:         %[[F:.*]] = llvm.fptrunc %[[X:.*]] : f64 to f32
// CHECK:         %[[BACK:.*]] = llvm.fpext %[[F]] : f32 to f64
// CHECK:         %[[INEXACT:.*]] = llvm.fcmp "one" %[[BACK]], %[[X]] : f64
// CHECK:         llvm.call_intrinsic "llvm.fabs.f64"(%[[BACK]])
// CHECK:         llvm.call_intrinsic "llvm.fabs.f64"(%[[X]])
// CHECK:         %[[AWAY:.*]] = llvm.fcmp "ogt"
// CHECK:         %[[BITS:.*]] = llvm.bitcast %[[F]] : f32 to i32
// CHECK:         %[[DOWN:.*]] = llvm.sub %[[BITS]], %{{.*}} : i32
// CHECK:         %[[ODD:.*]] = llvm.or %[[DOWN]], %{{.*}} : i32
// CHECK:         %[[R:.*]] = llvm.select %[[INEXACT]], %[[ODD]], %[[BITS]] : i1, i32
// CHECK:         %[[RF:.*]] = llvm.bitcast %[[R]] : i32 to f32
// CHECK:         llvm.fptrunc %[[RF]] : f32 to f16
// CHECK-NOT:     : f64 to f16

func.func @int_to_f16(%i: i64, %u: i32) -> (f16, f16) {
  %a = arith.sitofp %i : i64 to f16
  %b = arith.uitofp %u : i32 to f16
  return %a, %b : f16, f16
}

// Integers below 2^24 are exact in f32; larger ones overflow f16 either way.
// CHECK-LABEL: llvm.func @int_to_f16
// CHECK:         llvm.sitofp %{{.*}} : i64 to f32
// CHECK:         llvm.fptrunc %{{.*}} : f32 to f16
// CHECK:         llvm.zext %{{.*}} : i32 to i64
// CHECK:         llvm.sitofp %{{.*}} : i64 to f32
// CHECK:         llvm.fptrunc %{{.*}} : f32 to f16

func.func @from_f16(%h: f16) -> (f64, i64, i8) {
  %d = arith.extf %h : f16 to f64
  %i = arith.fptosi %h : f16 to i64
  %u = arith.fptoui %h : f16 to i8
  return %d, %i, %u : f64, i64, i8
}

// CHECK-LABEL: llvm.func @from_f16
// CHECK:         llvm.fpext %{{.*}} : f16 to f32
// CHECK:         llvm.fpext %{{.*}} : f32 to f64
// CHECK:         llvm.call_intrinsic "llvm.fptosi.sat.i64.f32"
// CHECK:         llvm.call_intrinsic "llvm.fptoui.sat.i8.f32"

func.func @fma_f16(%a: f16, %b: f16, %c: f16) -> f16 {
  %r = math.fma %a, %b, %c : f16
  return %r : f16
}

// An exact product, TwoSum for the sum's error, round to odd, then the f64 -> f16 path
// (llvm.fma.f16 would become an f64 fma and __truncdfhf2).
// CHECK-LABEL: llvm.func @fma_f16
// CHECK-NOT:     llvm.fma
// CHECK:         llvm.fmul %{{.*}} : f64
// CHECK:         llvm.fadd %{{.*}} : f64
// CHECK:         llvm.fcmp "one"
// CHECK:         llvm.fptrunc %{{.*}} : f64 to f32
// CHECK:         llvm.fptrunc %{{.*}} : f32 to f16

// IR-LABEL: define half @"f64_to_f16"(double
// IR:         fptrunc double %{{.*}} to float
// IR:         fptrunc float %{{.*}} to half
// IR-NOT:     fptrunc double {{.*}} to half
// IR-NOT:     call {{.*}} @__

// The machine code calls no soft-float routine (the JIT would refuse an unresolved one).
// ASM-NOT:     {{__truncdfhf2|__float[a-z]*hf|__fix[a-z]*hf}}
// ASM-LABEL:   f64_to_f16:
// ASM-NOT:     {{__truncdfhf2|__float[a-z]*hf|__fix[a-z]*hf}}
// ASM:         _kiln_entry_fma_f16:
// ASM-NOT:     {{__truncdfhf2|__float[a-z]*hf|__fix[a-z]*hf}}
