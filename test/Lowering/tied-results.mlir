// RUN: moa-opt %s -split-input-file -moa-export-entry-points | FileCheck %s --check-prefix=EXPORT
// RUN: moa-opt %s -split-input-file -moa-export-entry-points -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -moa-drop-tied-results -canonicalize | FileCheck %s --check-prefix=DROP

// A result tied to a donated argument (a decoder's cache): the manifest
// says tied=1, the argument is writable and the result is materialized in
// it; after bufferization the cache is written in place and the result is
// no longer returned (the runtime hands the caller the donated argument).
// EXPORT: moa.manifest = "moa-manifest 2\0Aentry step 3 2\0Aarg f32 3 ? 1 8\0Aarg f32 3 ? 16 8 name=cache\0Aarg i32 1 ?\0Aresult f32 3 ? 1 8\0Aresult f32 3 ? 16 8 name=cache tied=1\0A"
// EXPORT-LABEL: func.func @step
// EXPORT-SAME: %{{.*}}: tensor<?x1x8xf32> {bufferization.writable = false}, %[[CACHE:.*]]: tensor<?x16x8xf32> {bufferization.writable = true}, %{{.*}}: tensor<?xi32> {bufferization.writable = false}
// EXPORT-SAME: -> (tensor<?x1x8xf32>, tensor<?x16x8xf32> {moa.tied = 1 : i64})
// EXPORT: %[[NEW:.*]] = moa.cache_write
// EXPORT: %[[IN:.*]] = bufferization.materialize_in_destination %[[NEW]] in %[[CACHE]]
// EXPORT: return %{{.*}}, %[[IN]]
// DROP-LABEL: func.func @step
// DROP-SAME: (%[[X:.*]]: memref<?x1x8xf32>, %[[CACHE:.*]]: memref<?x16x8xf32>, %[[OFF:.*]]: memref<?xi32>) -> memref<?x1x8xf32>
// DROP-NOT: memref.alloc
// DROP: moa.cache_write %[[X]], %[[OFF]] into %[[CACHE]]
// DROP-NOT: memref.copy
// DROP: return %{{.*}} : memref<?x1x8xf32>
func.func @step(%x: tensor<?x1x8xf32>, %cache: tensor<?x16x8xf32> {moa.name = "cache"},
    %offsets: tensor<?xi32>)
    -> (tensor<?x1x8xf32>, tensor<?x16x8xf32> {moa.name = "cache", moa.tied = 1 : i64}) {
  %c = moa.cache_write %x, %offsets into %cache
      : tensor<?x1x8xf32>, tensor<?xi32> into tensor<?x16x8xf32> -> tensor<?x16x8xf32>
  %e = tensor.empty() : tensor<f32>
  %zero = arith.constant 0.0 : f32
  %y = linalg.fill ins(%zero : f32) outs(%x : tensor<?x1x8xf32>) -> tensor<?x1x8xf32>
  return %y, %c : tensor<?x1x8xf32>, tensor<?x16x8xf32>
}

// -----

// A tied result computed elsewhere than in its argument's buffer is copied
// into it.
// DROP-LABEL: func.func @fresh
// DROP-SAME: (%[[CACHE:.*]]: memref<4x8xf32>) attributes
// DROP: memref.copy %{{.*}}, %[[CACHE]]
// DROP-NEXT: return
func.func @fresh(%cache: tensor<4x8xf32>) -> (tensor<4x8xf32> {moa.tied = 0 : i64}) {
  %e = tensor.empty() : tensor<4x8xf32>
  %one = arith.constant 1.0 : f32
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %f : tensor<4x8xf32>
}

// -----

// moa.adamw updates its parameter and moments in place: tied to donated
// arguments (a train step's state), it writes their buffers, no copy; the
// parameter is read afterwards by nothing. A moment the caller keeps (not
// donated, so not writable) is copied first and the copy updated.
// DROP-LABEL: func.func @update
// DROP-SAME: (%[[P:.*]]: memref<8xf32>, %[[G:.*]]: memref<8xf32>, %[[M:.*]]: memref<8xf32>, %[[V:.*]]: memref<8xf32>, %[[S:.*]]: memref<f32>)
// DROP: %[[COPY:.*]] = memref.alloc() {{.*}} : memref<8xf32>
// DROP: memref.copy %[[V]], %[[COPY]]
// DROP: moa.adamw %[[P]], %[[G]], %[[M]], %[[COPY]] step(%[[S]]) norm(%[[S]]) {lr = 1.000000e-03 : f32} : memref<8xf32>
// DROP-NOT: memref.copy
// DROP: return %[[COPY]] : memref<8xf32>
func.func @update(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>,
    %v: tensor<8xf32>, %s: tensor<f32>)
    -> (tensor<8xf32> {moa.tied = 0 : i64}, tensor<8xf32> {moa.tied = 2 : i64},
        tensor<8xf32>) {
  %p1, %m1, %v1 = moa.adamw %p, %g, %m, %v step(%s) norm(%s) {lr = 1.0e-3 : f32} : tensor<8xf32>
  return %p1, %m1, %v1 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}
