// Training ops on inputs their forward ops never produce: disagreeing
// dynamic sizes are reported (never read out of bounds), a -1 in any slot
// makes a token padded, an empty vocabulary gives a zero loss.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/make_bad_inputs.py %t
// RUN: moa-compile %S/Inputs/training_ops.mlir -o %t/ops.so
// RUN: moa-run %t/ops.so route_grad %t/rl.npy %t/ri.npy %t/rg.npy -o %t > /dev/null
// RUN: %python -c "import numpy as n, sys; d = n.load(sys.argv[1]); sys.exit(0 if n.isfinite(d).all() and abs(d[0, 0]).sum() > 0 and (d[0, 1] == 0).all() else 1)" %t/out0.npy
// RUN: not moa-run %t/ops.so grouped_matmul_grad %t/gx.npy %t/gw.npy %t/gp.npy %t/go.npy %t/gdy.npy 2>&1 | FileCheck %s --check-prefix=GMGSIZES
// RUN: not moa-run %t/ops.so layer_norm %t/lx.npy %t/lg.npy %t/lb1.npy 2>&1 | FileCheck %s --check-prefix=LNSIZES
// RUN: not moa-run %t/ops.so layer_norm_grad %t/lx.npy %t/lg.npy %t/ldy1.npy 2>&1 | FileCheck %s --check-prefix=LNGSIZES
// GMGSIZES: moa.grouped_matmul_grad: dimension 2 of 'input' is 1, but dimension 1 of 'weight' is 16{{$}}
// LNSIZES: moa.layer_norm: dimension 0 of 'beta' is 1, but dimension 1 of 'input' is 8{{$}}
// LNGSIZES: moa.layer_norm_grad: dimension 0 of 'result_grad' is 1, but dimension 0 of 'input' is 3{{$}}
// RUN: moa-run %t/ops.so cross_entropy %t/cl.npy %t/ct.npy -o %t | FileCheck %s --check-prefix=EMPTY
// EMPTY: result 0: f32 []
// RUN: %python -c "import numpy as n, sys; sys.exit(0 if float(n.load(sys.argv[1])) == 0.0 else 1)" %t/out0.npy
