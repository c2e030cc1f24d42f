// The shipped examples parse, verify and decompose.
// RUN: moa-opt %moa_src_root/examples/moa_layer.mlir -moa-decompose | FileCheck %s --check-prefix=LAYER
// RUN: moa-opt %moa_src_root/examples/moa_layer_causal.mlir -moa-decompose | FileCheck %s --check-prefix=CAUSAL
// RUN: moa-opt %moa_src_root/examples/moa_layer_key_padding.mlir -moa-decompose | FileCheck %s --check-prefix=PADDING

// LAYER-LABEL: func.func @moa_layer
// LAYER: moa.route %{{.*}} k(2) : tensor<?x?x8xf32>
// LAYER: moa.multi_query_attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x2x64xf32>

// CAUSAL-LABEL: func.func @moa_layer
// CAUSAL: moa.multi_query_attention {{.*}} {causal}

// PADDING-LABEL: func.func @moa_layer
// PADDING: moa.multi_query_attention {{.*}} key_padding_mask(%arg6 : tensor<?x?xi1>)
