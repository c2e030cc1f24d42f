// RUN: moa-opt %s -split-input-file -moa-gpu-host-boundary | FileCheck %s

// The argument is copied to the device and used from there, the result
// copied back into a host buffer, every device buffer freed, one wait, and
// the device error word reported.
// CHECK-LABEL: func.func @entry(
// CHECK-SAME: %[[X:.*]]: memref<?x4xf32>) -> memref<?x4xf32>
// CHECK: %[[N:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[DX:.*]] = gpu.alloc  (%[[N]]) : memref<?x4xf32>
// CHECK: gpu.memcpy  %[[DX]], %[[X]]
// CHECK: %[[ERR:.*]] = gpu.alloc  () {moa.error_word} : memref<1xi32>
// CHECK: memref.dim %[[DX]]
// CHECK: %[[Y:.*]] = gpu.alloc
// CHECK: gpu.launch
// CHECK: memref.load %[[DX]]
// CHECK: %[[HOST:.*]] = memref.alloc(%{{.*}}) : memref<?x4xf32>
// CHECK: gpu.memcpy  %[[HOST]], %[[Y]]
// CHECK: %[[HERR:.*]] = memref.alloca() : memref<1xi32>
// CHECK: gpu.memcpy  %[[HERR]], %[[ERR]]
// CHECK-DAG: gpu.dealloc  %[[DX]]
// CHECK-DAG: gpu.dealloc  %[[ERR]]
// CHECK-DAG: gpu.dealloc  %[[Y]]
// CHECK: gpu.wait
// CHECK: %[[CODE:.*]] = memref.load %[[HERR]][%{{.*}}]
// CHECK: %[[SET:.*]] = arith.cmpi ne, %[[CODE]]
// CHECK: %[[KERNEL:.*]] = arith.cmpi slt, %[[CODE]], %c1000_i32
// CHECK: %[[BAD:.*]] = arith.andi %[[SET]], %[[KERNEL]]
// CHECK: scf.if %[[BAD]]
// CHECK: call @moa_rt_fail(
// CHECK: return %[[HOST]]
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

// A routing record: the device indices are copied back with the results and
// counted by the runtime after the one wait.
// CHECK-LABEL: func.func @routing
// CHECK: %[[IDX:.*]] = gpu.alloc
// CHECK-NOT: moa.record_routing
// CHECK: %[[HOST:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xi32>
// CHECK: gpu.memcpy  %[[HOST]], %[[IDX]]
// CHECK: gpu.wait
// CHECK: %[[E:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: call @moa_rt_record_routing(%[[HOST]], %[[E]]) : (memref<?x?x?xi32>, i64) -> ()
// CHECK: memref.dealloc %[[HOST]]
func.func @routing(%n: index) {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %idx = gpu.alloc (%n, %c1, %c2) : memref<?x?x?xi32>
  moa.record_routing %idx experts(%c8) : memref<?x?x?xi32>
  return
}

// -----

// Functions without GPU code are left alone.
// CHECK-LABEL: func.func @host_only
// CHECK-NOT: gpu.
func.func @host_only(%x: memref<4xf32>) -> memref<4xf32> {
  return %x : memref<4xf32>
}

// -----

// An assertion moved to the device (moa-lower-to-gpu): its code in the error
// word fails the call with its message.
// CHECK-LABEL: func.func @assertion
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
