//===- MoADecodeOps.td - ops of incremental decoding -------*- tablegen -*-===//
//
// What moa-generate-decode builds a model's decoder from: MoA has one shared
// key/value head per layer, so its cache per token is 2·h values. The cache
// is written in place (moa.cache_write is destination-style) and attended
// over by the queries of the newest tokens (moa.cached_attention).
//
//===----------------------------------------------------------------------===//

#ifndef MOA_DIALECT_MOADECODEOPS_TD
#define MOA_DIALECT_MOADECODEOPS_TD

include "mlir/Interfaces/DestinationStyleOpInterface.td"

def MoA_CacheWriteOp : MoA_Op<"cache_write", [
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DestinationStyleOpInterface, MoA_CostOpInterface]> {
  let summary = "write the keys or values of new tokens into a cache";
  let description = [{
    `result = cache` with rows `offsets[b] .. offsets[b] + T - 1` of sequence
    b replaced by `update[b]`: `update` [B, T, h] holds the keys (or values)
    of T new tokens per sequence, `cache` [B, S, h] those of up to S tokens,
    `offsets` [B] (i32) where each sequence's new tokens go (the number of
    tokens already cached). Sequences of a batch may be at different
    lengths. An offset with `offsets[b] < 0` or `offsets[b] + T > S` fails
    the call with a message: the sequence does not fit its cache.

    Destination-style, like linalg: on tensors the result is the updated
    cache, and One-Shot Bufferize writes it into the cache's buffer (no copy
    of the cache per step where the cache is not read afterwards); on
    memrefs it has no result and writes `cache`.

    ```mlir
    %c1 = moa.cache_write %key, %offsets into %c0
        : tensor<?x1x64xf32>, tensor<?xi32> into tensor<?x2048x64xf32>
    ```
  }];

  let arguments = (ins MoA_FloatShaped:$update, MoA_I32Shaped:$offsets,
                       MoA_FloatShaped:$cache);
  let results = (outs Optional<MoA_FloatTensor>:$result);

  let assemblyFormat = [{
    $update `,` $offsets `into` $cache attr-dict `:` type($update) `,`
    type($offsets) `into` type($cache) (`->` type($result)^)?
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getCacheMutable();
    }
  }];
}

def MoA_CachedAttentionOp : MoA_BufferizableOp<"cached_attention", [
    InferTypeOpAdaptor, AllTypesMatch<["key_cache", "value_cache"]>,
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>]> {
  let summary = "attention of the newest tokens' k query slots over a cache";
  let description = [{
    Causal multi-query attention of T new tokens per sequence over a key and
    value cache: `query` [B, T, k, h] holds the k routed query slots of
    each new token, `key_cache` and `value_cache` [B, S, h] the shared keys
    and values (the new tokens' already written, see `moa.cache_write`), and
    `offsets` [B] (i32) the cache position of each sequence's first new
    token. Token t of sequence b sits at position `p = offsets[b] + t` and
    attends to the cached keys `0 .. p`:
    `result[b, t, j] = softmax_{s <= p}(scale * query[b, t, j] . key_cache[b, s]) value_cache[b, s]`.
    Rows past `p` are never read, whatever they hold. `scale` defaults to
    h^-0.5; the softmax is kept in f32. An offset with `offsets[b] < 0` or
    `offsets[b] + T > S` fails the call with a message.

    With T = 1 this is one decoding step; `offsets = 0` and T tokens is the
    causal `moa.multi_query_attention` of a prompt.

    ```mlir
    %o = moa.cached_attention %q, %keys, %values, %offsets
        : tensor<?x1x2x64xf32>, tensor<?x2048x64xf32>, tensor<?xi32>
    ```
  }];

  let arguments = (ins
    MoA_FloatShaped:$query,
    MoA_FloatShaped:$key_cache,
    MoA_FloatShaped:$value_cache,
    MoA_I32Shaped:$offsets,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs MoA_FloatShaped:$result);

  let assemblyFormat = [{
    $query `,` $key_cache `,` $value_cache `,` $offsets attr-dict `:`
    type($query) `,` type($key_cache) `,` type($offsets)
  }];
  let hasVerifier = 1;
}

#endif // MOA_DIALECT_MOADECODEOPS_TD
