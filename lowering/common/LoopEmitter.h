//===- LoopEmitter.h - Building loop code on buffers ------------*- C++ -*-===//
//
// Shared by the CPU and GPU lowerings: an Emitter builds scf/memref/arith
// code at one insertion point (loops, parallel loops, GEMM calls into the
// runtime), and a TensorBoundary turns an op's tensor operands into buffers
// and buffers into its results.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_LOWERING_COMMON_LOOPEMITTER_H
#define MOA_LOWERING_COMMON_LOOPEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "runtime/RuntimeABI.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/xxhash.h"

#include <limits>

namespace mlir::moa::loops {

using ::moa::runtime::FailureCode;

/// Rows per unit of parallel work in the GEMM-based kernels.
constexpr int64_t kTileRows = 128;
/// Iterations below which a loop of per-row work (h to d elements) runs on
/// the calling thread (Emitter::parallel's serialBelow).
constexpr int64_t kSerialRows = 64;
/// Elements per unit of parallel work in elementwise loops (conversions,
/// fills, linalg's elementwise ops): 64 KiB of f32.
constexpr int64_t kElementChunk = 16384;
/// Keys per block of the attention's online softmax.
constexpr int64_t kKeyBlock = 256;

/// Builds loop code at one insertion point. Nested bodies get an Emitter of
/// their own on the region's builder.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  OpBuilder &b;
  Location loc;

  /// Upstream's arithmetic builder here: add, sub, mul, select and `and` on
  /// index, integer or float values by their type. The Emitter's own
  /// helpers below cover what it lacks (unsigned division, min, compares,
  /// math, casts), loops and guarded loads.
  ArithBuilder arith() { return ArithBuilder(b, loc); }

