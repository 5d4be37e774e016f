// RUN: opt-tool %S/fuse-fold-conv-bn-relu-add.mlir --pipeline=fuse,fold --pass-statistics 2>&1 >/dev/null | filecheck %s

// CHECK:      // fuse: conv-bn 1, residual-add 1, activation 1
// CHECK-NEXT: // fold: constant {{[0-9]+}}
