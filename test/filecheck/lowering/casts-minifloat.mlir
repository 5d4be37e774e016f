// Minifloats (8-/4-bit floats) have no LLVM type: they are i8 bit patterns, and extf /
// truncf are integer arithmetic on the f32 bits (no libcall, no CPU-specific
// instruction). f64 rounds to odd into f32 first, so it is rounded once. bf16 is its i16
// bits; arith on bf16 computes in f32 between extf and truncf.
// RUN: opt-tool %s -p convert-to-llvm | filecheck %s

func.func @to_f8(%x: f32, %y: f64, %h: f16) -> (f8E4M3FN, f8E5M2, f4E2M1FN) {
  %a = arith.truncf %x : f32 to f8E4M3FN
  %b = arith.truncf %y : f64 to f8E5M2
  %c = arith.truncf %h : f16 to f4E2M1FN
  return %a, %b, %c : f8E4M3FN, f8E5M2, f4E2M1FN
}

// CHECK-LABEL: llvm.func @to_f8(%{{.*}}: f32, %{{.*}}: f64, %{{.*}}: f16) -> !llvm.struct<(i8, i8, i8)>
// the normal range: round the f32 bits at the last kept mantissa bit, then rebias
// CHECK:         %[[BITS:.*]] = llvm.bitcast %{{.*}} : f32 to i32
// CHECK:         llvm.and %[[BITS]]
// CHECK:         llvm.lshr
// CHECK:         llvm.add
// subnormals: scale to units of the smallest subnormal, round by adding 2^23
// CHECK:         llvm.fmul
// CHECK:         llvm.fadd %{{.*}}, %{{.*}} : f32
// CHECK:         llvm.icmp "ugt"
// CHECK:         llvm.trunc %{{.*}} : i32 to i8
// f64: round to odd into f32 (one rounding overall)
// CHECK:         llvm.fptrunc %{{.*}} : f64 to f32
// CHECK:         llvm.fcmp "one"
// CHECK:         llvm.trunc %{{.*}} : i32 to i8
// f16 widens exactly
// CHECK:         llvm.fpext %{{.*}} : f16 to f32
// CHECK:         llvm.trunc %{{.*}} : i32 to i8
// CHECK:         llvm.return
// CHECK-NOT:     llvm.call

func.func @from_f8(%m: memref<4xf8E4M3FNUZ>, %i: index) -> (f32, f16) {
  %v = memref.load %m[%i] : memref<4xf8E4M3FNUZ>
  %a = arith.extf %v : f8E4M3FNUZ to f32
  %b = arith.extf %v : f8E4M3FNUZ to f16
  return %a, %b : f32, f16
}

// CHECK-LABEL: llvm.func @from_f8
// CHECK:         %[[V:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i8
// CHECK:         llvm.zext %[[V]] : i8 to i32
// CHECK:         llvm.shl
// CHECK:         llvm.sitofp
// CHECK:         llvm.select
// CHECK:         llvm.bitcast %{{.*}} : i32 to f32
// CHECK:         llvm.fptrunc %{{.*}} : f32 to f16
// CHECK-NOT:     llvm.call

func.func @bf16_add(%x: bf16, %y: bf16) -> bf16 {
  %s = arith.addf %x, %y : bf16
  return %s : bf16
}

// CHECK-LABEL: llvm.func @bf16_add(%{{.*}}: i16, %{{.*}}: i16) -> i16
// CHECK:         llvm.zext %{{.*}} : i16 to i32
// CHECK:         llvm.zext %{{.*}} : i16 to i32
// CHECK:         llvm.fadd %{{.*}}, %{{.*}} : f32
// CHECK:         llvm.trunc %{{.*}} : i32 to i16
// CHECK-NOT:     : bf16
