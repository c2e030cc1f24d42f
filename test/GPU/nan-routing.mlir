// NaN router logits rank below every number (as -inf, ties to the lower
// index), the same on the CPU and in the GPU router kernel: each of a
// warp's lanes sees the same order, so no expert is chosen twice. Logits
// [NaN, 1, NaN, 2, NaN, NaN, 0.5, NaN]: experts 3, 1, 6, then the NaNs 0, 2, 4.
// RUN: rm -rf %t && mkdir -p %t/cpu %t/gpu
// RUN: %python -c "import numpy as np; n = float('nan'); np.save('%t/l.npy', np.array([[[n, 1, n, 2, n, n, 0.5, n]]], dtype=np.float32))"
// RUN: moa-compile %S/Inputs/route-k6.mlir -o %t/cpu.so
// RUN: moa-compile %S/Inputs/route-k6.mlir --target=cuda --emulate-gpu -o %t/gpu.so
// RUN: moa-run %t/cpu.so route %t/l.npy -o %t/cpu
// RUN: moa-run %t/gpu.so route %t/l.npy -o %t/gpu
// RUN: %python -c "import numpy as np; print(np.load('%t/cpu/out0.npy').tolist(), np.load('%t/gpu/out0.npy').tolist())" | FileCheck %s
// CHECK: {{\[\[\[3, 1, 6, 0, 2, 4\]\]\] \[\[\[3, 1, 6, 0, 2, 4\]\]\]}}