  // Constants and arithmetic on index values.
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                          APFloat(static_cast<float>(v)));
  }
  Value add(Value x, Value y) { return arith().add(x, y); }
  Value sub(Value x, Value y) { return arith().sub(x, y); }
  Value mul(Value x, Value y) { return arith().mul(x, y); }
  Value div(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivUIOp::create(b, loc, x, y);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value cmpf(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) { return arith().select(c, x, y); }
  /// acc + v for a sum reduction: reassociation lets LLVM vectorise it.
  Value sum(Value acc, Value v) {
    return arith::AddFOp::create(
        b, loc, acc, v,
        arith::FastMathFlagsAttr::get(b.getContext(),
                                      arith::FastMathFlags::reassoc));
  }
  // Float arithmetic.
  Value addf(Value x, Value y) { return arith().add(x, y); }
  Value subf(Value x, Value y) { return arith().sub(x, y); }
  Value mulf(Value x, Value y) { return arith().mul(x, y); }
  Value divf(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value maxf(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value exp(Value x) { return math::ExpOp::create(b, loc, x); }
  Value log(Value x) { return math::LogOp::create(b, loc, x); }
  Value sqrt(Value x) { return math::SqrtOp::create(b, loc, x); }
  Value f64(double v) {
    return arith::ConstantFloatOp::create(b, loc, b.getF64Type(), APFloat(v));
  }
  Value extf(Value x) {
    return arith::ExtFOp::create(b, loc, b.getF64Type(), x);
  }
  Value truncf(Value x) {
    return arith::TruncFOp::create(b, loc, b.getF32Type(), x);
  }
  /// The float `v` as `type`: itself, widened or rounded (to nearest even).
  Value castFloat(Value v, Type type) {
    if (v.getType() == type)
      return v;
    if (type.getIntOrFloatBitWidth() > v.getType().getIntOrFloatBitWidth())
      return arith::ExtFOp::create(b, loc, type, v);
    return arith::TruncFOp::create(b, loc, type, v);
  }
  /// An index count as f64.
  Value indexToF64(Value index) {
    return arith::UIToFPOp::create(
        b, loc, b.getF64Type(),
        arith::IndexCastUIOp::create(b, loc, b.getI64Type(), index));
  }
  Value andI(Value x, Value y) { return arith()._and(x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value notI(Value x) {
    return arith::XOrIOp::create(b, loc, x,
                                 arith::ConstantIntOp::create(b, loc, 1, 1));
  }
  Value toIndex(Value i32) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), i32);
  }
  Value toI32(Value index) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  }

  Value load(Value memref, ValueRange indices) {
    return memref::LoadOp::create(b, loc, memref, indices);
  }
  void store(Value value, Value memref, ValueRange indices) {
    memref::StoreOp::create(b, loc, value, memref, indices);
  }

  /// A fully dynamic buffer of `elementType`.
  Value alloc(Type elementType, ValueRange sizes) {
    auto type = MemRefType::get(
        SmallVector<int64_t>(sizes.size(), ShapedType::kDynamic), elementType);
    return memref::AllocOp::create(b, loc, type, sizes);
  }

  /// for (iv = lb; iv < ub; ++iv) body(iv, args) -> yielded values.
  SmallVector<Value>
  loop(Value lb, Value ub, ValueRange init,
       function_ref<SmallVector<Value>(Emitter &, Value, ValueRange)> body) {
    return stridedLoop(lb, ub, idx(1), init, body);
  }
  /// for (iv = lb; iv < ub; iv += step) body(iv, args) -> yielded values:
  /// a GPU thread's share of a sum.
  SmallVector<Value> stridedLoop(
      Value lb, Value ub, Value step, ValueRange init,
      function_ref<SmallVector<Value>(Emitter &, Value, ValueRange)> body) {
    auto op = scf::ForOp::create(
        b, loc, lb, ub, step, init,
        [&](OpBuilder &nb, Location nloc, Value iv, ValueRange args) {
          Emitter inner(nb, nloc);
          scf::YieldOp::create(nb, nloc, body(inner, iv, args));
        });
    return op.getResults();
  }
  void loop(Value lb, Value ub, function_ref<void(Emitter &, Value)> body) {
    loop(lb, ub, {}, [&](Emitter &e, Value iv, ValueRange) {
      body(e, iv);
      return SmallVector<Value>();
    });
  }
  /// for (iv = lb; iv < ub; iv += step): a GPU thread's share of a range.
  void stridedLoop(Value lb, Value ub, Value step,
                   function_ref<void(Emitter &, Value)> body) {
    scf::ForOp::create(b, loc, lb, ub, step, ValueRange{},
                       [&](OpBuilder &nb, Location nloc, Value iv, ValueRange) {
                         Emitter inner(nb, nloc);
                         body(inner, iv);
                         scf::YieldOp::create(nb, nloc);
                       });
  }

  /// scf.parallel over [0, ub_i) for each i. With `serialBelow`, a loop of
  /// fewer iterations than that (or whose `size`, if given, is smaller:
  /// the rows its iterations share) runs as plain loops on the calling
  /// thread: work too small to be worth waking a thread for (a decoding
  /// step's few rows), as PyTorch's grain size does.
  void parallel(ValueRange ubs, function_ref<void(Emitter &, ValueRange)> body,
                int64_t serialBelow = 0, Value size = {}) {
    auto parallelLoop = [&](Emitter &e) {
      SmallVector<Value> zeros(ubs.size(), e.idx(0)),
          ones(ubs.size(), e.idx(1));
      scf::ParallelOp::create(
          e.b, e.loc, zeros, ubs, ones,
          [&](OpBuilder &nb, Location nloc, ValueRange ivs) {
            Emitter inner(nb, nloc);
            body(inner, ivs);
          });
    };
    if (serialBelow <= 1)
      return parallelLoop(*this);
    Value total = size;
    for (Value ub : size ? ValueRange() : ubs)
      total = total ? mul(total, ub) : ub;
    auto serial = [&](Emitter &s) { serialNest(s, ubs, {}, body); };
    ifThen(cmp(arith::CmpIPredicate::ult, total, idx(serialBelow)), serial,
           parallelLoop);
  }

  /// body(i) for each i in [0, count): elementwise work on contiguous
  /// buffers, in parallel chunks of kElementChunk whose loops LLVM
  /// vectorises (a single chunk runs on the calling thread:
  /// moa-omp-parallel-if).
  void parallelElements(Value count,
                        function_ref<void(Emitter &, Value)> body) {
    if (std::optional<int64_t> n = staticProduct(count);
        n && *n <= kElementChunk)
      return loop(idx(0), count, body); // one chunk: no parallel loop
    Value chunk = idx(kElementChunk);
    parallel({ceilDiv(count, chunk)}, [&](Emitter &p, ValueRange ivs) {
      Value first = p.mul(ivs[0], chunk);
      Value n = p.min(chunk, p.sub(count, first));
      p.loop(p.idx(0), n,
             [&](Emitter &x, Value i) { body(x, x.add(first, i)); });
    });
  }

  /// `v` where it is a constant or a product of constants (a static
  /// shape's element count).
  static std::optional<int64_t> staticProduct(Value v) {
    if (std::optional<int64_t> c = getConstantIntValue(v))
      return c;
    auto product = v.getDefiningOp<arith::MulIOp>();
    if (!product)
      return std::nullopt;
    std::optional<int64_t> x = staticProduct(product.getLhs());
    std::optional<int64_t> y = staticProduct(product.getRhs());
    return x && y ? std::optional<int64_t>(*x * *y) : std::nullopt;
  }

  /// Nested loops over [0, ub_i), `ivs` the induction variables so far.
  /// A body that may run this way must not use memref.alloca: in a plain
  /// loop each iteration's would stay on the stack.
  static void serialNest(Emitter &e, ValueRange ubs, SmallVector<Value> ivs,
                         function_ref<void(Emitter &, ValueRange)> body) {
    if (ivs.size() == ubs.size())
      return body(e, ivs);
    e.loop(e.idx(0), ubs[ivs.size()], [&](Emitter &x, Value iv) {
      SmallVector<Value> inner(ivs);
      inner.push_back(iv);
      serialNest(x, ubs, inner, body);
    });
  }

  /// if (cond) then() else otherwise().
  void ifThen(Value cond, function_ref<void(Emitter &)> then,
              function_ref<void(Emitter &)> otherwise = nullptr) {
    auto op =
        scf::IfOp::create(b, loc, cond, /*withElseRegion=*/bool(otherwise));
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(op.thenBlock()->getTerminator());
      Emitter inner(b, loc);
      then(inner);
    }
    if (otherwise) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(op.elseBlock()->getTerminator());
      Emitter inner(b, loc);
      otherwise(inner);
    }
  }

  /// buffer[first : first + rows, 0 : cols] of a 2-D buffer, or of
  /// buffer[batch] of a 3-D one.
  Value rows(Value buffer, Value first, Value count, Value cols,
             Value batch = nullptr) {
    auto type = cast<MemRefType>(buffer.getType());
    auto resultType = MemRefType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic}, type.getElementType(),
        StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                               {ShapedType::kDynamic, 1}));
    SmallVector<OpFoldResult> offsets, sizes,
        strides(type.getRank(), b.getIndexAttr(1));
    if (batch) {
      offsets.push_back(batch);
      sizes.push_back(b.getIndexAttr(1));
    }
    offsets.append({first, b.getIndexAttr(0)});
    sizes.append({count, cols});
    return memref::SubViewOp::create(b, loc, resultType, buffer, offsets, sizes,
                                     strides);
  }

  /// buffer[0 : rows, first : first + count] of a 2-D buffer, or of
  /// buffer[batch] of a 3-D one.
  Value cols(Value buffer, Value first, Value count, Value rowCount,
             Value batch = nullptr) {
    auto resultType = MemRefType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic},
        cast<MemRefType>(buffer.getType()).getElementType(),
        StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                               {ShapedType::kDynamic, 1}));
    SmallVector<OpFoldResult> offsets, sizes,
        strides(batch ? 3 : 2, b.getIndexAttr(1));
    if (batch) {
      offsets.push_back(batch);
      sizes.push_back(b.getIndexAttr(1));
    }
    offsets.append({b.getIndexAttr(0), first});
    sizes.append({rowCount, count});
    return memref::SubViewOp::create(b, loc, resultType, buffer, offsets, sizes,
                                     strides);
  }

  /// dst[first + r, c] = src[first + r, c] in dst's element type, for r <
  /// count and c < cols of two 2-D buffers: one tile's share of a
  /// conversion, done while the tile is in cache (a separate pass over the
  /// whole operand would read and write it once more).
  void convertRows(Value src, Value dst, Value first, Value count, Value cols) {
    Type type = cast<MemRefType>(dst.getType()).getElementType();
    loop(idx(0), count, [&](Emitter &x, Value r) {
      Value row = x.add(first, r);
      x.loop(x.idx(0), cols, [&](Emitter &y, Value c) {
        y.store(y.castFloat(y.load(src, {row, c}), type), dst, {row, c});
      });
    });
  }

  /// `m` as the runtime's GEMMs take a matrix: a 2-D view with unit inner
  /// stride (one declaration of each function for all callers).
  Value gemmView(Value m) {
    auto view = MemRefType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic},
        cast<MemRefType>(m.getType()).getElementType(),
        StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                               {ShapedType::kDynamic, 1}));
    return m.getType() == view ? m : memref::CastOp::create(b, loc, view, m);
  }

  /// c = alpha * op(a) * op(b) + beta * c; `nextB` (bMatrix's shape), where
  /// given, is the B of the thread's next GEMM, which the runtime prefetches
  /// while it reads bMatrix.
  void sgemm(ModuleOp module, Value a, Value bMatrix, Value c, Value alpha,
             float beta, bool transposeB, bool transposeA = false,
             Value nextB = {}) {
    Value bView = gemmView(bMatrix);
    call(module, "moa_rt_sgemm", /*cInterface=*/true,
         {gemmView(a), bView, gemmView(c), alpha, f32(beta),
          arith::ConstantIntOp::create(
              b, loc,
              (transposeB ? ::moa::runtime::kSgemmTransposeB : 0) |
                  (transposeA ? ::moa::runtime::kSgemmTransposeA : 0),
              64),
          nextB ? gemmView(nextB) : bView});
  }

  /// Rows [first, first + count) (first even) of the bf16 weight w [K, N]
  /// (or of w^T, w [N, K], where `transposed`) into `packed` (f32 [K, N],
  /// dense), in the form bf16Gemm reads.
  void packBf16(ModuleOp module, Value w, Value packed, Value first,
                Value count, bool transposed = false) {
    call(module, "moa_rt_pack_bf16", /*cInterface=*/true,
         {gemmView(w), gemmView(packed), first, count,
          arith::ConstantIntOp::create(b, loc, transposed, 64)});
  }

  /// c = a * w + beta * c (beta 0 or 1) for a bf16 and c f32, w the block
  /// of `packed` (as packBf16 packed it) from row `firstRow` (even) and
  /// column `firstColumn` (0 for both where none is given).
  void bf16Gemm(ModuleOp module, Value a, Value packed, Value c, float beta,
                Value firstRow = {}, Value firstColumn = {}) {
    call(module, "moa_rt_bf16_gemm", /*cInterface=*/true,
         {gemmView(a), gemmView(packed), gemmView(c), f32(beta),
          firstRow ? firstRow : idx(0), firstColumn ? firstColumn : idx(0)});
  }

  void fail(ModuleOp module, FailureCode code) {
    call(
        module, "moa_rt_fail", /*cInterface=*/false,
        {arith::ConstantIntOp::create(b, loc, static_cast<int64_t>(code), 64)});
  }

  /// fail, with the message prefixed by `where` (e.g. the op's name).
  void failIn(ModuleOp module, FailureCode code, StringRef where) {
    call(module, "moa_rt_fail_in", /*cInterface=*/true,
         {arith::ConstantIntOp::create(b, loc, static_cast<int64_t>(code), 64),
          constantText(module, where)});
  }

  /// Reports `message` as it is (a failed cf.assert).
  void failWith(ModuleOp module, StringRef message) {
    call(module, "moa_rt_fail_message", /*cInterface=*/true,
         {constantText(module, message)});
  }

  /// Reports that the size `got` (`gotText`, e.g. "moa.route: dimension 0
  /// of 'query_padding_mask'") differs from `expected` (`expectedText`, ""
  /// when it has no name): the message shows both values.
  void failSizes(ModuleOp module, StringRef gotText, Value got,
                 StringRef expectedText, Value expected) {
    auto i64 = [&](Value v) {
      return arith::IndexCastOp::create(b, loc, b.getI64Type(), v);
    };
    call(module, "moa_rt_fail_sizes", /*cInterface=*/true,
         {constantText(module, gotText), i64(got),
          constantText(module, expectedText), i64(expected)});
  }

  /// `text` as a memref<?xi8> of a constant global (one per distinct text).
  Value constantText(ModuleOp module, StringRef text) {
    std::string name = "__moa_text_" + llvm::utohexstr(llvm::xxh3_64bits(text));
    auto type = MemRefType::get({int64_t(text.size())}, b.getI8Type());
    if (!module.lookupSymbol(name)) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      auto bytes = RankedTensorType::get(type.getShape(), b.getI8Type());
      memref::GlobalOp::create(
          b, loc, name, b.getStringAttr("private"), type,
          DenseElementsAttr::get(bytes,
                                 llvm::ArrayRef(text.data(), text.size())),
          /*constant=*/true, /*alignment=*/nullptr);
    }
    // One runtime declaration whatever the length.
    return memref::CastOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
        memref::GetGlobalOp::create(b, loc, type, name));
  }

  /// Counts the routing `indices` (a host memref<?x?x?xi32>) of
  /// `numExperts` (index) experts into the runtime's head-usage report.
  void recordRouting(ModuleOp module, Value indices, Value numExperts) {
    call(module, "moa_rt_record_routing", /*cInterface=*/true,
         {indices,
          arith::IndexCastOp::create(b, loc, b.getI64Type(), numExperts)});
  }

  /// Whether the caller of the entry wants the head-usage record
  /// (moa_rt_wants_routing): an i1.
  Value wantsRouting(ModuleOp module) {
    return call(module, "moa_rt_wants_routing", /*cInterface=*/false, {},
                b.getI1Type());
  }

  /// Calls the runtime function `name`, declaring it on first use; returns
  /// its result if it has one.
  Value call(ModuleOp module, StringRef name, bool cInterface,
             ValueRange operands, TypeRange results = {}) {
    auto callee = module.lookupSymbol<func::FuncOp>(name);
    if (!callee) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      callee = func::FuncOp::create(
          b, loc, name, b.getFunctionType(operands.getTypes(), results));
      callee.setPrivate();
      if (cInterface)
        callee->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    }
    auto op = func::CallOp::create(b, loc, callee, operands);
    return results.empty() ? Value() : op.getResult(0);
  }
};

