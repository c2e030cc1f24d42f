// RUN: moa-opt %s -split-input-file -moa-gpu-host-boundary | FileCheck %s

// The host entry copies the argument to the device, calls the device entry,
// copies its result back into a host buffer, frees the device buffers and
// waits. The device entry works on the device buffers, hands its result over
// (not freed), frees the rest, waits once and reports the device error word.
// CHECK-LABEL: func.func @entry(
// CHECK-SAME: %[[X:.*]]: memref<?x4xf32>) -> memref<?x4xf32>
// CHECK: %[[N:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[DX:.*]] = gpu.alloc  (%[[N]]) : memref<?x4xf32>
// CHECK: gpu.memcpy  %[[DX]], %[[X]]
// CHECK: %[[DY:.*]] = call @entry__moa_device(%[[DX]])
// CHECK: %[[HOST:.*]] = memref.alloc(%{{.*}}) : memref<?x4xf32>
// CHECK: gpu.memcpy  %[[HOST]], %[[DY]]
// CHECK: gpu.dealloc  %[[DX]]
// CHECK: gpu.dealloc  %[[DY]]
// CHECK: gpu.wait
// CHECK: return %[[HOST]]
// CHECK-LABEL: func.func @entry__moa_device(
// CHECK-SAME: %[[A:.*]]: memref<?x4xf32>) -> memref<?x4xf32>
// CHECK-NOT: moa_rt_wants_routing
// CHECK: %[[ERR:.*]] = gpu.alloc  () {moa.error_word} : memref<1xi32>
// CHECK: %[[Y:.*]] = gpu.alloc
// CHECK: gpu.launch
// CHECK: memref.load %[[A]]
// CHECK: %[[HERR:.*]] = memref.alloca() : memref<1xi32>
// CHECK: gpu.memcpy  %[[HERR]], %[[ERR]]
// CHECK-NOT: gpu.dealloc  %[[Y]]
// CHECK: gpu.dealloc  %[[ERR]]
// CHECK-NOT: gpu.dealloc  %[[Y]]
// CHECK: gpu.wait
// CHECK: %[[CODE:.*]] = memref.load %[[HERR]][%{{.*}}]
// CHECK: %[[SET:.*]] = arith.cmpi ne, %[[CODE]]
// CHECK: %[[KERNEL:.*]] = arith.cmpi slt, %[[CODE]], %c1000_i32
// CHECK: %[[BAD:.*]] = arith.andi %[[SET]], %[[KERNEL]]
// CHECK: scf.if %[[BAD]]
// CHECK: call @moa_rt_fail(
// CHECK: return %[[Y]]
func.func @entry(%x: memref<?x4xf32>) -> memref<?x4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0 : i32
  %err = gpu.alloc () {moa.error_word} : memref<1xi32>
  gpu.memset %err, %zero : memref<1xi32>, i32
  %n = memref.dim %x, %c0 : memref<?x4xf32>
  %y = gpu.alloc (%n) : memref<?x4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%bx, %c0] : memref<?x4xf32>
    memref.store %v, %y[%bx, %c0] : memref<?x4xf32>
    gpu.terminator
  }
  return %y : memref<?x4xf32>
}

// -----

// A routing record: the device entry asks the runtime first whether the
// caller wants the head usage, and only then copies the device indices to
// the host and counts them, before the frees and the wait.
// CHECK-LABEL: func.func @routing(
// CHECK: call @routing__moa_device
// CHECK-LABEL: func.func @routing__moa_device
// CHECK: %[[WANT:.*]] = call @moa_rt_wants_routing() : () -> i1
// CHECK: %[[IDX:.*]] = gpu.alloc
// CHECK-NOT: moa.record_routing
// CHECK: scf.if %[[WANT]] {
// CHECK: %[[HOST:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xi32>
// CHECK: gpu.memcpy  %[[HOST]], %[[IDX]]
// CHECK: gpu.wait
// CHECK: %[[E:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: call @moa_rt_record_routing(%[[HOST]], %[[E]]) : (memref<?x?x?xi32>, i64) -> ()
// CHECK: memref.dealloc %[[HOST]]
// CHECK: }
// CHECK: gpu.dealloc  %[[IDX]]
// CHECK: gpu.wait
func.func @routing(%n: index) {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %idx = gpu.alloc (%n, %c1, %c2) : memref<?x?x?xi32>
  moa.record_routing %idx experts(%c8) : memref<?x?x?xi32>
  return
}

// -----

