// RUN: moa-capi-test 2>&1 | FileCheck %s

// CHECK: namespace: moa
// CHECK-LABEL: func.func @layer
// CHECK: moa.route %{{.*}} k(2)
// CHECK: moa.dispatch %{{.*}} experts(4)
// CHECK: moa.multi_query_attention
// CHECK: error: 'moa.route' op k = 9 must be in [1, E] with E = 4
// CHECK: malformed module rejected: yes
