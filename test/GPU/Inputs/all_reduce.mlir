// The all-reduce of moa-data-parallel on its own: a sum over the 2 ranks of
// the job, through upstream's shard dialect.
module attributes {moa.ranks = 2 : i64} {
  shard.grid @moa_data(shape = 2)
  func.func @sum(%x: tensor<300xf32>) -> tensor<300xf32> {
    %sum = shard.all_reduce %x on @moa_data grid_axes = [0]
        : tensor<300xf32> -> tensor<300xf32>
    return %sum : tensor<300xf32>
  }
}
