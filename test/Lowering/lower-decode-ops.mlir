// RUN: moa-opt %s -split-input-file -moa-lower-to-loops | FileCheck %s
// RUN: moa-opt %s -split-input-file -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -moa-lower-to-loops | FileCheck %s --check-prefix=BUFFERS

// The cache write on buffers: the offsets are checked against [0, S - T]
// (a failure is reported, nothing written), then each new row is copied in
// parallel over (sequence, token) into the cache itself.
// CHECK-LABEL: func.func @cache_write_buffers
// CHECK-SAME: (%[[NEW:.*]]: memref<?x1x8xf32>, %[[OFF:.*]]: memref<?xi32>, %[[CACHE:.*]]: memref<?x32x8xf32>)
// CHECK-NOT: memref.alloc
// CHECK: scf.for
// CHECK: scf.if
// CHECK: scf.parallel
// CHECK: %[[OFFSET:.*]] = memref.load %[[OFF]][%[[B:.*]]] : memref<?xi32>
// CHECK: %[[START:.*]] = arith.index_cast %[[OFFSET]] : i32 to index
// CHECK: %[[ROW:.*]] = arith.addi %[[START]], %[[T:.*]] : index
// CHECK: %[[V:.*]] = memref.load %[[NEW]][%[[B]], %[[T]], %[[C:.*]]] : memref<?x1x8xf32>
// CHECK: memref.store %[[V]], %[[CACHE]][%[[B]], %[[ROW]], %[[C]]] : memref<?x32x8xf32>
// CHECK: } else {
// CHECK: call @moa_rt_fail_in
// CHECK-NOT: memref.copy
// CHECK: return
func.func @cache_write_buffers(%new: memref<?x1x8xf32>, %offsets: memref<?xi32>,
    %cache: memref<?x32x8xf32>) {
  moa.cache_write %new, %offsets into %cache
      : memref<?x1x8xf32>, memref<?xi32> into memref<?x32x8xf32>
  return
}

// -----

// On tensors (lowered before bufferization) the write goes into a copy.
// CHECK-LABEL: func.func @cache_write_tensors
// CHECK: %[[COPY:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// CHECK: memref.copy %{{.*}}, %[[COPY]]
// CHECK: scf.parallel
// CHECK: memref.store %{{.*}}, %[[COPY]]
// CHECK: bufferization.to_tensor %{{.*}}
// CHECK: return
func.func @cache_write_tensors(%new: tensor<?x1x8xf32>, %offsets: tensor<?xi32>,
    %cache: tensor<?x32x8xf32>) -> tensor<?x32x8xf32> {
  %c = moa.cache_write %new, %offsets into %cache
      : tensor<?x1x8xf32>, tensor<?xi32> into tensor<?x32x8xf32> -> tensor<?x32x8xf32>
  return %c : tensor<?x32x8xf32>
}

// -----

// Split-KV attention: the offsets checked, blocks of 256 cached keys up to
// the longest sequence, partial maxima, sums and outputs per (sequence,
// block) in parallel, then combined per query row in parallel.
// BUFFERS-LABEL: func.func @cached_attention
// BUFFERS: %[[RESULT:.*]] = memref.alloc({{.*}}) : memref<?x?x?x?xf32>
// BUFFERS: scf.if
// BUFFERS: %[[LONGEST:.*]] = scf.for {{.*}} -> (index)
// BUFFERS: %[[MAX:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// BUFFERS: %[[SUM:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// BUFFERS: %[[PART:.*]] = memref.alloc({{.*}}) : memref<?x?x?x?xf32>
// BUFFERS: %[[SCORES:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// Fewer than 4096 query-key pairs run on the calling thread.
// BUFFERS: %[[FEW:.*]] = arith.cmpi ult, %{{.*}}, %c4096 : index
// BUFFERS: scf.if %[[FEW]] {
// BUFFERS: } else {
// BUFFERS: scf.parallel
// BUFFERS: memref.store %{{.*}}, %[[SCORES]]
// BUFFERS: memref.store %{{.*}}, %[[MAX]]
// BUFFERS: memref.store %{{.*}}, %[[SUM]]
// BUFFERS: memref.store %{{.*}}, %[[PART]]
// BUFFERS: scf.parallel
// BUFFERS: memref.load %[[MAX]]
// BUFFERS: memref.load %[[PART]]
// BUFFERS: } else {
// BUFFERS: call @moa_rt_fail_in
// BUFFERS: return
func.func @cached_attention(%q: tensor<?x1x2x8xf32>, %kc: tensor<?x32x8xf32>,
    %vc: tensor<?x32x8xf32>, %offsets: tensor<?xi32>) -> tensor<?x1x2x8xf32> {
  %o = moa.cached_attention %q, %kc, %vc, %offsets
      : tensor<?x1x2x8xf32>, tensor<?x32x8xf32>, tensor<?xi32>
  return %o : tensor<?x1x2x8xf32>
}
