// RUN: opt-tool %s --split-input-file -p bufferize | filecheck %s
// RUN: opt-tool %s --split-input-file -p bufferize | opt-tool --split-input-file | filecheck %s

// tensor.empty -> memref.alloc, linalg on memrefs, intermediate freed after its last
// use, the returned buffer never freed.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%x: memref<?x4xf32> {graph.name = "x"}, %w: memref<4xf32> {graph.weight = "w"}) -> memref<?x4xf32>
// CHECK: %[[D:.*]] = memref.dim %x, %{{.*}} : memref<?x4xf32>
// CHECK: %[[A:.*]] = memref.alloc(%[[D]]) : memref<?x4xf32>
// CHECK: linalg.generic {{.*}} ins(%x, %w : memref<?x4xf32>, memref<4xf32>) outs(%[[A]] : memref<?x4xf32>)
// CHECK: %[[B:.*]] = memref.alloc(%[[D]]) : memref<?x4xf32>
// CHECK: linalg.generic {{.*}} ins(%[[A]] : memref<?x4xf32>) outs(%[[B]] : memref<?x4xf32>)
// CHECK-NEXT: ^
// CHECK: memref.dealloc %[[A]] : memref<?x4xf32>
// CHECK-NEXT: func.return %[[B]] : memref<?x4xf32>
// CHECK-NOT: tensor.
func.func @main(%x: tensor<?x4xf32> {graph.name = "x"}, %w: tensor<4xf32> {graph.weight = "w"}) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%d) : tensor<?x4xf32>
  %a = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %w : tensor<?x4xf32>, tensor<4xf32>) outs(%e : tensor<?x4xf32>) {
  ^bb0(%i: f32, %j: f32, %o: f32):
    %s = arith.addf %i, %j : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  %e2 = tensor.empty(%d) : tensor<?x4xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<?x4xf32>) outs(%e2 : tensor<?x4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %n = arith.negf %i : f32
    linalg.yield %n : f32
  } -> tensor<?x4xf32>
  func.return %b : tensor<?x4xf32>
}

// -----

// Dense constants -> memref.global + get_global; reshape -> reinterpret_cast view;
// tensor.extract in a body -> memref.load; the view's root is freed after the view's
// last use.
// CHECK: "memref.global"() <{sym_name = "__kiln_constant_0", type = memref<2xf32>, initial_value = dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>, sym_visibility = "private", constant}>
// CHECK-LABEL: func.func @main
// CHECK: %[[G:.*]] = memref.get_global @__kiln_constant_0 : memref<2xf32>
// CHECK: %[[T:.*]] = memref.alloc() : memref<2x2xf32>
// CHECK: memref.load %[[G]]
// CHECK: %[[V:.*]] = memref.reinterpret_cast %[[T]] to offset: [0], sizes: [4], strides: [1] : memref<2x2xf32> to memref<4xf32>
// CHECK: %[[O:.*]] = memref.alloc() : memref<4xf32>
// CHECK: linalg.generic {{.*}} ins(%[[V]] : memref<4xf32>) outs(%[[O]] : memref<4xf32>)
// CHECK: memref.dealloc %[[T]] : memref<2x2xf32>
// CHECK-NEXT: func.return %[[O]]
// CHECK-NOT: tensor.
func.func @main() -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%e : tensor<2x2xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 1 : index
    %v = tensor.extract %c[%i] : tensor<2xf32>
    linalg.yield %v : f32
  } -> tensor<2x2xf32>
  %n = arith.constant 4 : index
  %s = tensor.from_elements %n : tensor<1xindex>
  %r = tensor.reshape %t(%s) : (tensor<2x2xf32>, tensor<1xindex>) -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%r : tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    linalg.yield %i : f32
  } -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

// An outs operand that is a function argument is copied first: never write an input.
// CHECK-LABEL: func.func @main
// CHECK: %[[C:.*]] = memref.alloc() : memref<3xf32>
// CHECK: linalg.generic {{.*}} ins(%acc : memref<3xf32>) outs(%[[C]] : memref<3xf32>)
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[C]] : memref<3xf32>)
// CHECK: func.return %[[C]], %acc : memref<3xf32>, memref<3xf32>
func.func @main(%acc: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%acc : tensor<3xf32>) -> tensor<3xf32>
  func.return %f, %acc : tensor<3xf32>, tensor<3xf32>
}

// -----

// Dynamic reshape: strides computed with arith; a returned view is never freed.
// CHECK-LABEL: func.func @main
// CHECK: %[[N:.*]] = memref.dim %x
// CHECK: memref.reinterpret_cast %x to offset: [0], sizes: [%[[N]], 2, 3], strides: [6, 3, 1] : memref<?x6xf32> to memref<?x2x3xf32>
// CHECK-NOT: memref.dealloc
func.func @main(%x: tensor<?x6xf32>) -> tensor<?x2x3xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x6xf32>
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %s = tensor.from_elements %n, %c2, %c3 : tensor<3xindex>
  %r = tensor.reshape %x(%s) : (tensor<?x6xf32>, tensor<3xindex>) -> tensor<?x2x3xf32>
  func.return %r : tensor<?x2x3xf32>
}
