// ptxas assembles every kernel of the f32 and bf16 layers for sm_90a and
// sm_80 without spilling registers (bench/gpu/ptxas_report.py prints the
// registers, spills and shared memory of each).
// REQUIRES: cuda-toolkit
// RUN: %python %moa_src_root/bench/gpu/ptxas_report.py %moa_tools/moa-compile %moa_src_root/examples/moa_layer.mlir %S/Inputs/layer-bf16.mlir | FileCheck %s

// CHECK: model chip kernel regs spill st spill ld smem
// CHECK-COUNT-18: moa_layer.mlir {{sm_90a|sm_80}} moa_{{[a-z_0]+}} {{[0-9]+}} 0 0 {{[0-9]+}}
// CHECK-COUNT-20: layer-bf16.mlir {{sm_90a|sm_80}} moa_{{[a-z_0]+}} {{[0-9]+}} 0 0 {{[0-9]+}}
// CHECK-NOT: {{.}}
