// RUN: moa-opt %s -split-input-file -moa-generate-train-step -verify-diagnostics
//
// Optimizer options that moa.adamw rejects are reported at the loss
// function (the last split; the others have no @options and fail early):
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options lr=0" 2>&1 | FileCheck %s --check-prefix=LR
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options lr=-1.0e-3" 2>&1 | FileCheck %s --check-prefix=LR
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options warmup-steps=-1" 2>&1 | FileCheck %s --check-prefix=WARMUP
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options max-grad-norm=-1.0" 2>&1 | FileCheck %s --check-prefix=CLIP
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options beta2=1.0" 2>&1 | FileCheck %s --check-prefix=BETA
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options epsilon=0" 2>&1 | FileCheck %s --check-prefix=EPS
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options weight-decay=-0.1" 2>&1 | FileCheck %s --check-prefix=DECAY
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step="function=options mixed-precision=fp8" 2>&1 | FileCheck %s --check-prefix=MIXED
//
// A missing loss function is reported for the module, without printing the
// whole module after the message:
// RUN: not moa-opt %s -split-input-file -moa-generate-train-step=function=missing 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: moa-generate-train-step: no function '@missing' with a body
// MISSING-NOT: see current operation
// MISSING-NOT: @missing_train_step

// expected-error @+1 {{moa-generate-train-step: the first result must be the loss, a tensor<f32>}}
func.func @loss(%w: tensor<4xf32> {moa.param = "w"}) -> tensor<4xf32> {
  return %w : tensor<4xf32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: the first result must be the loss, a tensor<f32>}}
func.func @loss(%w: tensor<4xf32> {moa.param = "w"}) {
  return
}

// -----

// expected-error @+1 {{moa-generate-train-step: the first result must be the loss, a tensor<f32>}}
func.func @loss(%w: tensor<4xf32> {moa.param = "w"}, %l: tensor<f64>) -> tensor<f64> {
  return %l : tensor<f64>
}

// -----

// expected-error @+1 {{moa-generate-train-step: argument 0: 'moa.param' must name the parameter (a non-empty string)}}
func.func @loss(%w: tensor<4xf32> {moa.param}) -> tensor<f32> {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: argument 1 is named 'step', a name the training step uses for its own arguments}}
func.func @loss(%w: tensor<4xf32> {moa.param = "w"}, %s: tensor<4xf32> {moa.name = "step"}) -> tensor<f32> {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: result 1 is named 'p.w', a name the training step uses for its own results}}
func.func @loss(%w: tensor<4xf32> {moa.param = "w"}) -> (tensor<f32>, tensor<4xf32> {moa.name = "p.w"}) {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c, %w : tensor<f32>, tensor<4xf32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: no argument is marked moa.param = "<name>"}}
func.func @loss(%a: tensor<f32>, %w: tensor<4xf32>) -> tensor<f32> {
  return %a : tensor<f32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: parameter 'w' (argument 1) must be an f32 tensor of static shape and rank >= 1}}
func.func @loss(%a: tensor<f32>, %w: tensor<?x4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: parameter 'w' (argument 1) must be an f32 tensor of static shape and rank >= 1}}
func.func @loss(%a: tensor<f32>, %w: tensor<4xbf16> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: parameter 'scale' (argument 0) must be an f32 tensor of static shape and rank >= 1}}
func.func @loss(%s: tensor<f32> {moa.param = "scale"}) -> tensor<f32> {
  return %s : tensor<f32>
}

// -----

// Parameter names key the manifest and the checkpoints.
// expected-error @+1 {{moa-generate-train-step: parameter name 'w' is used by arguments 1 and 2}}
func.func @loss(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"},
    %w2: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}

// -----

// expected-error @+1 {{moa-generate-train-step: '@loss_train_step' exists already}}
func.func @loss(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}
func.func private @loss_train_step()

// -----

// The backward pass fails at the op without a rule.
func.func @loss(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  // expected-error @+1 {{moa-generate-gradients: no gradient rule for 'math.exp'}}
  %0 = math.exp %a : tensor<f32>
  return %0 : tensor<f32>
}

// -----

// Valid with the default options.
func.func @loss(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}
// MIXED: generate-train-step-invalid.mlir:[[@LINE+9]]:1: error: mixed-precision must be 'none' or 'bf16', not 'fp8'
// MIXED-NOT: see current operation
// LR: generate-train-step-invalid.mlir:[[@LINE+7]]:1: error: 'moa.adamw' op 'lr' must be a positive finite number
// WARMUP: generate-train-step-invalid.mlir:[[@LINE+6]]:1: error: 'moa.adamw' op 'warmup_steps' must be non-negative
// CLIP: generate-train-step-invalid.mlir:[[@LINE+5]]:1: error: 'moa.adamw' op 'max_grad_norm' must be non-negative and finite (0 turns clipping off)
// BETA: generate-train-step-invalid.mlir:[[@LINE+4]]:1: error: 'moa.adamw' op 'beta1' and 'beta2' must lie in [0, 1)
// EPS: generate-train-step-invalid.mlir:[[@LINE+3]]:1: error: 'moa.adamw' op 'epsilon' must be a positive finite number
// DECAY: generate-train-step-invalid.mlir:[[@LINE+2]]:1: error: 'moa.adamw' op 'weight_decay' must be a non-negative finite number
// LR-NOT: @options_train_step
func.func @options(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}
