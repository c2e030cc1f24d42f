// The runtime from C++ threads and from C.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir -o %t/layer.so
// RUN: moa-compile %S/Inputs/entries.mlir -o %t/entries.so
// RUN: moa-runtime-test %t/layer.so %t/entries.so | FileCheck %s --check-prefix=THREADS
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --emulate-gpu -o %t/layer-gpu.so
// RUN: moa-runtime-capi-test %t/layer.so %t/layer-gpu.so | FileCheck %s --check-prefix=CAPI
// RUN: moa-runtime-test --idle %t/layer.so | FileCheck %s --check-prefix=IDLE
// RUN: env KMP_BLOCKTIME=50 not moa-runtime-test --idle %t/layer.so | FileCheck %s --check-prefix=SPIN

// THREADS: thread 0, shape [1, 3, 256]: 0 runs failed, 0 differ
// THREADS: thread 1, shape [2, 17, 256]: 0 runs failed, 0 differ
// THREADS: thread 2, shape [3, 64, 256]: 0 runs failed, 0 differ
// THREADS: thread 3, shape [4, 9, 256]: 0 runs failed, 0 differ
// THREADS: all concurrent results identical
// THREADS: outer: denormal products flushed to zero; caller's floating-point mode unchanged
// THREADS: outer: 50 of 50 calls reported out of memory, heap grew by less than 4 MB

// IDLE: between calls: threads asleep
// SPIN: between calls: threads spinning

// CAPI: load error: cannot load module '/nonexistent/module.so'
// CAPI: entry: moa_layer
// CAPI: result: rank 3 shape [2, 3, 256]
// CAPI: entry error: no entry point 'nope'
// CAPI: dtype error: argument 0 of 'moa_layer' must be f32, got f16
// CAPI: room error: entry 'moa_layer' has 1 results, room for 0
// CAPI: wrapped input read in place: yes
// CAPI: owned input read in place: yes
// CAPI: routes 1, experts 8, pairs routed 12
// CAPI: device: has device 1, result on device 1, max |gpu - cpu| below 1e-4
// CAPI: download error: moa_tensor_download: download of a tensor that is not on the device
// CAPI: upload error: moa_tensor_upload: '{{.*}}layer.so' runs on the CPU: it has no device to copy to
// CAPI: has device: 0
// CAPI: wrap error: moa_tensor_wrap: the data pointer is null
// CAPI: shape error: negative size -3 in dimension 1 of a tensor shape
// CAPI: manifest: moa-manifest 2
