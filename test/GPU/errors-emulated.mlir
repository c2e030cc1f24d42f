// Data the GPU kernels must reject is recorded in the device error word and
// reported when the entry returns, with the CPU path's messages: an expert
// index out of range (moa_dispatch_count), a key mask whose length disagrees
// with the keys (checked on the host, reported by the kernel), an output
// projection whose d is not x's (moa-decompose's cf.assert, its message
// carried by the assertion's code). Run on the
// emulator; with the mock it is the same host code.
// RUN: rm -rf %t && mkdir -p %t
// RUN: python3 %moa_src_root/test/Runtime/make_npy.py %t
// RUN: moa-compile %moa_src_root/test/Runtime/Inputs/dispatch.mlir --target=cuda --emulate-gpu -o %t/dispatch.so
// RUN: not moa-run %t/dispatch.so dispatch %t/bad_indices.npy 2>&1 | FileCheck %s --check-prefix=INDEX
// RUN: moa-compile %moa_src_root/examples/moa_layer_key_padding.mlir --target=cuda --emulate-gpu -o %t/padding.so
// RUN: not moa-run %t/padding.so moa_layer %t/x.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy %t/mask_7.npy 2>&1 | FileCheck %s --check-prefix=SIZES
// RUN: moa-compile %moa_src_root/test/Runtime/Inputs/dynamic_model_dim.mlir --target=cuda --emulate-gpu -o %t/dynamic_model_dim.so
// RUN: not moa-run %t/dynamic_model_dim.so dynamic_model_dim %t/x_1x2x8.npy %t/mem_1x4x8.npy %t/wg_8x2.npy %t/w_2x8x4.npy %t/w_8x4.npy %t/w_8x4.npy %t/wo_2x4x16.npy 2>&1 | FileCheck %s --check-prefix=MODELDIM

// INDEX: moa-run: 'dispatch' failed: moa.dispatch: an expert index is outside [-1, E)
// SIZES: moa-run: 'moa_layer' failed: operands with dynamic sizes do not agree
// MODELDIM: moa-run: 'dynamic_model_dim' failed: moa.mixture_attention: dimension 2 of 'w_out' differs from dimension 2 of 'x' (the model dimension d)
// Every key padded: zeros, not NaN.
// RUN: %python -c "import numpy as np; np.save('%t/padded.npy', np.ones((2, 5), dtype=bool))"
// RUN: moa-run %t/padding.so moa_layer %t/x.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy %t/padded.npy -o %t | FileCheck %s --check-prefix=OK
// RUN: %python -c "import numpy as np, sys; a = np.load('%t/out0.npy'); sys.exit(0 if a.shape == (2, 5, 256) and not np.isnan(a).any() and (a == 0).all() else 1)"
// OK: result 0: f32 [2, 5, 256]
