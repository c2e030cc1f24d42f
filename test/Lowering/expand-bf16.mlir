// RUN: moa-opt %s -split-input-file -moa-expand-bf16 | FileCheck %s

// bf16 conversions become integer arithmetic (no __truncsfbf2 call left for
// LLVM to make): to nearest, ties to even (bits + 0x7fff + the lowest kept
// bit), a NaN made the f32 quiet NaN first (which rounds to 0x7fc0) so that
// the select is on f32 and vectorises as one blend; f16 conversions are left
// alone. test/Runtime/narrow-bf16.mlir checks the values.
// CHECK-LABEL: func.func @conversions
// CHECK-SAME: (%[[X:.*]]: f32, %[[Y:.*]]: bf16, %[[Z:.*]]: f32)
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[SIXTEEN:.*]] = arith.constant 16 : i32
// CHECK-DAG: %[[QNAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK-DAG: %[[BIAS:.*]] = arith.constant 32767 : i32
// CHECK: %[[NAN:.*]] = arith.cmpf une, %[[X]], %[[X]] : f32
// CHECK: %[[QUIET:.*]] = arith.select %[[NAN]], %[[QNAN]], %[[X]] : f32
// CHECK: %[[BITS:.*]] = arith.bitcast %[[QUIET]] : f32 to i32
// CHECK: %[[HIGH:.*]] = arith.shrui %[[BITS]], %[[SIXTEEN]] : i32
// CHECK: %[[LSB:.*]] = arith.andi %[[HIGH]], %[[ONE]] : i32
// CHECK: %[[ROUND:.*]] = arith.addi %[[LSB]], %[[BIAS]] : i32
// CHECK: %[[SUM:.*]] = arith.addi %[[BITS]], %[[ROUND]] : i32
// CHECK: %[[KEPT:.*]] = arith.shrui %[[SUM]], %[[SIXTEEN]] : i32
// CHECK: %[[SHORT:.*]] = arith.trunci %[[KEPT]] : i32 to i16
// CHECK: arith.bitcast %[[SHORT]] : i16 to bf16
// CHECK: arith.bitcast %[[Y]] : bf16 to i16
// CHECK: arith.shli
// CHECK: arith.bitcast %{{.*}} : i32 to f32
// CHECK-NOT: arith.extf %[[Y]]
// CHECK: arith.truncf %[[Z]] : f32 to f16
func.func @conversions(%x: f32, %y: bf16, %z: f32) -> (bf16, f32, f16) {
  %a = arith.truncf %x : f32 to bf16
  %b = arith.extf %y : bf16 to f32
  %c = arith.truncf %z : f32 to f16
  return %a, %b, %c : bf16, f32, f16
}

// -----

// Vectors get the same arithmetic on vectors.
// CHECK-LABEL: func.func @vector
// CHECK: %[[QNAN:.*]] = arith.constant dense<0x7FC00000> : vector<4xf32>
// CHECK: %[[NAN:.*]] = arith.cmpf une, %{{.*}} : vector<4xf32>
// CHECK: arith.select %[[NAN]], %[[QNAN]], %{{.*}} : vector<4xi1>, vector<4xf32>
// CHECK: arith.trunci %{{.*}} : vector<4xi32> to vector<4xi16>
// CHECK: arith.bitcast %{{.*}} : vector<4xi16> to vector<4xbf16>
func.func @vector(%x: vector<4xf32>) -> vector<4xbf16> {
  %0 = arith.truncf %x : vector<4xf32> to vector<4xbf16>
  return %0 : vector<4xbf16>
}
