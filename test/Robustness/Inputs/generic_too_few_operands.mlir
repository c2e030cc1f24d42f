func.func @f(%x: tensor<?x?x16xf32>) {
  %0 = "moa.grouped_matmul"(%x) : (tensor<?x?x16xf32>) -> tensor<?x?x2x8xf32>
  return
}
