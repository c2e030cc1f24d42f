// The Hopper GEMM of Inputs/wgmma-gemm.mlir in PTX for sm_90a: tensor maps
// reach the kernel as pointers (moa-gpu-tensor-map-arguments), the shared
// tiles keep their 1024-byte alignment (the 128-byte swizzle's period),
// thread 0 initialises the two mbarriers, TMA loads 2-D boxes completing
// bytes on them, every thread waits on a phase parity, and the k loop's
// four 64-deep tiles are wgmma m64n64k16 bf16 with f32 accumulators (4
// k-steps each, fenced, committed and waited for). Targets without wgmma
// get a located error.
// REQUIRES: cuda-toolkit
// RUN: moa-compile %S/Inputs/wgmma-gemm.mlir --target=cuda --emit=ptx | FileCheck %s
// RUN: %python %moa_src_root/bench/gpu/ptxas_report.py --chips sm_90a %moa_tools/moa-compile %S/Inputs/wgmma-gemm.mlir | FileCheck %s --check-prefix=PTXAS
// RUN: not moa-compile %S/Inputs/wgmma-gemm.mlir --target=cuda --cuda-chip=sm_80 --emit=ptx 2>&1 | FileCheck %s --check-prefix=SM80

// CHECK: .target sm_90a
// CHECK-LABEL: .visible .entry gemm(
// CHECK-NEXT: .param .u64 {{.*}}gemm_param_0
// CHECK-DAG: .shared .align 8 .b8 __mbarrier[16];
// CHECK-DAG: .shared .align 1024 .b8 __wg_gemm_0[8192];
// CHECK-DAG: .shared .align 1024 .b8 __wg_gemm_3[8192];
// CHECK: @%p{{[0-9]+}} mbarrier.init.shared.b64
// CHECK: mbarrier.arrive.expect_tx.shared.b64
// CHECK: cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes
// CHECK: mbarrier.try_wait.parity.shared.b64
// CHECK: wgmma.fence.sync.aligned;
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// CHECK: wgmma.commit_group.sync.aligned;
// CHECK: wgmma.wait_group.sync.aligned

// PTXAS: wgmma-gemm.mlir sm_90a gemm {{[0-9]+}} 0 0 {{[0-9]+}}

// SM80: wgmma-gemm.mlir:{{[0-9]+}}:{{[0-9]+}}: error: 'nvvm.wgmma.fence.aligned' op is not supported on sm_80
