// RUN: opt-tool %s -p convert-to-llvm | filecheck %s

// f32 exp, tanh and erf become inline polynomials (range reduction by llvm.rint, scaling by
// exponent bits), which LLVM vectorizes; f64 keeps the intrinsic and libm.
// CHECK-LABEL: llvm.func @f32
// CHECK-NOT:     llvm.exp
// CHECK-NOT:     @tanhf
// CHECK:         llvm.call_intrinsic "llvm.rint.f32"
// CHECK:         llvm.shl
// CHECK:         llvm.call_intrinsic "llvm.copysign.f32"
// CHECK-NOT:     llvm.exp
// CHECK-NOT:     @tanhf
// CHECK-NOT:     @erff
// CHECK:         llvm.return
// CHECK-LABEL: llvm.func @f64
// CHECK:         llvm.call_intrinsic "llvm.exp.f64"
// CHECK:         llvm.call @tanh(
func.func @f32(%x: f32) -> f32 {
  %e = math.exp %x : f32
  %t = math.tanh %e : f32
  %r = math.erf %t : f32
  func.return %r : f32
}
func.func @f64(%x: f64) -> f64 {
  %e = math.exp %x : f64
  %t = math.tanh %e : f64
  func.return %t : f64
}