/// The boundary of a lowered op: its operands as buffers, buffers as its
/// results. An op in buffer form (after One-Shot Bufferize) already has
/// memref operands and its results are replaced by the buffers the lowering
/// allocates; an op on tensors crosses with bufferization.to_buffer and
/// to_tensor, so nothing may run between the lowering and bufferization (the
/// GPU pipeline lowers on tensors).
class TensorBoundary {
public:
  TensorBoundary(PatternRewriter &rewriter, Operation *op)
      : e(rewriter, op->getLoc()), module(op->getParentOfType<ModuleOp>()),
        op(op), opName(op->getName().getStringRef()) {}

  Emitter e;
  ModuleOp module;
  Operation *op;
  StringRef opName;

  /// Names operands (as the op's definition does) in the messages
  /// of checkSizes; unnamed operands are "operand #i".
  void nameOperands(ArrayRef<std::pair<Value, StringRef>> names) {
    for (auto [operand, name] : names)
      if (operand)
        operandNames[operand] = name;
  }

  static bool isBuffer(Value shaped) {
    return isa<MemRefType>(shaped.getType());
  }

  Value dim(Value shaped, int64_t i) {
    Value size = getValueOrCreateConstantIndexOp(
        e.b, e.loc,
        isBuffer(shaped) ? memref::getMixedSize(e.b, e.loc, shaped, i)
                         : tensor::getMixedSize(e.b, e.loc, shaped, i));
    sizeOrigins.try_emplace(size, shaped, i);
    return size;
  }

