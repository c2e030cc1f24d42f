// RUN: moa-opt %s -split-input-file -moa-hoist-result-buffers | FileCheck %s

// The returned buffer's size is arithmetic on an argument's size: every
// caller computes it from its own operand and allocates, the callee writes
// into a trailing out parameter and returns what remains.
// CHECK-LABEL: func.func private @twice_rows
// CHECK-SAME: (%[[A:.*]]: memref<?x4xf32>, %[[OUT:.*]]: memref<?x4xf32>) -> index
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %[[A]], %{{.*}}
// CHECK: return %{{.*}} : index
func.func private @twice_rows(%a: memref<?x4xf32>) -> (memref<?x4xf32>, index) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %d = memref.dim %a, %c0 : memref<?x4xf32>
  %n = arith.muli %d, %c2 : index
  %b = memref.alloc(%n) {alignment = 64 : i64} : memref<?x4xf32>
  %view = memref.subview %b[0, 0] [%d, 4] [1, 1]
      : memref<?x4xf32> to memref<?x4xf32, strided<[4, 1]>>
  memref.copy %a, %view : memref<?x4xf32> to memref<?x4xf32, strided<[4, 1]>>
  return %b, %n : memref<?x4xf32>, index
}

// CHECK-LABEL: func.func @caller
// CHECK-SAME: (%[[X:.*]]: memref<?x4xf32>, %[[Y:.*]]: memref<?x4xf32>)
// CHECK: %[[D:.*]] = memref.dim %[[X]], %{{.*}}
// CHECK: %[[N:.*]] = arith.muli %[[D]], %{{.*}}
// CHECK: %[[B:.*]] = memref.alloc(%[[N]]) {alignment = 64 : i64} : memref<?x4xf32>
// CHECK: %[[S:.*]] = call @twice_rows(%[[X]], %[[B]]) : (memref<?x4xf32>, memref<?x4xf32>) -> index
// CHECK: %[[D2:.*]] = memref.dim %[[Y]], %{{.*}}
// CHECK: %[[N2:.*]] = arith.muli %[[D2]], %{{.*}}
// CHECK: %[[B2:.*]] = memref.alloc(%[[N2]])
// CHECK: call @twice_rows(%[[Y]], %[[B2]])
// CHECK: return %[[B]], %[[S]], %[[B2]]
func.func @caller(%x: memref<?x4xf32>, %y: memref<?x4xf32>)
    -> (memref<?x4xf32>, index, memref<?x4xf32>) {
  %r, %s = call @twice_rows(%x) : (memref<?x4xf32>) -> (memref<?x4xf32>, index)
  %r2, %s2 = call @twice_rows(%y) : (memref<?x4xf32>) -> (memref<?x4xf32>, index)
  return %r, %s, %r2 : memref<?x4xf32>, index, memref<?x4xf32>
}

// -----

// A size read from memory, an argument returned as it is and a public
// function stay as they are.
// CHECK-LABEL: func.func private @sized_by_data
// CHECK-SAME: -> (memref<?xf32>, memref<4xf32>)
// CHECK: memref.alloc
// CHECK-LABEL: func.func @public_kernel
// CHECK-SAME: -> memref<4xf32>
// CHECK: memref.alloc
// CHECK-LABEL: func.func @use
// CHECK: call @sized_by_data(%{{.*}}, %{{.*}}) : (memref<1xindex>, memref<4xf32>) -> (memref<?xf32>, memref<4xf32>)
func.func private @sized_by_data(%n: memref<1xindex>, %a: memref<4xf32>)
    -> (memref<?xf32>, memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %size = memref.load %n[%c0] : memref<1xindex>
  %b = memref.alloc(%size) : memref<?xf32>
  return %b, %a : memref<?xf32>, memref<4xf32>
}

func.func @public_kernel() -> memref<4xf32> {
  %b = memref.alloc() : memref<4xf32>
  return %b : memref<4xf32>
}

func.func @use(%n: memref<1xindex>, %a: memref<4xf32>) -> memref<?xf32> {
  %b, %c = call @sized_by_data(%n, %a)
      : (memref<1xindex>, memref<4xf32>) -> (memref<?xf32>, memref<4xf32>)
  return %b : memref<?xf32>
}
