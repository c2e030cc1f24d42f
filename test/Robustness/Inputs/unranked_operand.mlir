func.func @f(%q: tensor<*xf32>, %k: tensor<?x?x8xf32>) {
  %o = moa.multi_query_attention %q, %k, %k : tensor<*xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return
}