  /// What the index `size` is in a message: "dimension i of 'name'" when it
  /// is a dimension of one of the op's operands, else "".
  std::string describeSize(Value size) const {
    auto origin = sizeOrigins.find(size);
    if (origin == sizeOrigins.end())
      return "";
    auto [shaped, i] = origin->second;
    std::string operand;
    for (;;) { // back through convert() to the operand
      if (auto name = operandNames.find(shaped); name != operandNames.end())
        operand = ("'" + name->second + "'").str();
      auto converted = convertedFrom.find(shaped);
      if (!operand.empty() || converted == convertedFrom.end())
        break;
      shaped = converted->second;
    }
    for (OpOperand &use : op->getOpOperands())
      if (operand.empty() && use.get() == shaped)
        operand = "operand #" + std::to_string(use.getOperandNumber());
    if (operand.empty())
      return "";
    return "dimension " + std::to_string(i) + " of " + operand;
  }

  /// Elementwise extf/truncf of a float tensor or buffer to `elementType`
  /// (a new tensor, or a new buffer with fully dynamic sizes).
  Value convert(Value shaped, Type elementType) {
    auto type = cast<ShapedType>(shaped.getType());
    if (type.getElementType() == elementType)
      return shaped;
    OpBuilder &b = e.b;
    Location loc = e.loc;
    SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(type.getRank()));
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    auto body = [&](OpBuilder &nb, Location nloc, ValueRange args) {
      linalg::YieldOp::create(
          nb, nloc, Emitter(nb, nloc).castFloat(args[0], elementType));
    };
    if (isBuffer(shaped)) {
      SmallVector<Value> sizes;
      Value count = e.idx(1);
      for (int64_t i = 0; i < type.getRank(); ++i) {
        sizes.push_back(dim(shaped, i));
        count = e.mul(count, sizes.back());
      }
      Value out = e.alloc(elementType, sizes);
      convertElements(shaped, out, count);
      convertedFrom[out] = shaped;
      return out;
    }
    Value init = tensor::EmptyOp::create(
        b, loc, tensor::getMixedSizes(b, loc, shaped), elementType);
    Value out = linalg::GenericOp::create(b, loc, init.getType(), shaped, init,
                                          maps, iterators, body)
                    .getResult(0);
    convertedFrom[out] = shaped;
    return out;
  }
  Value toF32(Value shaped) { return convert(shaped, e.b.getF32Type()); }

  /// out[i] = in[i] in out's element type (castFloat) over the `count`
  /// elements of two contiguous buffers of one shape, in parallel chunks
  /// that LLVM vectorises (serial, the conversions around a bf16 layer took
  /// a quarter of its time).
  void convertElements(Value in, Value out, Value count) {
    ReassociationIndices all;
    for (int64_t i = 0; i < cast<ShapedType>(in.getType()).getRank(); ++i)
      all.push_back(i);
    Value from = collapse(in, {all}), to = collapse(out, {all});
    Type elementType = cast<ShapedType>(out.getType()).getElementType();
    e.parallelElements(count, [&](Emitter &x, Value at) {
      x.store(x.castFloat(x.load(from, {at}), elementType), to, {at});
    });
  }

  /// `shaped` as a read-only buffer with fully dynamic sizes. For a tensor,
  /// the buffer is read by code emitted right after, before anything else
  /// can write it.
  Value buffer(Value shaped) {
    auto type = cast<ShapedType>(shaped.getType());
    auto dynamic = MemRefType::get(
        SmallVector<int64_t>(type.getRank(), ShapedType::kDynamic),
        type.getElementType());
    Value buffer = shaped;
    if (!isBuffer(shaped))
      buffer = bufferization::ToBufferOp::create(
          e.b, e.loc, MemRefType::get(type.getShape(), type.getElementType()),
          shaped, /*read_only=*/true);
    return buffer.getType() == dynamic
               ? buffer
               : memref::CastOp::create(e.b, e.loc, dynamic, buffer);
  }

  /// `buffer` (written by the emitted code) as a result of type `type`: the
  /// buffer itself for an op in buffer form, else a tensor.
  Value result(Value buffer, Type type) {
    if (auto memrefType = dyn_cast<MemRefType>(type))
      return buffer.getType() == memrefType
                 ? buffer
                 : memref::CastOp::create(e.b, e.loc, memrefType, buffer);
    auto memrefType = cast<MemRefType>(buffer.getType());
    Value tensor = bufferization::ToTensorOp::create(
        e.b, e.loc,
        RankedTensorType::get(memrefType.getShape(),
                              memrefType.getElementType()),
        buffer, /*restrict=*/true, /*writable=*/true);
    return tensor::CastOp::create(e.b, e.loc, type, tensor);
  }

  /// Replaces the op by `buffers`, one per result (as tensors where its
  /// results are tensors); erases an op without results, which wrote its
  /// operands in place.
  void replaceOp(PatternRewriter &rewriter, ValueRange buffers) {
    if (op->getNumResults() == 0)
      return rewriter.eraseOp(op);
    SmallVector<Value> values;
    for (auto [buffer, type] : llvm::zip(buffers, op->getResultTypes()))
      values.push_back(result(buffer, type));
    rewriter.replaceOp(op, values);
  }

  /// The f32 `buffer` (written by the emitted code) as a result of `type`,
  /// narrowed to its element type first if that is not f32.
  Value narrowedResult(Value buffer, Type type) {
    return result(convert(buffer, cast<ShapedType>(type).getElementType()),
                  type);
  }

  /// Replaces the destination-style `op` (a linalg op on tensors or on
  /// buffers) whose result the code emitted wrote into the f32 `buffer`: its
  /// result becomes the (narrowed) buffer, or the buffer is copied into its
  /// init.
  void replaceDestinationOp(PatternRewriter &rewriter, Operation *op,
                            Value buffer, Value init) {
    if (!isBuffer(init)) {
      rewriter.replaceOp(op,
                         narrowedResult(buffer, op->getResult(0).getType()));
      return;
    }
    Value narrowed =
        convert(buffer, cast<ShapedType>(init.getType()).getElementType());
    memref::CopyOp::create(e.b, e.loc, narrowed, init);
    rewriter.eraseOp(op);
  }

  /// Collapses `buffer` by `groups` (e.g. [[0, 1], [2]]).
  Value collapse(Value buffer, ArrayRef<ReassociationIndices> groups) {
    return memref::CollapseShapeOp::create(e.b, e.loc, buffer, groups);
  }

  /// True when each pair of index values is equal, reporting nothing (the
  /// GPU kernels record a mismatch themselves; the CPU code uses checkSizes).
  Value agree(ArrayRef<std::pair<Value, Value>> sizes) {
    Value ok = arith::ConstantIntOp::create(e.b, e.loc, 1, 1);
    for (auto [x, y] : sizes)
      ok = e.andI(ok, e.cmp(arith::CmpIPredicate::eq, x, y));
    return ok;
  }

  /// agree, and each pair that disagrees is reported with both sizes and
  /// where they come from (describeSize).
  Value checkSizes(ArrayRef<std::pair<Value, Value>> sizes) {
    Value ok = arith::ConstantIntOp::create(e.b, e.loc, 1, 1);
    for (auto [got, expected] : sizes) {
      Value same = e.cmp(arith::CmpIPredicate::eq, got, expected);
      e.ifThen(e.notI(same), [&, got = got, expected = expected](Emitter &x) {
        x.failSizes(module, (opName + ": " + describeSize(got)).str(), got,
                    describeSize(expected), expected);
      });
      ok = e.andI(ok, same);
    }
    return ok;
  }

  /// `count` if the `sizes` agree (checkSizes), else 0: the loops that run
  /// `count` times then touch nothing.
  Value checkedCount(ArrayRef<std::pair<Value, Value>> sizes, Value count) {
    return e.select(checkSizes(sizes), count, e.idx(0));
  }

  /// Reports `code` unless `ok`, and runs `body` only if `ok`.
  void guard(Value ok, FailureCode code, function_ref<void(Emitter &)> body) {
    e.ifThen(ok, body, [&](Emitter &x) { fail(x, code); });
  }

  /// Reports `code` from `x`; sizes that disagree name the op, since the
  /// message alone does not say which of a model's ops met them.
  void fail(Emitter &x, FailureCode code) {
    if (code == FailureCode::ShapeMismatch ||
        code == FailureCode::CacheOffsetOutOfRange)
      x.failIn(module, code, opName);
    else
      x.fail(module, code);
  }

private:
  /// Where the sizes dim() returned come from, which values convert() made
  /// from which operands, and the names given with nameOperand.
  llvm::DenseMap<Value, std::pair<Value, int64_t>> sizeOrigins;
  llvm::DenseMap<Value, Value> convertedFrom;
  llvm::DenseMap<Value, StringRef> operandNames;
};

} // namespace mlir::moa::loops

#endif // MOA_LOWERING_COMMON_LOOPEMITTER_H
