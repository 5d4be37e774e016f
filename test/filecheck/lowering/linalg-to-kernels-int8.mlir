// RUN: opt-tool %s --split-input-file -p lower-contractions-to-kernels | filecheck %s

// The byte contraction graph.matmul_integer lowers to (u8 activations, s8 weights, zero
// points subtracted in the body) becomes one call of the integer GEMM kernel with the
// zero points' addresses and strides (per tensor: 0, per column of B: 1); no loop nest.
// CHECK-LABEL: func.func @u8s8
// CHECK:       llvm.call @kiln_igemm_u8s8{{(_p)?}}(
// CHECK-NOT:   scf.for
// CHECK-NOT:   linalg.generic
// CHECK:       llvm.func internal @kiln_igemm_u8s8
func.func @u8s8(%a: memref<8x64xi8>, %b: memref<64x32xi8>, %za: memref<i8>, %zb: memref<32xi8>, %c: memref<8x32xi32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> ()>, affine_map<(d0, d1, d2) -> (d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b, %za, %zb : memref<8x64xi8>, memref<64x32xi8>, memref<i8>, memref<32xi8>) outs(%c : memref<8x32xi32>) {
  ^bb0(%x: i8, %y: i8, %zx: i8, %zy: i8, %acc: i32):
    %0 = arith.extui %x : i8 to i32
    %1 = arith.extui %zx : i8 to i32
    %2 = arith.subi %0, %1 : i32
    %3 = arith.extsi %y : i8 to i32
    %4 = arith.extsi %zy : i8 to i32
    %5 = arith.subi %3, %4 : i32
    %6 = arith.muli %2, %5 : i32
    %7 = arith.addi %acc, %6 : i32
    linalg.yield %7 : i32
  }
  func.return
}

// -----

// s8 x s8 without zero points.
// CHECK-LABEL: func.func @s8s8
// CHECK:       llvm.call @kiln_igemm_s8s8{{(_p)?}}(
// CHECK-NOT:   linalg.generic
func.func @s8s8(%a: memref<8x64xi8>, %b: memref<64x32xi8>, %c: memref<8x32xi32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<8x64xi8>, memref<64x32xi8>) outs(%c : memref<8x32xi32>) {
  ^bb0(%x: i8, %y: i8, %acc: i32):
    %0 = arith.extsi %x : i8 to i32
    %1 = arith.extsi %y : i8 to i32
    %2 = arith.muli %0, %1 : i32
    %3 = arith.addi %acc, %2 : i32
    linalg.yield %3 : i32
  }
  func.return
}

// -----

// Not a byte contraction (the product is clamped first): the loops stay.
// CHECK-LABEL: func.func @other
// CHECK-NOT:   kiln_igemm
// CHECK:       linalg.generic
func.func @other(%a: memref<8x64xi8>, %b: memref<64x32xi8>, %c: memref<8x32xi32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<8x64xi8>, memref<64x32xi8>) outs(%c : memref<8x32xi32>) {
  ^bb0(%x: i8, %y: i8, %acc: i32):
    %0 = arith.extsi %x : i8 to i32
    %1 = arith.extsi %y : i8 to i32
    %2 = arith.muli %0, %1 : i32
    %3 = arith.maxsi %2, %acc : i32
    linalg.yield %3 : i32
  }
  func.return
}
