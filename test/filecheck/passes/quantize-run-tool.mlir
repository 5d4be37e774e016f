// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; [np.savez('%t/s%%d.npz' %% i, input=np.random.default_rng(i).standard_normal((1, 3, 16, 16)).astype(np.float32)) for i in range(8)]"
// RUN: run-tool %S/../../../examples/models/cnn.onnx --precision int8 --calibration %t --compare --no-cache --repeat 1 | filecheck %s
// RUN: run-tool %S/../../../examples/models/mlp.onnx --precision fp16 --compare --no-cache --repeat 1 --dim batch=4 | filecheck %s --check-prefix=FP16

// run-tool --precision int8 --calibration DIR --compare: 6 of the 8 samples calibrate,
// 2 are held back; the report has the weight bytes, the ops by precision and, per
// output, the max abs error, cosine similarity and top-1 agreement against float32.
// CHECK:      precision: int8 vs fp32
// CHECK-NEXT: inputs:    6 calibration inputs from {{.*}}, the last 2 held back
// CHECK-NEXT: weights:   872 bytes (3528 in fp32, 0.25x)
// CHECK:      int8: conv_integer 2, {{.*}}requantize 1
// CHECK:      compare:   output: max abs err {{[0-9.e-]+}}, cosine 0.99{{[0-9]+}}, top-1 agreement {{[0-9.]+}}%

// Without calibration (fp16 needs none) the report says the inputs are random.
// FP16:      precision: fp16 vs fp32
// FP16-NEXT: inputs:    16 random inputs (normal, seed 0)
// FP16-NEXT: weights:   13844 bytes (27688 in fp32, 0.50x)
// FP16:      fp16-weights: gemm 3
// FP16:      compare:   y: max abs err {{.*}}, cosine {{1.000000|0.9999[0-9]+}}, top-1 agreement 100.0%
