// Rounding to bf16 is integer arithmetic on the f32 bits (fptrunc to bf16 is
// __truncsfbf2/__truncdfbf2 on x86 CPUs without AVX512-BF16); f64 rounds to odd into f32
// first, so the result is rounded once. llvmlite has no bfloat type: a bf16 is its i16 bits.
// RUN: opt-tool %s -p convert-to-llvm | filecheck %s

func.func @to_bf16(%x: f64, %y: f32, %i: i64) -> (bf16, bf16, bf16) {
  %a = arith.truncf %x : f64 to bf16
  %b = arith.truncf %y : f32 to bf16
  %c = arith.sitofp %i : i64 to bf16
  return %a, %b, %c : bf16, bf16, bf16
}

// CHECK-LABEL: llvm.func @to_bf16
// CHECK:         llvm.fptrunc %{{.*}} : f64 to f32
// CHECK:         llvm.fcmp "one"
// CHECK:         llvm.select
// CHECK:         %[[BITS:.*]] = llvm.bitcast %{{.*}} : f32 to i32
// CHECK:         llvm.lshr %[[BITS]]
// CHECK:         llvm.add %[[BITS]], %{{.*}} : i32
// CHECK:         llvm.fcmp "uno"
// CHECK:         llvm.trunc %{{.*}} : i32 to i16
// CHECK:         llvm.bitcast %{{.*}} : f32 to i32
// CHECK:         llvm.trunc %{{.*}} : i32 to i16
// i64 -> f64 rounded to odd (keep 53 significant bits, OR in a sticky bit)
// CHECK:         llvm.call_intrinsic "llvm.ctlz.i64"
// CHECK:         llvm.sitofp %{{.*}} : i64 to f64
// CHECK:         llvm.fptrunc %{{.*}} : f64 to f32
// CHECK:         llvm.trunc %{{.*}} : i32 to i16
// CHECK:         llvm.return
// CHECK-NOT:     : bf16
