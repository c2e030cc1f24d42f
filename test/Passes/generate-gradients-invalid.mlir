// RUN: moa-opt %s -split-input-file -moa-generate-gradients -verify-diagnostics
// A function named in `functions=` that is missing (or has no body) is
// reported before anything is differentiated:
// RUN: not moa-opt %s -split-input-file -moa-generate-gradients=functions=missing 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moa-opt %s -split-input-file -moa-generate-gradients=functions=decl 2>&1 | FileCheck %s --check-prefix=DECL
// MISSING: error: moa-generate-gradients: no function '@missing' with a body
// MISSING-NOT: error: moa-generate-gradients: no gradient rule
// DECL: error: moa-generate-gradients: no function '@decl' with a body

// An op without a gradient rule on the path to a result is reported at the
// op, whatever it is.
func.func @exp(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{moa-generate-gradients: no gradient rule for 'math.exp'}}
  %0 = math.exp %a : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @softmax(%a: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %e = tensor.empty() : tensor<2x4xf32>
  // expected-error @+1 {{moa-generate-gradients: no gradient rule for 'linalg.softmax'}}
  %0 = linalg.softmax dimension(1) ins(%a : tensor<2x4xf32>) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// Deep in a chain: the op is found behind differentiable ones.
func.func @behind_add(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  // expected-error @+1 {{moa-generate-gradients: no gradient rule for 'linalg.exp'}}
  %0 = linalg.exp ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %1 = linalg.add ins(%0, %b : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Only the row projections moa-decompose emits are differentiated among
// linalg.contract ops.
func.func @matmul_contract(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  // expected-error @+1 {{moa-generate-gradients: only row projections (x[b, t, c] w[c, n]) are differentiated among linalg.contract ops}}
  %0 = linalg.contract
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : tensor<4x8xf32>, tensor<8x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// expected-error @+1 {{moa-generate-gradients: '@f_grad' exists already}}
func.func @f(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
func.func private @f_grad(%a: tensor<4xf32>, %g: tensor<4xf32>) -> tensor<4xf32> {
  return %g : tensor<4xf32>
}

// -----

// expected-error @+1 {{moa-generate-gradients: the function must have a single block}}
func.func @two_blocks(%a: tensor<4xf32>) -> tensor<4xf32> {
  cf.br ^next
^next:
  return %a : tensor<4xf32>
}

// -----

// Declarations are skipped by default.
func.func private @decl(%a: tensor<4xf32>) -> tensor<4xf32>
