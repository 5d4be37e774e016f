// RUN: opt-tool --pipeline=O2,precision,convert-graph-to-tensor,fuse-widening-casts %S/../../../examples/models/mlp.onnx | filecheck %s --check-prefix=TENSOR
// RUN: opt-tool --pipeline=O2,precision,convert-graph-to-tensor,fuse-widening-casts,bufferize,lower-contractions-to-kernels %S/../../../examples/models/cnn.onnx | filecheck %s --check-prefix=KERNEL

// fuse-widening-casts: the f16 -> f32 copy of each weight disappears; the contraction reads
// the f16 weight argument and widens it in its body (bias init generic likewise).
// TENSOR:      func.func @main(%x: tensor<?x32xf32> {{.*}}, %0: tensor<64x32xf16> {graph.weight = "fc0.weight.f16"}, %1: tensor<64xf16> {graph.weight = "fc0.bias.f16"}
// TENSOR:      linalg.generic {{.*}} ins(%1 : tensor<64xf16>) outs(%{{.*}} : tensor<?x64xf32>)
// TENSOR-NEXT: ^bb0(%{{.*}}: f16, %{{.*}}: f32):
// TENSOR-NEXT:   arith.extf
// TENSOR:      linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %0 : tensor<?x32xf32>, tensor<64x32xf16>)
// TENSOR-NEXT: ^bb0(%[[X:.*]]: f32, %[[W:.*]]: f16, %[[ACC:.*]]: f32):
// TENSOR-NEXT:   %[[WW:.*]] = arith.extf %[[W]] : f16 to f32
// TENSOR-NEXT:   arith.mulf %[[X]], %[[WW]] : f32
// TENSOR-NOT:  tensor<64x32xf32>
// TENSOR-NOT:  tensor<64x64xf32>

// lower-contractions-to-kernels: the convs call the kernel variant that reads A (the
// OIHW weight) as f16 and widens while packing; the gemm's f16 B likewise. No f32 buffer
// of a weight's shape is allocated, and f16 weights are not prepacked (an f32 copy).
// KERNEL-NOT:  memref.alloc() : memref<8x3x3x3xf32>
// KERNEL-NOT:  memref.alloc() : memref<8x8x3x3xf32>
// KERNEL-NOT:  memref.alloc() : memref<10x8xf32>
// KERNEL:      llvm.call @kiln_sgemm_f32_a16(
// KERNEL:      llvm.call @kiln_sgemm_f32_a16(
// KERNEL:      llvm.call @kiln_sgemm_f32_b16(
// KERNEL-NOT:  kiln_sgemm_f32_pack_b
// KERNEL:      llvm.func internal @kiln_sgemm_f32_packed_a16
// KERNEL:      llvm.fpext {{.*}} : f16 to f32
