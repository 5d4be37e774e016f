// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor | filecheck %s
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor,bufferize | filecheck %s --check-prefix=BUF
// RUN: opt-tool %s --split-input-file -p convert-graph-to-tensor,bufferize,lower-linalg-to-loops,convert-to-llvm | filecheck %s --check-prefix=LLVM

// Everything reaches the llvm dialect (split-input-file prints every case's module).
// LLVM-NOT: {{scf\.|memref\.|tensor\.|linalg\.}}
// LLVM: llvm.func @_kiln_entry_rnn
// LLVM-NOT: {{scf\.|memref\.|tensor\.|linalg\.}}

// graph.if -> scf.if on the extracted i1. Bufferized: both branches yield a buffer
// the branch owns; the captured %x is copied, never handed out.
// CHECK-LABEL: func.func @if
// CHECK: %[[C:.*]] = tensor.extract %c[] : tensor<i1>
// CHECK: scf.if %[[C]] -> (tensor<5xf32>) {
// CHECK: scf.yield %{{.*}} : tensor<5xf32>
// CHECK: } else {
// CHECK-NEXT: scf.yield %x : tensor<5xf32>
// BUF-LABEL: func.func @if
// BUF: scf.if %{{.*}} -> (memref<5xf32>) {
// BUF: %[[A:.*]] = memref.alloc() : memref<5xf32>
// BUF: scf.yield %[[A]] : memref<5xf32>
// BUF: } else {
// BUF-NEXT: %[[B:.*]] = memref.alloc() : memref<5xf32>
// BUF-NEXT: linalg.generic {{.*}} ins(%x : memref<5xf32>) outs(%[[B]] : memref<5xf32>)
// BUF: scf.yield %[[B]] : memref<5xf32>
// BUF-NOT: memref.dealloc
// BUF: func.return

func.func @if(%c: tensor<i1>, %x: tensor<5xf32>) -> tensor<5xf32> {
  %r = graph.if %c : tensor<i1> -> (tensor<5xf32>) {
    %a = graph.relu %x : (tensor<5xf32>) -> tensor<5xf32>
    graph.yield %a : tensor<5xf32>
  } else {
    graph.yield %x : tensor<5xf32>
  }
  func.return %r : tensor<5xf32>
}

// -----

