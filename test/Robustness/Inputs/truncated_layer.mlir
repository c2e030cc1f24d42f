func.func @moa_layer(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) -> tensor<?x?x256xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x25
