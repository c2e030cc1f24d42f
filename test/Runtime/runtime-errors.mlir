// The runtime and moa-run reject wrong entries, argument counts, ranks,
// dtypes, shapes and files with a message naming the problem, and run the
// valid call. Inputs come from make_npy.py.
// RUN: rm -rf %t && mkdir -p %t
// RUN: python3 %S/make_npy.py %t
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir -o %t/layer.so
// RUN: moa-run %t/layer.so moa_layer %t/x.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy -o %t | FileCheck %s --check-prefix=OK
// RUN: python3 -c "import sys; d=open('%t/out0.npy','rb').read(); sys.exit(0 if d[:6]==b'\x93NUMPY' and len(d) > 2*5*256*4 else 1)"
// RUN: not moa-run %t/layer.so moa_layr %t/x.npy 2>&1 | FileCheck %s --check-prefix=ENTRY
// RUN: not moa-run %t/layer.so moa_layer %t/x.npy %t/wg.npy 2>&1 | FileCheck %s --check-prefix=COUNT
// RUN: not moa-run %t/layer.so moa_layer %t/x_rank2.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not moa-run %t/layer.so moa_layer %t/x_f64.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy 2>&1 | FileCheck %s --check-prefix=DTYPE
// RUN: not moa-run %t/layer.so moa_layer %t/x_width128.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not moa-run %t/layer.so moa_layer %t/x.npy %t/wq.npy %t/wg.npy %t/wk.npy %t/wv.npy %t/wo.npy 2>&1 | FileCheck %s --check-prefix=SWAPPED
// RUN: not moa-run %t/layer.so moa_layer %t/missing.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moa-run %t/layer.so moa_layer %t/garbage.npy 2>&1 | FileCheck %s --check-prefix=GARBAGE
// RUN: not moa-run %t/layer.so moa_layer %t/x_truncated.npy 2>&1 | FileCheck %s --check-prefix=TRUNCATED
// RUN: not moa-run %t/layer.so moa_layer %t/x_fortran.npy 2>&1 | FileCheck %s --check-prefix=FORTRAN
// RUN: not moa-run %t/layer.so moa_layer %t/x_bigendian.npy 2>&1 | FileCheck %s --check-prefix=ENDIAN
// RUN: not moa-run %t/not_a_module.so moa_layer 2>&1 | FileCheck %s --check-prefix=MODULE
// RUN: not moa-run %moa_lib/libMoARuntime.so moa_layer 2>&1 | FileCheck %s --check-prefix=NOMANIFEST
// RUN: not moa-run %t/layer.so moa_layer --random 2>&1 | FileCheck %s --check-prefix=DIMS
// RUN: not moa-run %t/layer.so moa_layer --repeat 0 2>&1 | FileCheck %s --check-prefix=REPEAT
// RUN: moa-compile %S/Inputs/dispatch.mlir -o %t/dispatch.so
// RUN: not moa-run %t/dispatch.so dispatch %t/bad_indices.npy 2>&1 | FileCheck %s --check-prefix=INDEX
// RUN: moa-compile %moa_src_root/examples/moa_layer_key_padding.mlir -o %t/padding.so
// RUN: not moa-run %t/padding.so moa_layer %t/x.npy %t/wg.npy %t/wq.npy %t/wk.npy %t/wv.npy %t/wo.npy %t/mask_7.npy 2>&1 | FileCheck %s --check-prefix=DYNAMIC

// OK: result 0: f32 [2, 5, 256]
// OK: head usage, router 0: 20 (token, slot) pairs
// ENTRY: moa-run: no entry point 'moa_layr' in '{{.*}}layer.so' (entries: moa_layer)
// COUNT: moa-run: entry 'moa_layer' takes 6 arguments, got 2
// RANK: moa-run: argument 0 of 'moa_layer' must have rank 3 (shape [?, ?, 256]), got shape [10, 256]
// DTYPE: moa-run: '{{.*}}x_f64.npy' holds dtype '<f8', which moa does not read
// SHAPE: moa-run: argument 0 of 'moa_layer' must have shape [?, ?, 256], got [2, 5, 128]
// SWAPPED: moa-run: argument 1 of 'moa_layer' must have rank 2 (shape [256, 8]), got shape [8, 256, 64]
// MISSING: moa-run: cannot open '{{.*}}missing.npy'
// GARBAGE: moa-run: '{{.*}}garbage.npy' is not a valid .npy file: no NumPy magic string
// TRUNCATED: moa-run: '{{.*}}x_truncated.npy' is not a valid .npy file: the data is shorter than the shape [2, 5, 256] needs
// FORTRAN: moa-run: '{{.*}}x_fortran.npy' is in Fortran order; save it in C order
// ENDIAN: moa-run: '{{.*}}x_bigendian.npy' holds dtype '>f4', which moa does not read
// MODULE: moa-run: cannot load module '{{.*}}not_a_module.so'
// NOMANIFEST: moa-run: '{{.*}}libMoARuntime.so' is not a moa module (no moa_manifest)
// DIMS: moa-run: argument 0 of 'moa_layer' has shape [?, ?, 256]: --dims gives no sizes, it needs 2 (its dynamic sizes, in order)
// REPEAT: moa-run: --repeat needs a positive integer
// INDEX: moa-run: 'dispatch' failed: moa.dispatch: an expert index is outside [-1, E)
// DYNAMIC: moa-run: 'moa_layer' failed: moa.multi_query_attention: dimension 1 of 'key_padding_mask' is 7, but dimension 1 of 'key' is 5{{$}}
