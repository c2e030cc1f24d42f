// The kernels of the MoA layer in PTX: every kernel exists, the f16 and bf16
// GEMMs and attention run on the tensor cores (mma.sync m16n8k16, f32
// accumulation: 2 k-steps x 2 x 4 tiles per stage in each of the four GEMM
// kernels, 64; and for h = 64, 8 key tiles x 4 k-steps for S = Q K^T plus
// 4 k-steps x 8 dimension tiles for O += P V, 64), the f32 layer uses none,
// and the Ampere target gets the same code.
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
// KERNELS-DAG: .visible .entry moa_projection_0(
// KERNELS-DAG: .visible .entry moa_attention(
// KERNELS-DAG: .visible .entry moa_grouped_matmul_combine(
// KERNELS-DAG: .visible .entry moa_narrow(
// BF16-COUNT-128: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// BF16-NOT: mma.sync
// F16-COUNT-128: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// F16-NOT: mma.sync

// SM80: .target sm_80
// SM80: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// F32: .target sm_90a
// F32-NOT: mma.sync
// F32: .visible .entry moa_attention(
// F32-NOT: mma.sync

// CPU: moa-compile: --emit=ptx needs --target=cuda
