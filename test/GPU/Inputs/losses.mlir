// The losses with a GPU lowering, each in the forms it has: moa.cross_entropy;
// moa.router_z_loss, moa.mutual_information_loss, moa.routing_statistics and
// moa.load_balancing_loss without and with a padding mask, the last also on
// given statistics; moa.importance_cv_loss. losses_check.py runs it.
func.func @losses(%logits: tensor<?x?x50xf32>, %targets: tensor<?x?xi32>,
                  %router: tensor<?x?x8xf32>, %indices: tensor<?x?x2xi32>,
                  %gates: tensor<?x?x2xf32>, %mask: tensor<?x?xi1>,
                  %given: tensor<2x8xf32>)
    -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>,
        tensor<2x8xf32>, tensor<2x8xf32>, tensor<f32>, tensor<f32>,
        tensor<f32>, tensor<f32>) {
  %ce = moa.cross_entropy %logits, %targets : tensor<?x?x50xf32>, tensor<?x?xi32>
  %z = moa.router_z_loss %router : tensor<?x?x8xf32>
  %zm = moa.router_z_loss %router query_padding_mask(%mask : tensor<?x?xi1>) : tensor<?x?x8xf32>
  %mi = moa.mutual_information_loss %router : tensor<?x?x8xf32>
  %mim = moa.mutual_information_loss %router query_padding_mask(%mask : tensor<?x?xi1>) : tensor<?x?x8xf32>
  %s = moa.routing_statistics %router, %indices : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %sm = moa.routing_statistics %router, %indices query_padding_mask(%mask : tensor<?x?xi1>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %lb = moa.load_balancing_loss %router, %indices : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %lbm = moa.load_balancing_loss %router, %indices query_padding_mask(%mask : tensor<?x?xi1>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %lbg = moa.load_balancing_loss %router, %indices statistics(%given : tensor<2x8xf32>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %cv = moa.importance_cv_loss %gates, %indices experts(8) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
  return %ce, %z, %zm, %mi, %mim, %s, %sm, %lb, %lbm, %lbg, %cv
      : tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>,
        tensor<2x8xf32>, tensor<2x8xf32>, tensor<f32>, tensor<f32>,
        tensor<f32>, tensor<f32>
}
