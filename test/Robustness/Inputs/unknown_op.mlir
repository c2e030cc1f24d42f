func.func @f(%l: tensor<?x?x8xf32>) {
  %0 = moa.softmax_router %l : tensor<?x?x8xf32>
  return
}
