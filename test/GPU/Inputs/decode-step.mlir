// One decoding step of an attention layer's cache, as moa-generate-decode
// emits it: the new tokens' keys and values written into the donated caches
// (results tied to them), then the k query slots of each new token over
// the cache. E=4 k=2 h=40 (h not a multiple of 32: partial lanes), caches of
// 300 rows (several split-KV blocks, the last one partial).
func.func @decode_step(%q: tensor<?x?x2x40xf32>, %k: tensor<?x?x40xf32>, %v: tensor<?x?x40xf32>,
    %kc: tensor<?x300x40xf32>, %vc: tensor<?x300x40xf32>, %off: tensor<?xi32>)
    -> (tensor<?x?x2x40xf32>, tensor<?x300x40xf32> {moa.tied = 3 : i64},
        tensor<?x300x40xf32> {moa.tied = 4 : i64}) {
  %kc1 = moa.cache_write %k, %off into %kc
      : tensor<?x?x40xf32>, tensor<?xi32> into tensor<?x300x40xf32> -> tensor<?x300x40xf32>
  %vc1 = moa.cache_write %v, %off into %vc
      : tensor<?x?x40xf32>, tensor<?xi32> into tensor<?x300x40xf32> -> tensor<?x300x40xf32>
  %o = moa.cached_attention %q, %kc1, %vc1, %off
      : tensor<?x?x2x40xf32>, tensor<?x300x40xf32>, tensor<?xi32>
  return %o, %kc1, %vc1 : tensor<?x?x2x40xf32>, tensor<?x300x40xf32>, tensor<?x300x40xf32>
}
