// RUN: moa-opt %s -split-input-file -moa-generate-decode -verify-diagnostics
//
// A missing function and a cache of no rows are reported for the module:
// RUN: not moa-opt %s -split-input-file -moa-generate-decode=function=missing 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: moa-generate-decode: no function '@missing' with a body
// RUN: not moa-opt %s -split-input-file -moa-generate-decode=max-length=0 2>&1 | FileCheck %s --check-prefix=LENGTH
// LENGTH: error: moa-generate-decode: max-length must be at least 1

// expected-error @+1 {{moa-generate-decode: @loss has no result named 'logits' (moa.name = "logits"), the [B, T, V] next-token scores}}
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"}) -> tensor<?x?xi32> {
  return %tokens : tensor<?x?xi32>
}

// -----

// expected-error @+1 {{moa-generate-decode: the result named 'logits' must be a [B, T, V] tensor with a static vocabulary V}}
func.func @loss(%x: tensor<?x?x?xf32> {moa.name = "tokens"}) -> (tensor<?x?x?xf32> {moa.name = "logits"}) {
  return %x : tensor<?x?x?xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: argument 0 ('tokens') must be i32 [B, T]}}
func.func @loss(%x: tensor<?x?x8xf32> {moa.name = "tokens"}) -> (tensor<?x?x8xf32> {moa.name = "logits"}) {
  return %x : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: argument 1 ('features') feeds the logits, but a decoder has only the parameters, the tokens and their positions}}
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"}, %x: tensor<?x?x8xf32> {moa.name = "features"}) -> (tensor<?x?x8xf32> {moa.name = "logits"}) {
  return %x : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: no argument is named 'tokens' (moa.name)}}
func.func @loss(%emb: tensor<8x8xf32> {moa.param = "emb"}) -> (tensor<1x1x8xf32> {moa.name = "logits"}) {
  %e = tensor.empty() : tensor<1x1x8xf32>
  return %e : tensor<1x1x8xf32>
}

// -----

func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"},
    %emb: tensor<8x16xf32> {moa.param = "emb"}, %wg: tensor<16x4xf32> {moa.param = "wg"},
    %wq: tensor<4x16x8xf32> {moa.param = "wq"}, %wk: tensor<16x8xf32> {moa.param = "wk"},
    %wv: tensor<16x8xf32> {moa.param = "wv"}, %wo: tensor<4x8x16xf32> {moa.param = "wo"})
    -> (tensor<?x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<8x16xf32> -> tensor<?x?x16xf32>
  // expected-error @+1 {{moa-generate-decode: only causal self-attention without padding masks can be decoded with a cache}}
  %y, %r = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>,
        tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"},
    %emb: tensor<8x16xf32> {moa.param = "emb"}, %wg: tensor<16x4xf32> {moa.param = "wg"},
    %wq: tensor<4x16x8xf32> {moa.param = "wq"}, %wk: tensor<16x8xf32> {moa.param = "wk"},
    %wv: tensor<16x8xf32> {moa.param = "wv"}, %wo: tensor<4x8x16xf32> {moa.param = "wo"})
    -> (tensor<?x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<8x16xf32> -> tensor<?x?x16xf32>
  // expected-error @+1 {{moa-generate-decode: only causal self-attention without padding masks can be decoded with a cache}}
  %y, %r = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) memory(%x : tensor<?x?x16xf32>) {causal}
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>,
        tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: '@loss_decode' exists already}}
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"}, %emb: tensor<8x16xf32> {moa.param = "emb"})
    -> (tensor<?x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<8x16xf32> -> tensor<?x?x16xf32>
  return %x : tensor<?x?x16xf32>
}
func.func @loss_decode() {
  return
}

// -----

// expected-error @+1 {{moa-generate-decode: argument 0 ('tokens') must be i32 [B, T] with a dynamic T}}
func.func @loss(%tokens: tensor<2x8xi32> {moa.name = "tokens"}, %emb: tensor<8x16xf32> {moa.param = "emb"})
    -> (tensor<2x8x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<2x8xi32>, tensor<8x16xf32> -> tensor<2x8x16xf32>
  return %x : tensor<2x8x16xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: argument 1: 'moa.param' must name the parameter (a non-empty string)}}
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"}, %emb: tensor<8x16xf32> {moa.param = 3 : i64})
    -> (tensor<?x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<8x16xf32> -> tensor<?x?x16xf32>
  return %x : tensor<?x?x16xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: arguments 0 and 1 are both named 'tokens'}}
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"}, %again: tensor<?x?xi32> {moa.name = "tokens"},
    %emb: tensor<8x16xf32> {moa.param = "emb"}) -> (tensor<?x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<8x16xf32> -> tensor<?x?x16xf32>
  return %x : tensor<?x?x16xf32>
}

// -----

// expected-error @+1 {{moa-generate-decode: @loss must have a body of one block}}
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"}, %emb: tensor<8x16xf32> {moa.param = "emb"})
    -> (tensor<?x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<8x16xf32> -> tensor<?x?x16xf32>
  cf.br ^next
^next:
  return %x : tensor<?x?x16xf32>
}
