// The kernels of the MoA layer in PTX: every kernel exists, the f16 and bf16
// GEMMs and attention run on the tensor cores (mma.sync m16n8k16, f32
// accumulation: 2 k-steps x 2 x 4 tiles per stage in each of the three GEMM
// kernels, the K and V projections being one, 48; and for h = 64, 8 key
// tiles x 4 k-steps for S = Q K^T plus 4 k-steps x 8 dimension tiles for
// O += P V, 64). Their shared-memory operands come by ldmatrix (per GEMM
// stage 2 k-steps x (2 A + 2 weight) x4 loads, 24; attention 16 for K and 16
// for V, transposed) and are filled by cp.async (16 bytes; per GEMM stage 2
// A and 2 weight chunks a thread, issued before the k loop for the first
// stage and in it for the next, 24; attention 4 rounds of K and V, 8). The
// GEMMs' copies are two stages deep: the first stage's group is committed
// before the loop (a commit that nothing waited on was once erased as dead,
// which the emulator, running before that, could not see), each next
// stage's waited for one group behind.
// The f32 layer uses none of them, and the Ampere target gets the same code.
// REQUIRES: cuda-toolkit
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --emit=ptx > %t.bf16.ptx
// RUN: FileCheck %s --check-prefix=KERNELS < %t.bf16.ptx
// RUN: FileCheck %s --check-prefix=BF16 < %t.bf16.ptx
// RUN: moa-compile %S/Inputs/layer-f16.mlir --target=cuda --emit=ptx | FileCheck %s --check-prefix=F16
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --cuda-chip=sm_80 --emit=ptx | FileCheck %s --check-prefixes=SM80
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
// BF16-COUNT-112: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// BF16-NOT: mma.sync
// F16-COUNT-112: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// F16-NOT: mma.sync
// RUN: grep -c "ldmatrix.sync.aligned.m8n8.x4.shared.b16" %t.bf16.ptx | FileCheck %s --check-prefix=LDMATRIX
// RUN: grep -c "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16" %t.bf16.ptx | FileCheck %s --check-prefix=TRANS
// RUN: grep -c "cp.async.cg.shared.global \[%rd[0-9]*\], \[%rd[0-9]*\], 16, %r" %t.bf16.ptx | FileCheck %s --check-prefix=CPASYNC
// LDMATRIX: 28
// TRANS: 28
// CPASYNC: 32
// RUN: FileCheck %s --check-prefix=GROUP < %t.bf16.ptx
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
// SM80: cp.async.cg.shared.global
// SM80: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// SM80: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// SM80: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// F32: .target sm_90a
// F32-NOT: {{mma.sync|ldmatrix|cp.async}}
// F32: .visible .entry moa_attention(
// F32-NOT: {{mma.sync|ldmatrix|cp.async}}

// CPU: moa-compile: --emit=ptx needs --target=cuda
