// The runtime boundary: shared result buffers, arguments that must not be
// written, results that are arguments or constants, sizes that only agree
// (or not) at run time, empty inputs, .npy shapes no file could hold, mask
// bytes other than 0/1, and fully padded rows over non-finite values.
// RUN: rm -rf %t && mkdir -p %t %t/a %t/b
// RUN: python3 %S/make_npy.py %t
// RUN: moa-compile %S/Inputs/entries.mlir -o %t/entries.so
// RUN: env GLIBC_TUNABLES=glibc.malloc.perturb=165 moa-run %t/entries.so twice %t/logits_2x3.npy -o %t/a
// RUN: cmp %t/a/out0.npy %t/a/out1.npy
// RUN: moa-run %t/entries.so identity %t/v4.npy -o %t/a
// RUN: cmp %t/v4.npy %t/a/out0.npy
// RUN: moa-run %t/entries.so constant -o %t/a | FileCheck %s --check-prefix=CONST
// RUN: moa-run %t/entries.so add_into %t/v4.npy %t/v4.npy -o %t/a
// RUN: moa-run %t/entries.so add_into %t/v4.npy %t/v4.npy --repeat 3 -o %t/b
// RUN: cmp %t/a/out0.npy %t/b/out0.npy
// RUN: not moa-run %t/entries.so add_into %t/v4.npy %t/v3.npy 2>&1 | FileCheck %s --check-prefix=ADDSIZES
// RUN: not moa-run %t/entries.so losses %t/logits_2x3.npy %t/indices_1x1.npy 2>&1 | FileCheck %s --check-prefix=LBSIZES
// RUN: not moa-run %t/entries.so route_dynamic_experts %t/logits_e2.npy 2>&1 | FileCheck %s --check-prefix=ROUTESIZES
// RUN: not moa-run %t/entries.so project %t/x_1x2x8.npy %t/w_8x4.npy %t/init_1x3x4.npy 2>&1 | FileCheck %s --check-prefix=PROJSIZES
// RUN: moa-run %t/entries.so cross_layer %t/x_1x2x8.npy %t/mem_1x4x8.npy %t/wg_8x2.npy %t/w_2x8x4.npy %t/w_8x4.npy %t/w_8x4.npy %t/wo_2x4x8.npy -o %t/a | FileCheck %s --check-prefix=CROSS
// RUN: not moa-run %t/entries.so cross_layer %t/x_1x2x8.npy %t/mem_2x4x8.npy %t/wg_8x2.npy %t/w_2x8x4.npy %t/w_8x4.npy %t/w_8x4.npy %t/wo_2x4x8.npy -o %t/a 2>&1 | FileCheck %s --check-prefix=CROSSBATCH
// RUN: moa-compile %S/Inputs/dynamic_model_dim.mlir -o %t/dynamic_model_dim.so
// RUN: moa-run %t/dynamic_model_dim.so dynamic_model_dim %t/x_1x2x8.npy %t/mem_1x4x8.npy %t/wg_8x2.npy %t/w_2x8x4.npy %t/w_8x4.npy %t/w_8x4.npy %t/wo_2x4x8.npy -o %t/a | FileCheck %s --check-prefix=CROSS
// RUN: not moa-run %t/dynamic_model_dim.so dynamic_model_dim %t/x_1x2x8.npy %t/mem_1x4x8.npy %t/wg_8x2.npy %t/w_2x8x4.npy %t/w_8x4.npy %t/w_8x4.npy %t/wo_2x4x16.npy -o %t/a 2>&1 | FileCheck %s --check-prefix=WOUTDIM
// RUN: not moa-run %t/dynamic_model_dim.so dynamic_model_dim %t/x_1x2x8.npy %t/mem_1x4x16.npy %t/wg_8x2.npy %t/w_2x8x4.npy %t/w_8x4.npy %t/w_8x4.npy %t/wo_2x4x8.npy -o %t/a 2>&1 | FileCheck %s --check-prefix=MEMDIM
// RUN: moa-run %t/entries.so grouped_dynamic_slots %t/x_0x5x8.npy %t/w_2x8x4.npy %t/perm_empty.npy %t/offsets_3.npy | FileCheck %s --check-prefix=EMPTY
// RUN: not moa-run %t/entries.so identity %t/huge_digits.npy 2>&1 | FileCheck %s --check-prefix=DIGITS
// RUN: not moa-run %t/entries.so identity %t/huge_product.npy 2>&1 | FileCheck %s --check-prefix=PRODUCT
// RUN: not moa-run %t/entries.so identity %t/huge_dim.npy 2>&1 | FileCheck %s --check-prefix=SHORT
// RUN: not moa-run %t/entries.so twice --random --dims 2,3,4 2>&1 | FileCheck %s --check-prefix=EXTRA
// RUN: not moa-run %t/entries.so twice --random --dims 4294967296,4294967296 2>&1 | FileCheck %s --check-prefix=HUGE
// RUN: moa-run %t/entries.so attention %t/q_1x2.npy %t/k_1x3.npy %t/v_1x3.npy %t/mask_101.npy -o %t/a
// RUN: moa-run %t/entries.so attention %t/q_1x2.npy %t/k_1x3.npy %t/v_1x3.npy %t/mask_202.npy -o %t/b
// RUN: cmp %t/a/out0.npy %t/b/out0.npy
// RUN: moa-run %t/entries.so attention %t/q_1x2.npy %t/k_1x3.npy %t/v_inf.npy %t/mask_all.npy -o %t/a
// RUN: python3 %S/npy_summary.py %t/a/out0.npy | FileCheck %s --check-prefix=ZEROS

// CONST: result 0: f32 [4]
// LBSIZES: failed: moa.load_balancing_loss: dimension 0 of 'indices' is 1, but dimension 0 of 'logits' is 2{{$}}
// ROUTESIZES: failed: moa.route: operands with dynamic sizes do not agree
// CROSS: result 0: f32 [1, 2, 8]
// CROSSBATCH: moa-run: 'cross_layer' failed: moa.multi_query_attention: dimension 0 of 'key' is 2, but dimension 0 of 'query' is 1{{$}}
// WOUTDIM: moa-run: 'dynamic_model_dim' failed: moa.mixture_attention: dimension 2 of 'w_out' differs from dimension 2 of 'x' (the model dimension d){{$}}
// MEMDIM: moa-run: 'dynamic_model_dim' failed: moa.mixture_attention: dimension 2 of 'memory' differs from dimension 2 of 'x' (the model dimension d){{$}}
// PROJSIZES: failed: linalg.contract: dimension 1 of operand #0 is 2, but dimension 1 of operand #2 is 3{{$}}
// An elementwise op's dynamic sizes are checked before its parallel loop.
// ADDSIZES: failed: linalg.add: dimension 0 of operand #1 is 3, but dimension 0 of operand #2 is 4{{$}}
// EMPTY: result 0: f32 [0, 5, 0, 4]
// DIGITS: is not a valid .npy file: a dimension in the header's 'shape' is too large
// PRODUCT: is not a valid .npy file: the shape has too many elements
// SHORT: is not a valid .npy file: the data is shorter than the shape [1099511627776] needs
// EXTRA: --dims gives 3 sizes but no argument of 'twice' has more than 2 dynamic dimensions
// HUGE: moa-run: argument 0 of 'twice' would have shape [4294967296, 4294967296, 4], which is too large
// ZEROS: nan=0 inf=0 max=0
