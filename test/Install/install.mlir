// An installed moa is usable from another CMake project: cmake --install, then
// a consumer does find_package(MoA 0.1 REQUIRED), links MoA::Lowering and runs
// its own opt tool on a moa module. A version the package does not satisfy is
// refused. The installed Python package finds the installed tools.
// REQUIRES: shared-mlir
// RUN: rm -rf %t && mkdir -p %t
// RUN: %cmake --install %moa_obj_root --prefix %t/prefix > %t/install.log
// RUN: %cmake -G Ninja -S %S/consumer -B %t/build -DMoA_DIR=%t/prefix/lib/cmake/moa -DMLIR_DIR=%mlir_dir > %t/configure.log
// RUN: %cmake --build %t/build > %t/build.log
// RUN: %t/build/consumer-opt %s --moa-decompose | FileCheck %s
// RUN: %t/prefix/bin/moa-opt %s --moa-cost -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST
// RUN: %t/prefix/bin/moa-compile %moa_src_root/examples/moa_layer.mlir -o %t/layer.so
// RUN: readelf -d %t/layer.so | FileCheck %s --check-prefix=RUNPATH -DPREFIX=%t/prefix
// RUN: %t/prefix/bin/moa-run %t/layer.so moa_layer --random --dims 1,3 | FileCheck %s --check-prefix=EXEC
// RUN: env -u MOA_HOME PYTHONPATH=%t/prefix/python_packages MOA_CACHE_DIR=%t/cache %python -c "import moa, numpy as np; m = moa.compile('%s'); print('python:', moa.__file__, m.layer(*[np.ones([2, 3, 16] if i == 0 else s, np.float32) for i, s in enumerate([None, (16, 4), (4, 16, 8), (16, 8), (16, 8), (4, 8, 16)])])[0].shape)" | FileCheck %s --check-prefix=PYTHON -DPREFIX=%t/prefix
// RUN: sed 's/MoA 0.1/MoA 0.2/' %S/consumer/CMakeLists.txt > %t/CMakeLists.txt && cp %S/consumer/consumer-opt.cpp %t/
// RUN: not %cmake -S %t -B %t/build-v02 -DMoA_DIR=%t/prefix/lib/cmake/moa -DMLIR_DIR=%mlir_dir 2>&1 | FileCheck %s --check-prefix=VERSION

// CHECK-LABEL: func.func @layer
// CHECK: moa.route %{{.*}} k(2)
// CHECK: moa.grouped_matmul
// COST: moa-cost @layer
// RUNPATH: RUNPATH{{.*}}[[PREFIX]]/lib
// EXEC: result 0: f32 [1, 3, 256]
// PYTHON: python: [[PREFIX]]/python_packages/moa/__init__.py (2, 3, 16)
// VERSION: Could not find a configuration file for package "MoA" that is compatible
func.func @layer(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>) -> tensor<?x?x16xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}