// A private function without GPU code is left alone; a public one is an
// entry and gets its device form too, which returns a copy of its own of
// the argument.
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: gpu.
// CHECK-LABEL: func.func @host_only(
// CHECK: call @host_only__moa_device
// CHECK-LABEL: func.func @host_only__moa_device(
// CHECK-SAME: %[[X:.*]]: memref<4xf32>)
// CHECK: %[[COPY:.*]] = gpu.alloc  () : memref<4xf32>
// CHECK: gpu.memcpy  %[[COPY]], %[[X]]
// CHECK: return %[[COPY]]
func.func private @helper(%x: memref<4xf32>) -> memref<4xf32> {
  return %x : memref<4xf32>
}
func.func @host_only(%x: memref<4xf32>) -> memref<4xf32> {
  return %x : memref<4xf32>
}

// -----

// An assertion moved to the device (moa-lower-to-gpu): its code in the error
// word fails the call with its message.
// CHECK-LABEL: func.func @assertion(
// CHECK-LABEL: func.func @assertion__moa_device
// CHECK: gpu.wait
// CHECK: %[[CODE:.*]] = memref.load
// CHECK: %[[IS:.*]] = arith.cmpi eq, %[[CODE]], %c1000_i32
// CHECK: scf.if %[[IS]] {
// CHECK: call @moa_rt_fail_message
// CHECK: arith.cmpi slt, %[[CODE]], %c1000_i32
func.func @assertion(%x: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %code = arith.constant 1000 : i32
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0 : i32
  %err = gpu.alloc () {moa.error_word} : memref<1xi32>
  gpu.memset %err, %zero : memref<1xi32>, i32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %old = memref.atomic_rmw maxs %code, %err[%c0] : (i32, memref<1xi32>) -> i32
    gpu.terminator
  } {moa.assertion = [1000, "lengths must be positive"]}
  return
}

// -----

// A result tied to a donated argument is written into it on the device (and
// dropped from the device entry's results); the host entry copies that
// argument back. A result that is an argument, and a buffer returned twice,
// are handed over as copies of their own.
// CHECK-LABEL: func.func @tied(
// CHECK-SAME: %[[C:.*]]: memref<4xf32>, %[[X:.*]]: memref<4xf32>)
// CHECK: %[[DC:.*]] = gpu.alloc  () : memref<4xf32>
// CHECK: gpu.memcpy  %[[DC]], %[[C]]
// CHECK: %[[DX:.*]] = gpu.alloc  () : memref<4xf32>
// CHECK: gpu.memcpy  %[[DX]], %[[X]]
// CHECK: %[[R:.*]]:3 = call @tied__moa_device(%[[DC]], %[[DX]]) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>)
// CHECK: gpu.memcpy  %[[C]], %[[DC]]
// CHECK: gpu.wait
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %[[C]]
// CHECK-LABEL: func.func @tied__moa_device(
// CHECK-SAME: %[[A:.*]]: memref<4xf32>, %[[B:.*]]: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>)
// CHECK-NOT: moa_rt_wants_routing
// CHECK: %[[Y:.*]] = gpu.alloc  () : memref<4xf32>
// CHECK: %[[Y2:.*]] = gpu.alloc  () : memref<4xf32>
// CHECK: gpu.memcpy  %[[Y2]], %[[Y]]
// CHECK: %[[B2:.*]] = gpu.alloc  () : memref<4xf32>
// CHECK: gpu.memcpy  %[[B2]], %[[B]]
// CHECK: gpu.memcpy  %[[A]], %[[Y]]
// CHECK-NOT: gpu.dealloc
// CHECK: gpu.wait
// CHECK: return %[[Y]], %[[Y2]], %[[B2]]
func.func @tied(%cache: memref<4xf32>, %x: memref<4xf32>)
    -> (memref<4xf32>, memref<4xf32>, memref<4xf32>,
        memref<4xf32> {moa.tied = 0 : i64}) {
  %y = gpu.alloc () : memref<4xf32>
  return %y, %y, %x, %y : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>
}

// -----

// A buffer returned through a cast to the result's type is handed over as
// it is: no copy, not freed.
// CHECK-LABEL: func.func @cast_result__moa_device(
// CHECK: %[[Y:.*]] = gpu.alloc  (%{{.*}}) : memref<?xf32>
// CHECK: %[[C:.*]] = memref.cast %[[Y]] : memref<?xf32> to memref<4xf32>
// CHECK-NOT: gpu.memcpy
// CHECK-NOT: gpu.dealloc
// CHECK: return %[[C]]
func.func @cast_result(%n: index) -> memref<4xf32> {
  %y = gpu.alloc (%n) : memref<?xf32>
  %c = memref.cast %y : memref<?xf32> to memref<4xf32>
  return %c : memref<4xf32>
}
