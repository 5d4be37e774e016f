// RUN: opt-tool %s -p plan-memory | filecheck %s
// RUN: opt-tool %s -p plan-memory,convert-to-llvm | filecheck %s --check-prefix=LLVM

// Three 64 KiB temporaries: %a and %b are alive together, %d only after %a is freed, so
// %d reuses %a's bytes and the arena holds two buffers; %c is returned (it escapes) and
// the small %s is left to malloc.
// CHECK: builtin.module attributes {kiln.arena_bytes = 131072 : i64, kiln.peak_bytes = 131072 : i64}
// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %[[ARENA:.*]] = memref.alloc() : memref<131072xi8>
// CHECK:         %[[A:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<131072xi8> to memref<128x128xf32>
// CHECK:         %[[B:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<131072xi8> to memref<128x128xf32>
// CHECK-NOT:     memref.dealloc %[[A]]
// CHECK:         memref.view %[[ARENA]]
// CHECK:         %[[S:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[C:.*]] = memref.alloc() : memref<128x128xf32>
// CHECK:         memref.dealloc %[[S]]
// CHECK-NOT:     memref.dealloc %[[B]]
// CHECK:         memref.dealloc %[[ARENA]] : memref<131072xi8>
// CHECK-NEXT:    func.return %[[C]]

// LLVM-NOT: memref.view
// LLVM:     llvm.getelementptr
func.func @main(%x: memref<128x128xf32>, %y: memref<4xf32>) -> memref<128x128xf32> {
  %a = memref.alloc() : memref<128x128xf32>
  "memref.copy"(%x, %a) : (memref<128x128xf32>, memref<128x128xf32>) -> ()
  %b = memref.alloc() : memref<128x128xf32>
  "memref.copy"(%a, %b) : (memref<128x128xf32>, memref<128x128xf32>) -> ()
  memref.dealloc %a : memref<128x128xf32>
  %d = memref.alloc() : memref<128x128xf32>
  "memref.copy"(%b, %d) : (memref<128x128xf32>, memref<128x128xf32>) -> ()
  memref.dealloc %b : memref<128x128xf32>
  %s = memref.alloc() : memref<4xf32>
  "memref.copy"(%y, %s) : (memref<4xf32>, memref<4xf32>) -> ()
  %c = memref.alloc() : memref<128x128xf32>
  "memref.copy"(%d, %c) : (memref<128x128xf32>, memref<128x128xf32>) -> ()
  memref.dealloc %s : memref<4xf32>
  memref.dealloc %d : memref<128x128xf32>
  func.return %c : memref<128x128xf32>
}
