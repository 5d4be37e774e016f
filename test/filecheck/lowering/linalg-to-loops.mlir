// RUN: opt-tool %s --split-input-file -p lower-linalg-to-loops | filecheck %s
// RUN: opt-tool %s --split-input-file -p lower-linalg-to-loops | opt-tool --split-input-file | filecheck %s

// Matmul-like generic: loops i, k, j (reduction inside, contiguous j innermost),
// dynamic bound from memref.dim, accumulate through memref.load/store.
// CHECK-LABEL: func.func @matmul
// CHECK: %[[M:.*]] = memref.dim %c
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[M]]
// CHECK-NEXT: scf.for %[[K:.*]] = %{{.*}} to %{{.*}}
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}}
// CHECK-NEXT: %[[A:.*]] = memref.load %a[%[[I]], %[[K]]]
// CHECK-NEXT: %[[B:.*]] = memref.load %b[%[[K]], %[[J]]]
// CHECK-NEXT: %[[C:.*]] = memref.load %c[%[[I]], %[[J]]]
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A]], %[[B]]
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[C]], %[[P]]
// CHECK-NEXT: memref.store %[[S]], %c[%[[I]], %[[J]]]
// CHECK-NOT: linalg.
// CHECK-NOT: affine.apply
func.func @matmul(%a: memref<?x3xf32>, %b: memref<3x4xf32>, %c: memref<?x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<?x3xf32>, memref<3x4xf32>) outs(%c : memref<?x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// Strided window maps become arith index math (no affine ops); a row reduction keeps
// the reduction innermost; linalg.fill is a plain store nest.
// CHECK-LABEL: func.func @window
// CHECK-NOT: scf.for
// CHECK: %[[TWO:.*]] = arith.constant 2 : index
// CHECK: scf.for %[[O:.*]] = %{{.*}} to %{{.*}}
// CHECK-NEXT: scf.for %[[K:.*]] = %{{.*}} to %{{.*}}
// CHECK: %[[M:.*]] = arith.muli %{{.*}}, %[[TWO]] : index
// CHECK: %[[IDX:.*]] = arith.addi %[[M]], %{{.*}} : index
// CHECK: memref.load %x[%[[IDX]]]
// CHECK: arith.maximumf
// CHECK-LABEL: func.func @fill
// CHECK: scf.for
// CHECK: memref.store %{{.*}}, %o[%{{.*}}] : memref<?xf32>
// CHECK-NOT: linalg.
// CHECK-NOT: affine.
func.func @window(%x: memref<9xf32>, %win: memref<3xf32>, %o: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0 * 2 + d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x, %win : memref<9xf32>, memref<3xf32>) outs(%o : memref<4xf32>) {
  ^bb0(%v: f32, %w: f32, %acc: f32):
    %m = arith.maximumf %acc, %v : f32
    linalg.yield %m : f32
  }
  func.return
}
func.func @fill(%o: memref<?xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%o : memref<?xf32>)
  func.return
}

// -----

// linalg.index becomes the induction variable of its loop.
// CHECK-LABEL: func.func @iota
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}}
// CHECK-NEXT: %[[C:.*]] = arith.index_cast %[[I]] : index to i64
// CHECK-NOT: linalg.index
func.func @iota(%o: memref<5xi64>) {
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} outs(%o : memref<5xi64>) {
  ^bb0(%x: i64):
    %i = linalg.index 0 : index
    %c = arith.index_cast %i : index to i64
    linalg.yield %c : i64
  }
  func.return
}