// Loop without a condition -> scf.for over max(M, 0); the scan output is a
// preallocated [M, 5] tensor carried through the loop, written by insert_slice.
// Bufferized: the scan buffer moves into the loop (no copy) and is written in place
// through a strided view; the carried value is freed each iteration after its last use.
// CHECK-LABEL: func.func @for_loop
// CHECK: %[[M:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[N:.*]] = arith.maxsi %[[M]], %{{.*}} : index
// CHECK: %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x5xf32>
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[N]] step %{{.*}} iter_args(%[[Y:.*]] = %x, %[[S:.*]] = %[[E]]) -> (tensor<5xf32>, tensor<?x5xf32>) {
// CHECK: %[[NEW:.*]] = linalg.generic {{.*}} ins(%[[Y]], %x
// CHECK: %[[W:.*]] = tensor.insert_slice %[[NEW]] into %[[S]][%[[I]], 0] [1, 5] [1, 1] : tensor<5xf32> into tensor<?x5xf32>
// CHECK: scf.yield %[[NEW]], %[[W]] : tensor<5xf32>, tensor<?x5xf32>
// BUF-LABEL: func.func @for_loop
// BUF: %[[SB:.*]] = memref.alloc(%{{.*}}) : memref<?x5xf32>
// BUF: %[[Y0:.*]] = memref.alloc() : memref<5xf32>
// BUF: scf.for %[[I:.*]] = {{.*}} iter_args(%[[Y:.*]] = %[[Y0]], %[[S:.*]] = %[[SB]])
// BUF: %[[NEW:.*]] = memref.alloc() : memref<5xf32>
// BUF: memref.dealloc %[[Y]] : memref<5xf32>
// BUF: %[[V:.*]] = memref.reinterpret_cast %[[S]] to offset: [%{{.*}}], sizes: [5], strides: [1] : memref<?x5xf32> to memref<5xf32, strided<[1], offset: ?>>
// BUF: linalg.generic {{.*}} ins(%[[NEW]] : memref<5xf32>) outs(%[[V]] : memref<5xf32, strided<[1], offset: ?>>)
// BUF: scf.yield %[[NEW]], %[[S]] : memref<5xf32>, memref<?x5xf32>
// BUF-NOT: memref.dealloc
// BUF: func.return

func.func @for_loop(%x: tensor<5xf32>, %m: tensor<i64>) -> (tensor<5xf32>, tensor<?x5xf32>) {
  %y, %s = graph.loop max_trip(%m : tensor<i64>) iter_args(%x : tensor<5xf32>) -> (tensor<5xf32>, tensor<?x5xf32>) {
  ^bb0(%i: tensor<i64>, %ci: tensor<i1>, %yi: tensor<5xf32>):
    %n = graph.add %yi, %x : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
    graph.yield %ci, %n, %n : tensor<i1>, tensor<5xf32>, tensor<5xf32>
  }
  func.return %y, %s : tensor<5xf32>, tensor<?x5xf32>
}

// -----

// Loop with a condition and no scan outputs -> scf.while over (i, cond, carried).
// CHECK-LABEL: func.func @while_loop
// CHECK: scf.while (%{{.*}} = %{{.*}}, %[[C:.*]] = %{{.*}}, %{{.*}} = %x) : (index, i1, tensor<5xf32>) -> (index, i1, tensor<5xf32>) {
// CHECK: scf.condition(%[[C]])
// CHECK: } do {
// CHECK: math.tanh
// CHECK: scf.yield %{{.*}}, %{{.*}}, %{{.*}} : index, i1, tensor<5xf32>
// BUF-LABEL: func.func @while_loop
// BUF: scf.while {{.*}} : (index, i1, memref<5xf32>) -> (index, i1, memref<5xf32>)
// BUF: } do {
// BUF: memref.dealloc %{{.*}} : memref<i1>
// BUF-NEXT: scf.yield

func.func @while_loop(%c: tensor<i1>, %x: tensor<5xf32>) -> tensor<5xf32> {
  %y = graph.loop cond(%c : tensor<i1>) iter_args(%x : tensor<5xf32>) -> (tensor<5xf32>) {
  ^bb0(%i: tensor<i64>, %ci: tensor<i1>, %yi: tensor<5xf32>):
    %n = graph.tanh %yi : (tensor<5xf32>) -> tensor<5xf32>
    graph.yield %ci, %n : tensor<i1>, tensor<5xf32>
  }
  func.return %y : tensor<5xf32>
}

// -----

// Scan -> scf.for over the scan axis; a reversed input is read at trip - 1 - i with
// a rank-reducing extract_slice (bufferized: a strided view, no copy).
// CHECK-LABEL: func.func @scan
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %s0, %{{.*}} = %{{.*}}) -> (tensor<2xf32>, tensor<3x2xf32>) {
// CHECK: %[[R:.*]] = arith.subi %{{.*}}, %[[I]] : index
// CHECK: tensor.extract_slice %x[%[[R]], 0] [1, 2] [1, 1] : tensor<3x2xf32> to tensor<2xf32>
// CHECK: tensor.insert_slice %{{.*}}[%[[I]], 0] [1, 2] [1, 1] : tensor<2xf32> into tensor<3x2xf32>
// BUF-LABEL: func.func @scan
// BUF: memref.reinterpret_cast %x to offset: [%{{.*}}], sizes: [2], strides: [1] : memref<3x2xf32> to memref<2xf32, strided<[1], offset: ?>>

func.func @scan(%s0: tensor<2xf32>, %x: tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  %s, %o = graph.scan state(%s0 : tensor<2xf32>) inputs(%x : tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%acc: tensor<2xf32>, %xs: tensor<2xf32>):
    %n = graph.add %acc, %xs : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    graph.yield %n, %n : tensor<2xf32>, tensor<2xf32>
  } {input_axes = array<i64: 0>, input_directions = array<i64: 1>, output_axes = array<i64: 0>, output_directions = array<i64: 0>}
  func.return %s, %o : tensor<2xf32>, tensor<3x2xf32>
}

// -----

// A recurrent cell: X @ W^T for all steps before the loop, then one scf.for over
// time with H @ R^T and one cell generic per step; Y is written slab by slab.
// CHECK-LABEL: func.func @rnn
// CHECK: %[[T:.*]] = tensor.dim %x, %{{.*}} : tensor<?x1x2xf32>
// CHECK: %[[XW:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%x, %w
// CHECK: scf.for %[[S:.*]] = %{{.*}} to %[[T]] step
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %r
// CHECK: tensor.extract %[[XW]][%[[S]],
// CHECK: math.tanh
// CHECK: tensor.insert_slice %{{.*}}[%[[S]], 0, 0, 0] [1, 1, 1, 3] [1, 1, 1, 1] : tensor<1x3xf32> into tensor<?x1x1x3xf32>
// CHECK-NOT: scf.for
// CHECK: func.return

func.func @rnn(%x: tensor<?x1x2xf32>, %w: tensor<1x3x2xf32>, %r: tensor<1x3x3xf32>) -> (tensor<?x1x1x3xf32>, tensor<1x1x3xf32>) {
  %y, %yh = graph.rnn %x, %w, %r {kind = "rnn", direction = "forward", hidden_size = 3 : i64, activations = ["tanh"], activation_alpha = array<f32: 0.0>, activation_beta = array<f32: 0.0>} : tensor<?x1x2xf32>, tensor<1x3x2xf32>, tensor<1x3x3xf32> -> tensor<?x1x1x3xf32>, tensor<1x1x3xf32>
  func.return %y, %yh : tensor<?x1x1x3xf32>, tensor<1x1x3xf32>
}
