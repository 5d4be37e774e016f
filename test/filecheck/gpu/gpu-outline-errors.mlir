// RUN: not opt-tool %s -p gpu-outline-kernels 2>&1 | filecheck %s

// An op with no GPU lowering inside a loop nest is a CompileError naming it and where
// it is (here a call: kernels cannot call host functions).

// CHECK: opt-tool: error: pass 'gpu-outline-kernels' failed: gpu-outline-kernels: func.call: no GPU lowering for this op inside a kernel
// CHECK-SAME: gpu-outline-errors.mlir:16:7

builtin.module {
  func.func private @host_only(index) -> ()
  func.func @main(%n: index) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    "scf.parallel"(%c0, %n, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb0(%i: index):
      func.call @host_only(%i) : (index) -> ()
      scf.reduce
    }) : (index, index, index) -> ()
    func.return
  }
}
