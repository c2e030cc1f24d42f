// The emulator's kernel profile (moa-compile --emulate-gpu-profile) on small
// kernels whose counts are known by hand (Inputs/profile-kernels.mlir;
// buffers 256-byte aligned, as cudaMalloc's):
// - coalesced: 8 warps each load and store 32 consecutive f32 (128 bytes,
//   4 sectors; the launch touches 32 distinct sectors);
// - strided: lanes 32 bytes apart load 32 sectors in one request; the
//   store back is coalesced; one barrier;
// - banks: a store of consecutive words (1 wavefront), a column of words
//   128 bytes apart (all in bank 0: 32 wavefronts), a broadcast (1) and
//   16-byte vector loads (4 phases of 8 lanes, 1 wavefront each): 37
//   wavefronts where 6 would do; a global load of one word by every lane
//   asks for 128 bytes, 4 distinct, in one sector;
// - fragments (2 blocks of one warp): ldmatrix x4 over rows 128 bytes apart
//   (each matrix's 8 rows in the same banks: 32 wavefronts) and over packed
//   rows (4), and one m16n8k16 mma.sync per warp, 2*16*8*16 = 4096 flops;
// - arithmetic (one warp): per thread 4 loop iterations of an exp (special),
//   a multiply and an add (float), a shuffle, and the loop's increment and
//   compare (integer) and branch; then f32 -> f16 -> f32 (2 conversions),
//   f32 -> bf16 (a conversion) -> f32 (a shift: integer), their sum (float),
//   a lane-parity test (2 integer) and an if (branch): float 9, integer 11,
//   special 4, conversion 3, shuffle 4, branch 5, times 32 threads; only
//   the odd lanes store (64 bytes over 4 sectors);
// - uneven (a 2 x 2 grid of one warp): block (x, y) loops n = x + 2 y + 1
//   times over an add (float) with the loop's integer 2 and branch 1, after
//   3 integer for n: 10 iterations in all, so float 320, integer
//   32 (4 * 3 + 2 * 10) = 1024, branch 320; each block loads and stores the
//   same 32 words (4 distinct sectors for the launch).
// Thread instructions elsewhere: an index multiply and add per thread
// (coalesced, fragments), a multiply (strided), two multiplies and three
// adds (banks); index casts and constants count as none.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/Inputs/npy.py write %t/x.npy 256
// RUN: moa-compile %S/Inputs/profile-kernels.mlir --target=cuda --emulate-gpu --emulate-gpu-profile -o %t/profile.so
// RUN: env MOA_EMU_PROFILE=%t/profile.txt moa-run %t/profile.so profile %t/x.npy
// RUN: FileCheck %s < %t/profile.txt

// CHECK: launch coalesced grid 2x1 block 128 | tensor-core flop 0 | global load: requests 8, bytes 1024 (distinct 1024), sectors 32 | global store: requests 8, bytes 1024 (distinct 1024), sectors 32 | global distinct sectors 32 | shared load: requests 0, bytes 0, wavefronts 0 (ideal 0) | shared store: requests 0, bytes 0, wavefronts 0 (ideal 0) | barriers per block 0 | thread instructions: float 256, integer 512, special 0, conversion 0, shuffle 0, branch 0
// CHECK-NEXT: launch strided grid 1x1 block 32 | tensor-core flop 0 | global load: requests 1, bytes 128 (distinct 128), sectors 32 | global store: requests 1, bytes 128 (distinct 128), sectors 4 | global distinct sectors 32 | shared load: requests 0, bytes 0, wavefronts 0 (ideal 0) | shared store: requests 0, bytes 0, wavefronts 0 (ideal 0) | barriers per block 1 | thread instructions: float 0, integer 32, special 0, conversion 0, shuffle 0, branch 0
// CHECK-NEXT: launch banks grid 1x1 block 32 | tensor-core flop 0 | global load: requests 2, bytes 256 (distinct 132), sectors 5 | global store: requests 1, bytes 128 (distinct 128), sectors 4 | global distinct sectors 4 | shared load: requests 3, bytes 768, wavefronts 37 (ideal 6) | shared store: requests 1, bytes 128, wavefronts 1 (ideal 1) | barriers per block 1 | thread instructions: float 96, integer 64, special 0, conversion 0, shuffle 0, branch 0
// CHECK-NEXT: launch fragments grid 2x1 block 32 | tensor-core flop 8192 | global load: requests 0, bytes 0 (distinct 0), sectors 0 | global store: requests 2, bytes 256 (distinct 256), sectors 8 | global distinct sectors 8 | shared load: requests 4, bytes 2048, wavefronts 72 (ideal 16) | shared store: requests 0, bytes 0, wavefronts 0 (ideal 0) | barriers per block 0 | thread instructions: float 0, integer 128, special 0, conversion 0, shuffle 0, branch 0
// CHECK-NEXT: launch arithmetic grid 1x1 block 32 | tensor-core flop 0 | global load: requests 1, bytes 128 (distinct 128), sectors 4 | global store: requests 1, bytes 64 (distinct 64), sectors 4 | global distinct sectors 4 | shared load: requests 0, bytes 0, wavefronts 0 (ideal 0) | shared store: requests 0, bytes 0, wavefronts 0 (ideal 0) | barriers per block 0 | thread instructions: float 288, integer 352, special 128, conversion 96, shuffle 128, branch 160
// CHECK-NEXT: launch uneven grid 2x2 block 32 | tensor-core flop 0 | global load: requests 4, bytes 512 (distinct 512), sectors 16 | global store: requests 4, bytes 512 (distinct 512), sectors 16 | global distinct sectors 4 | shared load: requests 0, bytes 0, wavefronts 0 (ideal 0) | shared store: requests 0, bytes 0, wavefronts 0 (ideal 0) | barriers per block 0 | thread instructions: float 320, integer 1024, special 0, conversion 0, shuffle 0, branch 320
// CHECK-NOT: launch

