// The kernels of the MoA layer in PTX: every kernel exists, and the f16 and
// bf16 GEMMs and attention run on the tensor cores with f32 accumulation.
// On sm_90a (the default) each of the three GEMM kernels (the K and V
// projections being one) runs a 64-deep stage of its 64 x 128 tile as one
// warpgroup mma, 4 wgmma m64n128k16, on tiles that A's rows reach by
// cp.async (swizzled), the weight's by two 3-D TMA loads completing an
// mbarrier, with a proxy fence between the two: 12 wgmma, in dynamic
// shared memory aligned to 1024 bytes at run time; attention too (h = 64,
// its tiles in dynamic shared memory as well, Q, K and V brought by 3-D
// TMA loads on two mbarriers, no cp.async): per key tile
// S = Q K^T as 4 wgmma m64n64k16 with K the K-major B (imm-trans-b 0), P
// stored to shared memory, a proxy fence, then O += P V as 4 with V the
// N-major B (imm-trans-b 1): 20 in all, no mma.sync or ldmatrix.
// On sm_80 the GEMMs use mma.sync (2 k-steps x 2 x 4 tiles per stage, 48)
// with ldmatrix (per stage 2 k-steps x (2 A + 2 weight) x4 loads, 24) and
// cp.async (16 bytes; per GEMM stage 2 A and 2 weight chunks a thread,
// issued before the k loop for the first stage and in it for the next,
// 24; attention 4 rounds of K and V, 8), two stages deep: the first
// stage's group is committed before the loop (a commit that nothing waited
// on was once erased as dead, which the emulator, running before that,
// could not see), each next stage's waited for one group behind.
// The f32 layer uses none of them.
// REQUIRES: cuda-toolkit
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --emit=ptx > %t.bf16.ptx
// RUN: FileCheck %s --check-prefix=KERNELS < %t.bf16.ptx
// RUN: FileCheck %s --check-prefix=BF16 < %t.bf16.ptx
// RUN: moa-compile %S/Inputs/layer-f16.mlir --target=cuda --emit=ptx | FileCheck %s --check-prefix=F16
// RUN: FileCheck %s --check-prefix=HOPPER < %t.bf16.ptx
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --cuda-chip=sm_80 --emit=ptx > %t.sm80.ptx
// RUN: FileCheck %s --check-prefixes=SM80 < %t.sm80.ptx
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --emit=ptx | FileCheck %s --check-prefix=F32
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --emit=ptx 2>&1 | FileCheck %s --check-prefix=CPU

// KERNELS-DAG: .visible .entry moa_router(
// KERNELS-DAG: .visible .entry moa_dispatch_count(
// KERNELS-DAG: .visible .entry moa_dispatch_scan(
// KERNELS-DAG: .visible .entry moa_dispatch_scatter(
// KERNELS-DAG: .visible .entry moa_grouped_matmul(
// KERNELS-DAG: .visible .entry moa_projection(
// KERNELS-DAG: .visible .entry moa_attention(
// KERNELS-DAG: .visible .entry moa_grouped_matmul_combine(
// KERNELS-DAG: .visible .entry moa_narrow(
// KERNELS-NOT: .entry moa_projection_0(
// BF16-NOT: {{mma.sync|ldmatrix}}
// BF16-COUNT-20: wgmma.mma_async.sync.aligned.m64n{{64|128}}k16.f32.bf16.bf16
// BF16-NOT: {{wgmma.mma_async|mma.sync|ldmatrix}}
// F16-COUNT-20: wgmma.mma_async.sync.aligned.m64n{{64|128}}k16.f32.f16.f16
// F16-NOT: wgmma.mma_async

// HOPPER-LABEL: .entry moa_grouped_matmul(
// HOPPER-NOT: {{ldmatrix|mma.sync}}
// HOPPER: mov.b64 %rd{{[0-9]+}}, __dynamic_shmem__0;
// HOPPER: mbarrier.init.shared.b64
// HOPPER: cp.async.cg.shared.global
// HOPPER: cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// HOPPER: mbarrier.try_wait.parity.shared.b64
// HOPPER: fence.proxy.async.shared::cta
// HOPPER: wgmma.fence.sync.aligned
// HOPPER-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// HOPPER: wgmma.commit_group.sync.aligned
// HOPPER-NEXT: wgmma.wait_group.sync.aligned 0
// HOPPER-NOT: {{ldmatrix|mma.sync}}
// HOPPER-LABEL: .entry moa_projection(
// HOPPER: cp.async.bulk.tensor.3d
// HOPPER-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// HOPPER-LABEL: .entry moa_attention(
// HOPPER-NOT: {{ldmatrix|mma.sync|cp.async.cg}}
// HOPPER-DAG: mbarrier.init.shared.b64
// HOPPER-DAG: mbarrier.arrive.expect_tx.shared.b64
// HOPPER-DAG: cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// HOPPER-DAG: mbarrier.try_wait.parity.shared.b64
// HOPPER-DAG: fence.proxy.async.shared::cta
// HOPPER-DAG: st.shared.b32
// HOPPER-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, 1, 0, 0;
// HOPPER-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, 1, 0, 1;
// HOPPER-NOT: {{ldmatrix|mma.sync|cp.async.cg}}
// RUN: grep -c "wgmma.mma_async.* 1, 0, *0;" %t.bf16.ptx | FileCheck %s --check-prefix=KMAJOR
// RUN: grep -c "wgmma.mma_async.* 1, 0, *1;" %t.bf16.ptx | FileCheck %s --check-prefix=NMAJOR
// KMAJOR: 4
// NMAJOR: 16
// HOPPER-LABEL: .entry moa_grouped_matmul_combine(
// HOPPER: cp.async.bulk.tensor.3d
// HOPPER-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16

// RUN: grep -c "ldmatrix.sync.aligned.m8n8.x4.shared.b16" %t.sm80.ptx | FileCheck %s --check-prefix=LDMATRIX
// RUN: grep -c "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16" %t.sm80.ptx | FileCheck %s --check-prefix=TRANS
// RUN: grep -c "cp.async.cg.shared.global \[%rd[0-9]*\], \[%rd[0-9]*\], 16, %r" %t.sm80.ptx | FileCheck %s --check-prefix=CPASYNC
// RUN: grep -c "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" %t.sm80.ptx | FileCheck %s --check-prefix=MMA
// LDMATRIX: 28
// TRANS: 28
// CPASYNC: 32
// MMA: 112
// RUN: FileCheck %s --check-prefix=GROUP < %t.sm80.ptx
// GROUP: .entry moa_grouped_matmul(
// GROUP-NOT: ldmatrix
// GROUP: cp.async.cg.shared.global
// GROUP-NOT: ldmatrix
// GROUP: cp.async.commit_group
// GROUP-NEXT: cp.async.wait_group 1
// GROUP: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// GROUP: cp.async.commit_group
// GROUP-NEXT: cp.async.wait_group 1
// GROUP: cp.async.commit_group
// GROUP-NEXT: cp.async.wait_group 0
// GROUP: .entry

// SM80: .target sm_80
// SM80-NOT: wgmma
// SM80: cp.async.cg.shared.global
// SM80: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// SM80: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// SM80: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// F32: .target sm_90a
// F32-NOT: {{mma.sync|ldmatrix|cp.async}}
// F32: .visible .entry moa_attention(
// F32-NOT: {{mma.sync|ldmatrix|cp.async}}

// CPU: moa-compile: --emit=ptx needs --target=cuda
