// The Hopper path on the GPU emulator (Inputs/wgmma-gemm.mlir: TMA loads
// with the 128-byte swizzle completing on mbarriers, wgmma from shared
// memory): right against float64 loops, and each of four mistakes caught:
// A declared M-major (wrong numbers), B declared K-major (reads past its
// tile), no wait on the mbarrier (stale shared memory: TMA data lands when
// a thread sees its phase complete), the wrong phase parity (a hang,
// reported). The profile's counts, by hand: 2 * 128 * 128 * 256 flops; per
// block 4 k-tiles of two 64 x 64 bf16 boxes, a request per 128-byte row
// (2048 requests, 256 KiB, 8192 sectors: coalesced); C's 64 KiB stored by
// 16 warps x 32 stores of 8 rows x 16 bytes (512 requests, 8 half-used
// sectors each: 4096); each of A's and B's 128 KiB read by two blocks
// (4096 distinct sectors, with C's 2048: 6144); the tensor cores read A's
// and B's 64 x 16 bf16 slices from shared memory per k-step (4 blocks x 4
// tiles x 4 steps x 4 KiB: 256 KiB), as much as TMA wrote there (4 blocks x
// 4 tiles x 2 boxes x 8 KiB).
// RUN: rm -rf %t && mkdir -p %t/out
// RUN: %python %S/Inputs/gemm_check.py make %t/a.npy %t/b.npy 128 256 128
// RUN: moa-compile %S/Inputs/wgmma-gemm.mlir --target=cuda --emulate-gpu --emulate-gpu-profile -o %t/gemm.so
// RUN: env MOA_EMU_PROFILE=%t/profile.txt moa-run %t/gemm.so wgmma_gemm %t/a.npy %t/b.npy -o %t/out > /dev/null
// RUN: %python %S/Inputs/gemm_check.py check %t/a.npy %t/b.npy %t/out/out0.npy | FileCheck %s --check-prefix=RIGHT
// RUN: FileCheck %s --check-prefix=PROFILE < %t/profile.txt

// RUN: sed 's/{transposeB}/{transposeA, transposeB}/' %S/Inputs/wgmma-gemm.mlir > %t/a-m-major.mlir
// RUN: moa-compile %t/a-m-major.mlir --target=cuda --emulate-gpu -o %t/a-m-major.so
// RUN: moa-run %t/a-m-major.so wgmma_gemm %t/a.npy %t/b.npy -o %t/out > /dev/null
// RUN: %python %S/Inputs/gemm_check.py check %t/a.npy %t/b.npy %t/out/out0.npy | FileCheck %s --check-prefix=WRONG

// RUN: sed 's/ {transposeB}//' %S/Inputs/wgmma-gemm.mlir > %t/b-k-major.mlir
// RUN: moa-compile %t/b-k-major.mlir --target=cuda --emulate-gpu -o %t/b-k-major.so
// RUN: not --crash moa-run %t/b-k-major.so wgmma_gemm %t/a.npy %t/b.npy -o %t/out 2>&1 | FileCheck %s --check-prefix=OUTSIDE

// RUN: sed '/nvgpu.mbarrier.try_wait.parity/d' %S/Inputs/wgmma-gemm.mlir > %t/no-wait.mlir
// RUN: moa-compile %t/no-wait.mlir --target=cuda --emulate-gpu -o %t/no-wait.so
// RUN: moa-run %t/no-wait.so wgmma_gemm %t/a.npy %t/b.npy -o %t/out > /dev/null
// RUN: %python %S/Inputs/gemm_check.py check %t/a.npy %t/b.npy %t/out/out0.npy | FileCheck %s --check-prefix=WRONG

// RUN: sed 's/parity = arith.index_cast .*/parity = arith.constant false/' %S/Inputs/wgmma-gemm.mlir > %t/parity.mlir
// RUN: moa-compile %t/parity.mlir --target=cuda --emulate-gpu -o %t/parity.so
// RUN: env MOA_EMU_HANG_SECONDS=2 not --crash moa-run %t/parity.so wgmma_gemm %t/a.npy %t/b.npy -o %t/out 2>&1 | FileCheck %s --check-prefix=HANG

// RIGHT: gemm 128x256x128: max relative error {{.*}}: ok
// WRONG: gemm 128x256x128: max relative error {{.*}}: WRONG
// OUTSIDE: moa GPU emulator: shared-memory address 0x{{[0-9a-f]+}} (2 bytes) is outside the block's shared buffers
// HANG: moa GPU emulator: thread {{[0-9]+}} waits on an mbarrier phase that never completes (parity 0)
// PROFILE: launch gemm grid 2x2 block 128 | tensor-core flop 8388608 | global load: requests 2048, bytes 262144 (distinct 262144), sectors 8192 | global store: requests 512, bytes 65536 (distinct 65536), sectors 4096 | global distinct sectors 6144 |
// PROFILE-SAME: | async shared bytes: wgmma reads 262144, TMA writes 262144
