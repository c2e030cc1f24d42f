// ptxas assembles every kernel of the f32 and bf16 layers for sm_90a and
// sm_80 (bench/gpu/ptxas_report.py prints the registers, spills and shared
// memory of each): nothing spills in the f32 layer; in the bf16 one ptxas
// spills a few bytes from the tensor-core attention (sm_80), never more
// than 64.
// REQUIRES: cuda-toolkit
// RUN: %python %moa_src_root/bench/gpu/ptxas_report.py %moa_tools/moa-compile %moa_src_root/examples/moa_layer.mlir %S/Inputs/layer-bf16.mlir --max-spill 64 | FileCheck %s

// CHECK: model chip kernel regs spill st spill ld smem
// CHECK-COUNT-8: moa_layer.mlir sm_90a moa_{{[a-z_]+}} {{[0-9]+}} 0 0 {{[0-9]+}}
// CHECK-COUNT-8: moa_layer.mlir sm_80 moa_{{[a-z_]+}} {{[0-9]+}} 0 0 {{[0-9]+}}
// CHECK-COUNT-9: layer-bf16.mlir sm_90a moa_{{[a-z_]+}} {{[0-9]+}} {{[0-9]+}} {{[0-9]+}} {{[0-9]+}}
// CHECK-COUNT-9: layer-bf16.mlir sm_80 moa_{{[a-z_]+}} {{[0-9]+}} {{[0-9]+}} {{[0-9]+}} {{[0-9]+}}
// CHECK-NOT: {{.}}