// MOA_EMU_PROFILE_BLOCKS adds a line of each block's work under its launch,
// in the hardware's dispatch order (x fastest), runs of equal blocks as
// work*count: tensor-core flop, warp requests (global and shared), shared
// wavefronts, shared bytes of wgmma and TMA, then thread instructions by
// class (float, integer, special, conversion, shuffle, branch). The
// coalesced kernel's two blocks are equal (4 warps: 8 requests, float 128,
// integer 256); uneven's block with n iterations has float 32 n, integer
// 32 (3 + 2 n), branch 32 n, and runs second at n = 2 (the emulator runs
// y fastest).
// RUN: env MOA_EMU_PROFILE=%t/blocks.txt MOA_EMU_PROFILE_BLOCKS=1 moa-run %t/profile.so profile %t/x.npy
// RUN: FileCheck %s --check-prefix=BLOCKS < %t/blocks.txt
// BLOCKS-LABEL: launch coalesced
// BLOCKS-NEXT: blocks 2: 0,8,0,0,128,256,0,0,0,0*2
// BLOCKS-LABEL: launch fragments
// BLOCKS-NEXT: blocks 2: 4096,3,36,0,0,64,0,0,0,0*2
// BLOCKS-LABEL: launch uneven
// BLOCKS-NEXT: blocks 4: 0,2,0,0,32,160,0,0,0,32 0,2,0,0,64,224,0,0,0,64 0,2,0,0,96,288,0,0,0,96 0,2,0,0,128,352,0,0,0,128

// MOA_EMU_PROFILE_SITES adds a line per access site under its launch: the
// same requests, by site (the op, and the loop it runs in where the lowering
// named one, else how many loops), with
// coalescing (distinct bytes over the bytes of the sectors touched) and
// wavefronts over the fewest.
// RUN: env MOA_EMU_PROFILE=%t/sites.txt MOA_EMU_PROFILE_SITES=1 moa-run %t/profile.so profile %t/x.npy
// RUN: FileCheck %s --check-prefix=SITES < %t/sites.txt
// SITES-LABEL: launch coalesced
// SITES-NEXT: site 0 memref.load in 0 loops, global load: requests 8, bytes 1024, sectors 32, coalescing 1.00
// SITES-NEXT: site 1 memref.store in 0 loops, global store: requests 8, bytes 1024, sectors 32, coalescing 1.00
// SITES-LABEL: launch strided
// SITES-NEXT: site 0 memref.load in 0 loops, global load: requests 1, bytes 128, sectors 32, coalescing 0.12
// SITES-NEXT: site 1 memref.store in 0 loops, global store: requests 1, bytes 128, sectors 4, coalescing 1.00
// SITES-LABEL: launch banks
// SITES-NEXT: site 0 memref.load in 0 loops, global load: requests 1, bytes 128, sectors 4, coalescing 1.00
// SITES-NEXT: site 1 memref.store in 0 loops, shared store: requests 1, bytes 128, wavefronts 1 (ideal 1), conflicts 1.00
// SITES-NEXT: site 2 memref.load in 0 loops, shared load: requests 1, bytes 128, wavefronts 32 (ideal 1), conflicts 32.00
// SITES-NEXT: site 3 memref.load in 0 loops, shared load: requests 1, bytes 128, wavefronts 1 (ideal 1), conflicts 1.00
// SITES-NEXT: site 4 vector.load in 0 loops, shared load: requests 1, bytes 512, wavefronts 4 (ideal 4), conflicts 1.00
// SITES-NEXT: site 5 memref.load in 0 loops, global load: requests 1, bytes 128, sectors 1, coalescing 0.12
// SITES-LABEL: launch fragments
// SITES-NEXT: site 0 nvgpu.ldmatrix in 0 loops, shared load: requests 2, bytes 1024, wavefronts 64 (ideal 8), conflicts 8.00
// SITES-NEXT: site 1 nvgpu.ldmatrix in 0 loops, shared load: requests 2, bytes 1024, wavefronts 8 (ideal 8), conflicts 1.00
// SITES-LABEL: launch arithmetic
// SITES-NEXT: site 0 memref.load in 0 loops, global load: requests 1, bytes 128, sectors 4, coalescing 1.00
// SITES-NEXT: site 1 memref.store in 0 loops, global store: requests 1, bytes 64, sectors 4, coalescing 0.50

