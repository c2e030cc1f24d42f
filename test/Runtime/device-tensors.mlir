// Device tensors through the runtime (runtime/Device.h), on the CPU emulator
// of the GPU so that values can be compared: each entry gives on device
// tensors bit for bit what it gives on host tensors, a donated device tensor
// is updated in place, device tensors outlive their module, and misplaced
// tensors are rejected with a message.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/device-entries.mlir --target=cuda --emulate-gpu -o %t/gpu.so
// RUN: moa-compile %S/Inputs/device-entries.mlir -o %t/cpu.so
// RUN: moa-device-test %t/gpu.so %t/cpu.so | FileCheck %s
// CHECK: ok: device: the CPU emulator
// CHECK: ok: add: device results equal host results, inputs intact
// CHECK: ok: identity: device results equal host results, inputs intact
// CHECK: ok: twice: device results equal host results, inputs intact
// CHECK: ok: accumulate, not donated: right sum, argument unchanged
// CHECK: ok: accumulate, donated: right sum, in the argument's buffer
// CHECK: ok: CPU module, device tensor
// CHECK-NEXT: 'identity' of '{{.*}}cpu.so' runs on the CPU and takes host tensors only (device tensors need a module compiled with --target=cuda)
// CHECK: ok: upload to a CPU module
// CHECK-NEXT: '{{.*}}cpu.so' runs on the CPU: it has no device to copy to
// CHECK: ok: download of a host tensor
// CHECK-NEXT: download of a tensor that is not on the device
// CHECK: ok: device tensor, wrong rank
// CHECK-NEXT: argument 0 of 'identity' must have rank 1 (shape [?]), got shape [2, 3]
// CHECK: ok: device tensors freed after their module
// CHECK: 0 failed

// moa-run --device: the same results as from host tensors.
// RUN: mkdir -p %t/host %t/device
// RUN: moa-run %t/gpu.so add --random --seed 5 --dims 33 -o %t/host
// RUN: moa-run %t/gpu.so add --random --seed 5 --dims 33 -o %t/device --device --repeat 2 | FileCheck %s --check-prefix=DEV
// RUN: cmp %t/host/out0.npy %t/device/out0.npy
// RUN: not moa-run %t/cpu.so add --random --dims 33 --device 2>&1 | FileCheck %s --check-prefix=ONCPU
// DEV-LABEL: result 0: f32 [33]
// DEV: time on device tensors: {{[0-9.]+}} ms, whole call from host tensors: {{[0-9.]+}} ms (medians of 2)
// ONCPU: moa-run: --device needs a module compiled with --target=cuda
