// RUN: rm -rf %t && %python %inputs/make_activation_models.py %t
// RUN: opt-tool --pipeline=fuse %t/conv_clip.onnx | filecheck %s --check-prefix=CLIP
// RUN: opt-tool --pipeline=fuse %t/gemm_leaky.onnx | filecheck %s --check-prefix=LEAKY
// RUN: opt-tool --pipeline=fuse %t/conv_sin_chain.onnx | filecheck %s --check-prefix=CHAIN

// ONNX Clip imports as min(max(x, lo), hi); with splat bounds it becomes the conv's act.
// CLIP:      graph.conv
// CLIP-SAME: act = "clip"
// CLIP-SAME: act_params = array<f32: 0.000000e+00, 6.000000e+00>
// CLIP-NOT:  graph.elementwise

// LeakyRelu is a row of the elementwise table; its alpha travels as the act's param.
// LEAKY:      graph.gemm
// LEAKY-SAME: act = "leaky_relu"
// LEAKY-SAME: act_params = array<f32: 1.000000e-01>
// LEAKY-NOT:  graph.elementwise

// Table kinds (sin, softsign) fuse with named ops (mul) into one graph.fused op.
// CHAIN:      graph.conv
// CHAIN:      graph.fused
// CHAIN-DAG:  math.sin
// CHAIN-DAG:  arith.mulf
// CHAIN:      graph.fused_yield
// CHAIN-NOT:  graph.elementwise
// CHAIN-NOT:  graph.mul
