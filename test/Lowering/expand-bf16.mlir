// RUN: moa-opt %s -split-input-file -moa-expand-bf16 | FileCheck %s

// bf16 conversions become integer arithmetic (no __truncsfbf2 call left for
// LLVM to make): to nearest, ties to even (bits + 0x7fff + the lowest kept
// bit), a NaN quiet (0x7fc0); f16 conversions are left alone.
// CHECK-LABEL: func.func @conversions
// CHECK-SAME: (%[[X:.*]]: f32, %[[Y:.*]]: bf16, %[[Z:.*]]: f32)
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[SIXTEEN:.*]] = arith.constant 16 : i32
// CHECK-DAG: %[[QNAN:.*]] = arith.constant 32704 : i16
// CHECK-DAG: %[[BIAS:.*]] = arith.constant 32767 : i32
// CHECK: %[[NAN:.*]] = arith.cmpf une, %[[X]], %[[X]] : f32
// CHECK: %[[BITS:.*]] = arith.bitcast %[[X]] : f32 to i32
// CHECK: %[[HIGH:.*]] = arith.shrui %[[BITS]], %[[SIXTEEN]] : i32
// CHECK: %[[LSB:.*]] = arith.andi %[[HIGH]], %[[ONE]] : i32
// CHECK: %[[ROUND:.*]] = arith.addi %[[LSB]], %[[BIAS]] : i32
// CHECK: %[[SUM:.*]] = arith.addi %[[BITS]], %[[ROUND]] : i32
// CHECK: %[[KEPT:.*]] = arith.shrui %[[SUM]], %[[SIXTEEN]] : i32
// CHECK: %[[SHORT:.*]] = arith.trunci %[[KEPT]] : i32 to i16
// CHECK: %[[PICK:.*]] = arith.select %[[NAN]], %[[QNAN]], %[[SHORT]] : i16
// CHECK: arith.bitcast %[[PICK]] : i16 to bf16
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