// The bf16 layer's GEMM main loops, by site: every global request they make
// is fully coalesced (cp.async of A's rows, TMA boxes of the weight on
// sm_90a; cp.async of both on sm_80) and every shared one takes the fewest
// wavefronts (cp.async's swizzled or padded writes, ldmatrix's reads); so
// does every shared access of those kernels outside the loop too (on
// sm_90a, the epilogue's 8-byte stores of the accumulator's pairs).
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --emulate-gpu --emulate-gpu-profile -o %t/layer90.so
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --cuda-chip=sm_80 --emulate-gpu --emulate-gpu-profile -o %t/layer80.so
// RUN: env MOA_EMU_PROFILE=%t/layer90.txt MOA_EMU_PROFILE_SITES=1 moa-run %t/layer90.so layer_bf16 --random --dims 2,150 > /dev/null
// RUN: env MOA_EMU_PROFILE=%t/layer80.txt MOA_EMU_PROFILE_SITES=1 moa-run %t/layer80.so layer_bf16 --random --dims 2,150 > /dev/null
// RUN: awk '/^launch/ { k = $2 } /^  site/ && k ~ /^moa_(grouped_matmul|projection)/ && / in main loop/' %t/layer90.txt > %t/loops90.txt
// RUN: awk '/^launch/ { k = $2 } /^  site/ && k ~ /^moa_(grouped_matmul|projection)/ && / in main loop/' %t/layer80.txt > %t/loops80.txt
// RUN: awk '/^launch/ { k = $2 } /^  site/ && k ~ /^moa_(grouped_matmul|projection)/ && / shared /' %t/layer90.txt %t/layer80.txt > %t/shared.txt
// RUN: FileCheck %s --check-prefix=LOOPS90 < %t/loops90.txt
// RUN: FileCheck %s --check-prefix=LOOPS80 < %t/loops80.txt
// RUN: FileCheck %s --check-prefix=EPILOGUE < %t/shared.txt
// RUN: not grep -E "coalescing 0|conflicts ([2-9]|1[.]0[1-9]|1[.][1-9])" %t/loops90.txt %t/loops80.txt %t/shared.txt
// LOOPS90-DAG: nvgpu.device_async_copy in main loop, global load: {{.*}}, coalescing 1.00
// LOOPS90-DAG: nvgpu.device_async_copy in main loop, shared store: {{.*}}, conflicts 1.00
// LOOPS90-DAG: nvgpu.tma.async.load in main loop, global load: {{.*}}, coalescing 1.00
// LOOPS80-DAG: nvgpu.device_async_copy in main loop, global load: {{.*}}, coalescing 1.00
// LOOPS80-DAG: nvgpu.device_async_copy in main loop, shared store: {{.*}}, conflicts 1.00
// LOOPS80-DAG: nvgpu.ldmatrix in main loop, shared load: {{.*}}, conflicts 1.00
// EPILOGUE: vector.store in 0 loops, shared store: requests {{[0-9]+}}, bytes {{[0-9]+}}, wavefronts {{[0-9]+}} (ideal {{[0-9]+}}), conflicts 1.00

// Without --emulate-gpu the option is an error.
// RUN: not moa-compile %S/Inputs/profile-kernels.mlir --target=cuda --emulate-gpu-profile -o %t/no.so 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ALONE
// ALONE: --emulate-gpu-profile needs --emulate-gpu
