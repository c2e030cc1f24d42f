// moa-compile reports bad input with a located diagnostic and a non-zero exit.
// RUN: rm -rf %t && mkdir -p %t
// RUN: not moa-compile %s -o %t/out.so 2>&1 | FileCheck %s
// RUN: not moa-compile %t/missing.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moa-compile %S/Inputs/unsupported-signature.mlir -o %t/out.so 2>&1 | FileCheck %s --check-prefix=SIGNATURE
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --emit=llvm | FileCheck %s --check-prefix=LLVM
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --emit=obj -o %t/layer.o && test -s %t/layer.o

// CHECK: compile-errors.mlir:[[@LINE+3]]:{{[0-9]+}}: error: 'moa.route' op k = 9 must be in [1, E] with E = 8
// MISSING: moa-compile: cannot open input file '{{.*}}missing.mlir': No such file or directory
func.func @bad(%l: tensor<?x?x8xf32>) -> tensor<?x?x9xf32> {
  %i, %g = moa.route %l k(9) : tensor<?x?x8xf32>
  return %g : tensor<?x?x9xf32>
}

// SIGNATURE: error: entry point @scalar: argument 0 has type 'f32'; entry points take and return ranked tensors of f32, f16, bf16, i32 or i1

// LLVM-DAG: define void @moa_entry_moa_layer(ptr
// LLVM-DAG: @moa_manifest = {{.*}}constant
// MLIR-DAG: llvm.func @_mlir_ciface_moa_layer
// MLIR-DAG: llvm.call @_mlir_ciface_moa_rt_sgemm
// MLIR-DAG: llvm.call @_mlir_ciface_moa_rt_record_routing
// MLIR-DAG: omp.parallel
// RUN: not moa-compile %S/Inputs/reserved-name.mlir -o %t/out.so 2>&1 | FileCheck %s --check-prefix=RESERVED
// RESERVED: error: entry point @moa_rt_mine: names must use letters, digits, '_', '.' or '$', must not start with 'moa_rt_', 'moa_entry_', '_mlir_', '__kmpc' or 'cblas_', and must not be a C library function the generated code calls
// Tile sizes the GPU kernels cannot use, or options moa-lower-to-gpu does not
// have, are rejected before anything compiles.
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --emit=mlir --gpu-tiling="gemm-rows=48" 2>&1 | FileCheck %s --check-prefix=TILE-ROWS
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --emit=mlir --gpu-tiling="attention-keys=96" 2>&1 | FileCheck %s --check-prefix=TILE-KEYS
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --emit=mlir --gpu-tiling="attention-split-below=-1" 2>&1 | FileCheck %s --check-prefix=TILE-SPLIT
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --emit=mlir --gpu-tiling="gemm-rowz=32" 2>&1 | FileCheck %s --check-prefix=TILE-NAME
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --gpu-tiling="gemm-rows=32" 2>&1 | FileCheck %s --check-prefix=TILE-CPU
// RUN: not moa-opt %moa_src_root/examples/moa_layer.mlir -moa-lower-to-gpu="gemm-depth=24" 2>&1 | FileCheck %s --check-prefix=TILE-OPT
// TILE-ROWS: moa-compile: invalid --gpu-tiling: gemm-rows 48 is not a positive multiple of 32
// TILE-KEYS: moa-compile: invalid --gpu-tiling: attention-keys 96 is not a multiple of 16 from 16 to 80
// TILE-SPLIT: moa-compile: invalid --gpu-tiling: attention-split-below -1 is negative
// TILE-NAME: moa-compile: invalid --gpu-tiling: {{.*}}no such option gemm-rowz (moa-lower-to-gpu's options, with their defaults: moa-lower-to-gpu{attention-keys=64 attention-split-below=106 gemm-cols=64 gemm-depth=32 gemm-rows=64 warpgroup-mma=false})
// TILE-CPU: moa-compile: --gpu-tiling needs --target=cuda
// TILE-OPT: error: gemm-depth 24 is not a positive multiple of 16
// CUDA chips and PTX features NVPTX does not know, chips older than the
// kernels need, and a PTX version too old for the chip are messages, not
// LLVM fatal errors; without --cuda-features a newer chip gets the PTX
// version it needs.
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --cuda-chip=sm_999 --emit=ptx 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --cuda-chip=sm_75 --emit=ptx 2>&1 | FileCheck %s --check-prefix=OLD
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --cuda-features=+ptx999 --emit=ptx 2>&1 | FileCheck %s --check-prefix=FEATURE
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --cuda-chip=sm_100a --cuda-features=+ptx80 --emit=ptx 2>&1 | FileCheck %s --check-prefix=PTX
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --cuda-chip=sm_100a --emit=ptx | FileCheck %s --check-prefix=SM100
// CHIP: moa-compile: unknown --cuda-chip 'sm_999' (NVPTX knows {{.*}}sm_80{{.*}})
// OLD: moa-compile: --cuda-chip 'sm_75' is older than the kernels need (sm_80 or newer)
// FEATURE: moa-compile: unknown --cuda-features entry '+ptx999'
// PTX: moa-compile: --cuda-chip 'sm_100a' needs PTX 8.6 or newer (--cuda-features=+ptx86)
// SM100: .version 8.6
// SM100: .target sm_100a
// --help lists moa-compile's own options, not LLVM's hundreds.
// RUN: moa-compile --help | FileCheck %s --check-prefix=HELP
// HELP: moa-compile options:
// HELP: --cuda-chip
// HELP: --gpu-tiling
// HELP-NOT: amdgpu
// HELP-NOT: --x86-
