// RUN: opt-tool %s --split-input-file -p lower-contractions-to-kernels,lower-linalg-to-loops | filecheck %s
// RUN: opt-tool %s --split-input-file -p lower-contractions-to-kernels,lower-linalg-to-loops | opt-tool --split-input-file | filecheck %s
// RUN: translate-tool --pipeline=lower-contractions-to-kernels,lower-linalg-to-loops,convert-to-llvm %s | filecheck %s --check-prefix=LLVM

// A matmul generic with a transposed B (C[i,j] += 0.5 * A[i,k] * B[j,k]) becomes one
// call of the generated GEMM kernel: sizes, aligned pointers, element strides, alpha.
// The kernel (packing + fma micro-kernel) is emitted into the module in the llvm dialect.
// CHECK-LABEL: func.func @matmul_bt
// CHECK-NOT: scf.for
// CHECK: memref.extract_aligned_pointer_as_index"(%a)
// CHECK: memref.extract_aligned_pointer_as_index"(%b)
// CHECK: memref.extract_aligned_pointer_as_index"(%c)
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: llvm.call @kiln_sgemm_f32({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, f32) -> ()
// CHECK-NEXT: func.return
// CHECK: llvm.func @malloc(i64) -> !llvm.ptr
// CHECK: llvm.func internal @kiln_sgemm_f32
// CHECK: llvm.intr.fma
// LLVM: call ccc void @"kiln_sgemm_f32"(i64 %{{.*}}, i64 4, i64 3,
// LLVM-DAG: define internal void @"kiln_sgemm_f32"(
// LLVM-DAG: call <{{16|8}} x float> @"llvm.fma.v{{16|8}}f32"(
func.func @matmul_bt(%a: memref<?x3xf32>, %b: memref<4x3xf32>, %c: memref<?x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<?x3xf32>, memref<4x3xf32>) outs(%c : memref<?x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %half = arith.constant 0.5 : f32
    %xs = arith.mulf %x, %half : f32
    %p = arith.mulf %xs, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// Batched matmul: one scf.for over the batch around the call, with per-batch offsets.
// (With B broadcast over the batch, the batch dim would fold into M: a single call.)
// CHECK-LABEL: func.func @bmm
// CHECK: scf.for %[[N:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: arith.muli %[[N]]
// CHECK: llvm.call @kiln_sgemm_f32
// CHECK-NEXT: }
func.func @bmm(%a: memref<3x5x7xf32>, %b: memref<3x7x9xf32>, %c: memref<3x5x9xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %b : memref<3x5x7xf32>, memref<3x7x9xf32>) outs(%c : memref<3x5x9xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// Conv (NCHW, stride 2): the input is gathered into an im2col buffer [n, c, kh, kw, oh, ow]
// by a copy loop nest, then one GEMM per image: out[f, oh*ow] += W[f, c*kh*kw] * col.
// CHECK-LABEL: func.func @conv
// CHECK: %[[COL:.*]] = memref.alloc() : memref<2x3x3x3x4x4xf32>
// CHECK: scf.for
// CHECK: memref.store %{{.*}}, %[[COL]]
// CHECK: llvm.call @kiln_sgemm_f32
// CHECK: memref.dealloc %[[COL]]
func.func @conv(%x: memref<2x3x9x9xf32>, %w: memref<8x3x3x3xf32>, %o: memref<2x8x4x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d4, (d2 * 2 + d5), (d3 * 2 + d6))>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d1, d4, d5, d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<2x3x9x9xf32>, memref<8x3x3x3xf32>) outs(%o : memref<2x8x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// Not a contraction (a max-reduction): the naive loop nest stays, no kernel is emitted.
// CHECK-LABEL: func.func @rowmax
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.maximumf
// CHECK-NOT: kiln_sgemm
func.func @rowmax(%a: memref<5x7xf32>, %c: memref<5xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a : memref<5x7xf32>) outs(%c : memref<5xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %m = arith.maximumf %acc, %x : f32
    linalg.yield %m : f32
  }
  func.return
}
