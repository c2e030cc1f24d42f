// RUN: moa-opt %s -split-input-file -moa-export-entry-points -verify-diagnostics

// expected-error @+1 {{@wrong_type result 0: 'moa.tied' must be the index of an argument of the result's type that no other result is tied to}}
func.func @wrong_type(%a: tensor<4xf32>) -> (tensor<8xf32> {moa.tied = 0 : i64}) {
  %e = tensor.empty() : tensor<8xf32>
  return %e : tensor<8xf32>
}

// -----

// expected-error @+1 {{@out_of_range result 0: 'moa.tied' must be the index}}
func.func @out_of_range(%a: tensor<4xf32>) -> (tensor<4xf32> {moa.tied = 1 : i64}) {
  return %a : tensor<4xf32>
}

// -----

// expected-error @+1 {{@twice result 1: 'moa.tied' must be the index}}
func.func @twice(%a: tensor<4xf32>) -> (tensor<4xf32> {moa.tied = 0 : i64}, tensor<4xf32> {moa.tied = 0 : i64}) {
  return %a, %a : tensor<4xf32>, tensor<4xf32>
}

// -----

// expected-error @+1 {{@not_index result 0: 'moa.tied' must be the index}}
func.func @not_index(%a: tensor<4xf32>) -> (tensor<4xf32> {moa.tied = "a"}) {
  return %a : tensor<4xf32>
}
