// RUN: opt-tool %s --split-input-file -p lower-contractions-to-kernels | filecheck %s

// A single-row product (M == 1) whose output's last dim is contiguous in B stays a loop
// nest: lower-linalg-to-loops puts that dim innermost and LLVM vectorizes it, while the
// kernel would repack all of B for one row.
// CHECK-LABEL: func.func @vector_matrix
// CHECK-NOT:     llvm.call @kiln_sgemm_f32
// CHECK:         linalg.generic
// CHECK-NOT:     llvm.call @kiln_sgemm_f32
func.func @vector_matrix(%x: memref<1x64xf32>, %w: memref<64x32xf32>, %y: memref<1x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x64xf32>, memref<64x32xf32>) outs(%y : memref<1x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// With B transposed (W[j, k]) no loop order vectorizes without reassociating the sum:
// the kernel it is.
// CHECK-LABEL: func.func @vector_matrix_bt
// CHECK:         llvm.call @kiln_sgemm_f32
func.func @vector_matrix_bt(%x: memref<1x64xf32>, %w: memref<32x64xf32>, %y: memref<1x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x64xf32>, memref<32x64xf32>) outs(%y : memref<1x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// Two rows: the kernel.
// CHECK-LABEL: func.func @two_rows
// CHECK:         llvm.call @kiln_sgemm_f32
func.func @two_rows(%x: memref<2x64xf32>, %w: memref<64x32xf32>, %y: memref<2x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<2x64xf32>, memref<64x32xf32>) outs(%y : memref<2x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}
