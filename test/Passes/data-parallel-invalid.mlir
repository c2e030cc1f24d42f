// RUN: moa-opt %s -split-input-file -moa-data-parallel -verify-diagnostics
// RUN: not moa-opt %s -moa-data-parallel=axis-size=0 2>&1 | FileCheck %s --check-prefix=SIZE

// SIZE: moa-data-parallel: axis-size must be at least 1

// expected-error @+1 {{moa-data-parallel: no function '@loss_train_step': run moa-generate-train-step{function=loss} first}}
module {
  func.func @loss(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

// expected-error @+1 {{moa-data-parallel: the module is data parallel already}}
module attributes {moa.ranks = 2 : i64} {
  func.func @loss_train_step(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

// The mutual-information loss needs the whole batch's expert marginal.
module {
  func.func @loss_train_step(%l: tensor<?x?x4xf32>) -> tensor<f32> {
    // expected-error @+1 {{moa-data-parallel: 'moa.mutual_information_loss' depends on the statistics of the whole batch and has no data-parallel form yet}}
    %0 = moa.mutual_information_loss %l : tensor<?x?x4xf32>
    return %0 : tensor<f32>
  }
}

// -----

module {
  // expected-error @+1 {{moa-data-parallel: expected the one moa.global_norm of a training step, found 0}}
  func.func @loss_train_step(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}
