func.func @f(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x8xf32>) {
  %o = moa.multi_query_attention %q, %k, %k {scale = 2 : i32} : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return
}
