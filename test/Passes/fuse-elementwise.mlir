// RUN: moa-opt %s -split-input-file -convert-elementwise-to-linalg -moa-fuse-elementwise | FileCheck %s

// A mixed-precision adjoint: two contributions rounded to bf16 and back,
// a bf16 one widened, and their sums become one linalg.generic that reads
// the four inputs once; the operations per element stay as they were, in
// the same order.
// CHECK-LABEL: func.func @adjoint
// CHECK-SAME: (%[[A:.*]]: tensor<?x8xf32>, %[[B:.*]]: tensor<?x8xf32>, %[[C:.*]]: tensor<?x8xbf16>, %[[D:.*]]: tensor<?x8xf32>)
// CHECK-NOT: linalg.add
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: ins(%[[D]], %[[A]], %[[B]], %[[C]] : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xbf16>)
// CHECK: ^bb0(%[[ID:.*]]: f32, %[[IA:.*]]: f32, %[[IB:.*]]: f32, %[[IC:.*]]: bf16, %{{.*}}: f32):
// CHECK-DAG: %[[RA:.*]] = arith.truncf %[[IA]] : f32 to bf16
// CHECK-DAG: %[[RB:.*]] = arith.truncf %[[IB]] : f32 to bf16
// CHECK-DAG: %[[WA:.*]] = arith.extf %[[RA]] : bf16 to f32
// CHECK-DAG: %[[WB:.*]] = arith.extf %[[RB]] : bf16 to f32
// CHECK: %[[AB:.*]] = arith.addf %[[WA]], %[[WB]] : f32
// CHECK: %[[WC:.*]] = arith.extf %[[IC]] : bf16 to f32
// CHECK: %[[ABC:.*]] = arith.addf %[[AB]], %[[WC]] : f32
// CHECK: %[[ALL:.*]] = arith.addf %[[ID]], %[[ABC]] : f32
// CHECK: linalg.yield %[[ALL]] : f32
// CHECK-NOT: linalg.generic
// CHECK: return %[[SUM]]
#id = affine_map<(i, j) -> (i, j)>
func.func @adjoint(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>, %c: tensor<?x8xbf16>,
    %d: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x8xf32>
  %e16 = tensor.empty(%n) : tensor<?x8xbf16>
  %e32 = tensor.empty(%n) : tensor<?x8xf32>
  %ra = arith.truncf %a : tensor<?x8xf32> to tensor<?x8xbf16>
  %wa = arith.extf %ra : tensor<?x8xbf16> to tensor<?x8xf32>
  %rb = arith.truncf %b : tensor<?x8xf32> to tensor<?x8xbf16>
  %wb = arith.extf %rb : tensor<?x8xbf16> to tensor<?x8xf32>
  %ab = linalg.add ins(%wa, %wb : tensor<?x8xf32>, tensor<?x8xf32>) outs(%e32 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %wc = arith.extf %c : tensor<?x8xbf16> to tensor<?x8xf32>
  %abc = linalg.add ins(%ab, %wc : tensor<?x8xf32>, tensor<?x8xf32>) outs(%e32 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %all = linalg.add ins(%d, %abc : tensor<?x8xf32>, tensor<?x8xf32>) outs(%e32 : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %all : tensor<?x8xf32>
}

// -----

// What must stay apart: a fill (the init of a contraction), a transpose (not
// an identity map) and the contraction itself; the add of the contraction's
// result and the transpose's fuses with neither, so it keeps its name.
// CHECK-LABEL: func.func @not_elementwise
// CHECK: %[[FILL:.*]] = linalg.fill
// CHECK: %[[T:.*]] = linalg.transpose
// CHECK: %[[P:.*]] = linalg.contract
// CHECK-SAME: outs(%[[FILL]] :
// CHECK: %[[SUM:.*]] = linalg.add ins(%[[P]], %[[T]] : tensor<4x4xf32>, tensor<4x4xf32>)
// CHECK-NOT: linalg.generic
// CHECK: return %[[SUM]]
func.func @not_elementwise(%x: tensor<4x4xf32>, %w: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %t = linalg.transpose ins(%w : tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) permutation = [1, 0]
  %p = linalg.contract indexing_maps = [affine_map<(i, j, c) -> (i, c)>, affine_map<(i, j, c) -> (c, j)>, affine_map<(i, j, c) -> (i, j)>]
      ins(%x, %w : tensor<4x4xf32>, tensor<4x4xf32>) outs(%fill : tensor<4x4xf32>) -> tensor<4x4xf32>
  %sum = linalg.add ins(%p, %t : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %sum : tensor<4x4xf32>
}

// -----

// A producer with two consumers is not fused into either (it would run once
// per consumer); the adds, with no neighbour to fuse, keep their names.
// CHECK-LABEL: func.func @fan_out
// CHECK: %[[EXP:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: linalg.add ins(%[[EXP]], %{{.*}} :
// CHECK: linalg.add ins(%[[EXP]], %{{.*}} :
// CHECK-NOT: math.exp
// CHECK: return
func.func @fan_out(%a: tensor<8xf32>, %b: tensor<8xf32>, %c: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %x = math.exp %a : tensor<8xf32>
  %s = linalg.add ins(%x, %b : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %t = linalg.add ins(%x, %c : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  return %s, %t : tensor<8xf32>, tensor<8xf32>
}

// -----

// Nothing moves into a loop's body (it would run every iteration), and a
// result that is another op's init (outs), not an input, is not fused.
// CHECK-LABEL: func.func @loop_and_init
// CHECK: %[[EXP:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: scf.for
// CHECK-NOT: math.exp
// CHECK: linalg.add ins(%{{.*}}, %[[EXP]] :
// CHECK: scf.yield
// CHECK: %[[SUM:.*]] = linalg.add ins(%{{.*}}, %{{.*}} : tensor<8xf32>, tensor<8xf32>) outs(%{{.*}} :
// CHECK: linalg.mul ins(%{{.*}}, %{{.*}} : tensor<8xf32>, tensor<8xf32>) outs(%[[SUM]] :
func.func @loop_and_init(%a: tensor<8xf32>, %b: tensor<8xf32>, %n: index)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %e = tensor.empty() : tensor<8xf32>
  %x = math.exp %a : tensor<8xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %b) -> tensor<8xf32> {
    %next = linalg.add ins(%acc, %x : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
    scf.yield %next : tensor<8xf32>
  }
  %s = linalg.add ins(%a, %b : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %m = linalg.mul ins(%a, %b : tensor<8xf32>, tensor<8xf32>) outs(%s : tensor<8xf32>) -> tensor<8xf32>
  return %r, %m : tensor<8xf32>, tensor<8xf32>
}
