// RUN: moa-opt %s -split-input-file -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -moa-drop-tied-results -verify-diagnostics

// The runtime hands the caller the donated argument; a call in the module
// would expect the result.
// expected-error @+1 {{@step returns results tied to donated arguments (moa.tied) and must not be called}}
func.func @step(%a: tensor<4xf32> {bufferization.writable = true}) -> (tensor<4xf32> {moa.tied = 0 : i64}) {
  return %a : tensor<4xf32>
}
func.func @caller(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = call @step(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// moa-drop-tied-results checks the attribute itself (it may run alone).
// expected-error @+1 {{@bad result 0: 'moa.tied' must be the index of an argument of the result's type that no other result is tied to}}
func.func @bad(%a: memref<4xf32>) -> (memref<4xf32> {moa.tied = 5 : i64}) {
  return %a : memref<4xf32>
}
