//===- GPUEmitter.cpp - Building gpu dialect kernels ----------------------===//

#include "lowering/gpu/GPUEmitter.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;

void gpu_kernels::launch(
    Emitter &e, StringRef name, Value gridX, Value gridY, int64_t threads,
    ArrayRef<MemRefType> shared,
    function_ref<void(Emitter &, const Kernel &, ValueRange)> body,
    int64_t dynamicSharedBytes) {
  SmallVector<Type> sharedTypes(shared.begin(), shared.end());
  Value one = e.idx(1);
  Value dynamicShared =
      dynamicSharedBytes
          ? arith::ConstantIntOp::create(e.b, e.loc, dynamicSharedBytes, 32)
                .getResult()
          : Value();
  auto op = gpu::LaunchOp::create(
      e.b, e.loc, gridX, gridY, one, e.idx(threads), one, one, dynamicShared,
      /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/{}, sharedTypes,
      /*privateAttributions=*/{},
      /*clusterSizeX=*/nullptr,
      /*clusterSizeY=*/nullptr,
      /*clusterSizeZ=*/nullptr,
      FlatSymbolRefAttr::get(e.b.getContext(), "moa_kernels"),
      FlatSymbolRefAttr::get(e.b.getContext(), name));
  OpBuilder::InsertionGuard guard(e.b);
  Block &block = op.getBody().front();
  e.b.setInsertionPointToStart(&block);
  Emitter kernel(e.b, e.loc);
  Kernel ids;
  ids.tid = op.getThreadIds().x;
  ids.bidX = op.getBlockIds().x;
  ids.bidY = op.getBlockIds().y;
  ids.lane = arith::RemUIOp::create(e.b, e.loc, ids.tid, kernel.idx(kWarp));
  ids.warp = kernel.div(ids.tid, kernel.idx(kWarp));
  SmallVector<Value> buffers(op.getWorkgroupAttributions().begin(),
                             op.getWorkgroupAttributions().end());
  body(kernel, ids, buffers);
  gpu::TerminatorOp::create(e.b, e.loc);
}

MemRefType gpu_kernels::sharedBuffer(ArrayRef<int64_t> shape,
                                     Type elementType) {
  MLIRContext *ctx = elementType.getContext();
  return MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(),
                         gpu::AddressSpaceAttr::get(
                             ctx, gpu::GPUDialect::getWorkgroupAddressSpace()));
}

void gpu_kernels::barrier(Emitter &e) { gpu::BarrierOp::create(e.b, e.loc); }

Value gpu_kernels::shuffleXor(Emitter &e, Value v, int32_t mask) {
  return gpu::ShuffleOp::create(e.b, e.loc, v, mask, kWarp,
                                gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

Value gpu_kernels::shuffleIndex(Emitter &e, Value v, Value source) {
  Value width = arith::ConstantIntOp::create(e.b, e.loc, kWarp, 32);
  return gpu::ShuffleOp::create(e.b, e.loc, v, source, width,
                                gpu::ShuffleMode::IDX)
      .getShuffleResult();
}

/// Butterfly reduction over lanes that differ in the bits below `lanes`.
static Value butterfly(Emitter &e, Value v, int32_t lanes, bool maximum) {
  for (int32_t mask = lanes / 2; mask > 0; mask /= 2) {
    Value other = shuffleXor(e, v, mask);
    v = maximum ? e.maxf(v, other) : e.addf(v, other);
  }
  return v;
}

Value gpu_kernels::warpSum(Emitter &e, Value v) {
  return butterfly(e, v, kWarp, false);
}
Value gpu_kernels::warpMax(Emitter &e, Value v) {
  return butterfly(e, v, kWarp, true);
}
Value gpu_kernels::quadSum(Emitter &e, Value v) {
  return butterfly(e, v, 4, false);
}
Value gpu_kernels::quadMax(Emitter &e, Value v) {
  return butterfly(e, v, 4, true);
}

std::pair<Value, Value> gpu_kernels::warpArgMax(Emitter &e, Value value,
                                                Value index) {
  Value none = arith::ConstantIntOp::create(e.b, e.loc, -1, 32);
  for (int32_t mask = kWarp / 2; mask > 0; mask /= 2) {
    Value otherValue = shuffleXor(e, value, mask);
    Value otherIndex = shuffleXor(e, index, mask);
    Value otherSome = e.cmp(arith::CmpIPredicate::ne, otherIndex, none);
    Value mineNone = e.cmp(arith::CmpIPredicate::eq, index, none);
    Value greater = e.cmpf(arith::CmpFPredicate::OGT, otherValue, value);
    Value tieLower =
        e.andI(e.cmpf(arith::CmpFPredicate::OEQ, otherValue, value),
               e.cmp(arith::CmpIPredicate::slt, otherIndex, index));
    Value take = e.andI(otherSome, e.orI(mineNone, e.orI(greater, tieLower)));
    value = e.select(take, otherValue, value);
    index = e.select(take, otherIndex, index);
  }
  return {value, index};
}

void gpu_kernels::fail(Emitter &e, Value errorWord,
                       ::moa::runtime::FailureCode code) {
  Value codeValue =
      arith::ConstantIntOp::create(e.b, e.loc, static_cast<int64_t>(code), 32);
  memref::AtomicRMWOp::create(e.b, e.loc, arith::AtomicRMWKind::maxs, codeValue,
                              errorWord, ValueRange{e.idx(0)});
}

Value gpu_kernels::toF32(Emitter &e, Value v) {
  Type f32 = e.b.getF32Type();
  return v.getType() == f32 ? v : arith::ExtFOp::create(e.b, e.loc, f32, v);
}

Value gpu_kernels::fromF32(Emitter &e, Value v, Type elementType) {
  return v.getType() == elementType
             ? v
             : arith::TruncFOp::create(e.b, e.loc, elementType, v);
}

/// A vector<2 x f16|bf16> as the register mma.sync takes: itself for f16,
/// its 32 bits as an i32 for bf16.
static Value mmaRegister(Emitter &e, Value pair) {
  if (cast<VectorType>(pair.getType()).getElementType().isF16())
    return pair;
  Value word = vector::BitCastOp::create(
      e.b, e.loc, VectorType::get({1}, e.b.getI32Type()), pair);
  return vector::ExtractOp::create(e.b, e.loc, word, 0);
}

Value gpu_kernels::pack16(Emitter &e, Value low, Value high) {
  return mmaRegister(
      e, vector::FromElementsOp::create(
             e.b, e.loc, VectorType::get({2}, low.getType()), {low, high}));
}

/// bf16 on nvvm.mma.sync directly: LLVM 22's NVGPU-to-NVVM conversion
/// cannot deduce the PTX types of a bf16 nvgpu.mma.sync.
static SmallVector<Value> nvvmMmaSyncBF16(Emitter &e, ValueRange a,
                                          ValueRange b, ValueRange c) {
  Type f32 = e.b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(e.b.getContext(), {f32, f32, f32, f32});
  Value d = NVVM::MmaOp::create(
      e.b, e.loc, resultType, a, b, c, /*shape=*/{16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> result;
  for (int64_t i = 0; i < 4; ++i)
    result.push_back(LLVM::ExtractValueOp::create(e.b, e.loc, d, i));
  return result;
}

SmallVector<Value> gpu_kernels::mmaSync16816(Emitter &e, Type elementType,
                                             ValueRange a, ValueRange b,
                                             ValueRange c) {
  if (elementType.isBF16())
    return nvvmMmaSyncBF16(e, a, b, c);
  // nvgpu's fragments: A vector<4x2xf16>, B vector<2x2xf16>, C and D
  // vector<2x2xf32>, each row one 32-bit register of the PTX layout (the
  // operands come as vector<2xf16> registers, see mmaRegister).
  auto fragment = [&](ValueRange registers, VectorType type) {
    Value v = arith::ConstantOp::create(e.b, e.loc, e.b.getZeroAttr(type));
    for (auto [i, reg] : llvm::enumerate(registers))
      v = vector::InsertOp::create(e.b, e.loc, reg, v,
                                   ArrayRef<int64_t>{int64_t(i)});
    return v;
  };
  Type f32 = e.b.getF32Type();
  Value accumulator = vector::FromElementsOp::create(
      e.b, e.loc, VectorType::get({2, 2}, f32), c);
  Value d = nvgpu::MmaSyncOp::create(
      e.b, e.loc, fragment(a, VectorType::get({4, 2}, elementType)),
      fragment(b, VectorType::get({2, 2}, elementType)), accumulator,
      e.b.getI64ArrayAttr({16, 8, 16}));
  SmallVector<Value> result;
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t col = 0; col < 2; ++col)
      result.push_back(vector::ExtractOp::create(e.b, e.loc, d,
                                                 ArrayRef<int64_t>{row, col}));
  return result;
}

std::string GPUTiling::invalid() const {
  auto bad = [](StringRef what, int64_t value, StringRef rule) {
    return (what + " " + Twine(value) + " " + rule).str();
  };
  if (gemmRows < kWarpTile || gemmRows % kWarpTile)
    return bad("gemm-rows", gemmRows, "is not a positive multiple of 32");
  if (gemmCols < kWarpTile || gemmCols % kWarpTile)
    return bad("gemm-cols", gemmCols, "is not a positive multiple of 32");
  if (gemmDepth < 16 || gemmDepth % 16)
    return bad("gemm-depth", gemmDepth, "is not a positive multiple of 16");
  if (gemmThreads() > 1024)
    return bad("gemm-rows x gemm-cols", gemmRows * gemmCols,
               "needs more than 1024 threads (a warp per 32x32)");
  // The FMA path stages both operands as f32, A's rows padded by a word;
  // the tensor-core path two slots of 16-bit tiles, rows padded by 8.
  if ((gemmRows * (gemmDepth + 1) + gemmDepth * gemmCols) * 4 >
          kMaxSharedBytes ||
      2 * (gemmRows * (gemmDepth + 8) + gemmDepth * (gemmCols + 8)) * 2 >
          kMaxSharedBytes)
    return bad("gemm-depth", gemmDepth,
               "overflows 48 KiB of shared memory with these rows and cols");
  // K and V tiles for the largest head size, h = 128.
  if (attentionKeys < 16 || attentionKeys % 16 ||
      2 * attentionKeys * (128 + 8) * 2 > kMaxSharedBytes)
    return bad("attention-keys", attentionKeys,
               "is not a multiple of 16 from 16 to 80");
  if (attentionSplitBelow < 0)
    return bad("attention-split-below", attentionSplitBelow, "is negative");
  return "";
}

MemRefType gpu_kernels::ldmatrixTile(int64_t rows, int64_t cols,
                                     Type elementType) {
  return sharedBuffer({rows, static_cast<int64_t>(llvm::alignTo(cols, 8) + 8)},
                      elementType);
}

/// One ldmatrix.x4: lane l gives the address of row l % 8 of matrix l / 8,
/// at (row, col) + the matrix's corner; `rowsFirst` puts matrix 1 below
/// matrix 0 (else beside it). Returns the 4 registers.
static SmallVector<Value> ldmatrixX4(Emitter &e, Value tile, Value lane,
                                     Value row, Value col, bool rowsFirst,
                                     bool transpose) {
  Value matrix = e.div(lane, e.idx(8));
  Value inMatrix = arith::RemUIOp::create(e.b, e.loc, lane, e.idx(8));
  Value low =
      e.mul(arith::RemUIOp::create(e.b, e.loc, matrix, e.idx(2)), e.idx(8));
  Value high = e.mul(e.div(matrix, e.idx(2)), e.idx(8));
  Value r = e.add(row, e.add(inMatrix, rowsFirst ? low : high));
  Value c = e.add(col, rowsFirst ? high : low);
  Type element = cast<MemRefType>(tile.getType()).getElementType();
  Value x4 =
      nvgpu::LdMatrixOp::create(e.b, e.loc, VectorType::get({4, 2}, element),
                                tile, ValueRange{r, c}, transpose, 4);
  SmallVector<Value> registers;
  for (int64_t i = 0; i < 4; ++i)
    registers.push_back(
        mmaRegister(e, vector::ExtractOp::create(e.b, e.loc, x4, i)));
  return registers;
}

SmallVector<Value> gpu_kernels::loadFragmentA(Emitter &e, Value tile,
                                              Value lane, Value row,
                                              Value col) {
  // Matrices (rows, k): (0-7, 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15).
  return ldmatrixX4(e, tile, lane, row, col, /*rowsFirst=*/true,
                    /*transpose=*/false);
}

std::array<SmallVector<Value>, 2>
gpu_kernels::loadFragmentsB(Emitter &e, Value tile, Value lane, Value k0,
                            Value n0, bool kMajor) {
  // Matrices (k, n): (0-7, 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15);
  // stored [k][n] they are read transposed, stored [n][k] as they are.
  SmallVector<Value> r =
      kMajor ? ldmatrixX4(e, tile, lane, k0, n0, /*rowsFirst=*/true,
                          /*transpose=*/true)
             : ldmatrixX4(e, tile, lane, n0, k0, /*rowsFirst=*/false,
                          /*transpose=*/false);
  return {SmallVector<Value>{r[0], r[1]}, SmallVector<Value>{r[2], r[3]}};
}

void gpu_kernels::copy8(Emitter &e, Value dst, ValueRange dstIndices, Value src,
                        ValueRange srcIndices, Value count, Value aligned) {
  auto async = [&](Emitter &x) {
    nvgpu::DeviceAsyncCopyOp::create(
        x.b, x.loc, nvgpu::DeviceAsyncTokenType::get(x.b.getContext()), dst,
        dstIndices, src, srcIndices, x.b.getIndexAttr(8), count,
        /*bypassL1=*/x.b.getUnitAttr());
  };
  if (!aligned)
    return async(e);
  e.ifThen(aligned, async, [&](Emitter &x) {
    Type element = cast<MemRefType>(src.getType()).getElementType();
    for (int64_t j = 0; j < 8; ++j) {
      SmallVector<Value> from(srcIndices), to(dstIndices);
      from.back() = x.add(from.back(), x.idx(j));
      to.back() = x.add(to.back(), x.idx(j));
      x.store(loadIf(x, x.cmp(arith::CmpIPredicate::ult, x.idx(j), count), src,
                     from, zeroOf(x, element)),
              dst, to);
    }
  });
}

void gpu_kernels::asyncCommitAndWait(Emitter &e, int32_t pending) {
  // commit_group takes every copy the thread issued since the last one; the
  // copies' own tokens are not needed for that.
  Value group = nvgpu::DeviceAsyncCreateGroupOp::create(
      e.b, e.loc, nvgpu::DeviceAsyncTokenType::get(e.b.getContext()),
      ValueRange{});
  nvgpu::DeviceAsyncWaitOp::create(e.b, e.loc, group,
                                   e.b.getI32IntegerAttr(pending));
}

void gpu_kernels::forEachElement(Emitter &e, StringRef name, Value count,
                                 function_ref<void(Emitter &, Value)> body) {
  constexpr int64_t threads = 8 * kWarp;
  launch(e, name, atLeastOne(e, e.ceilDiv(count, e.idx(threads))), e.idx(1),
         threads, {}, [&](Emitter &kernel, const Kernel &ids, ValueRange) {
           Value i =
               kernel.add(kernel.mul(ids.bidX, kernel.idx(threads)), ids.tid);
           kernel.ifThen(kernel.cmp(arith::CmpIPredicate::ult, i, count),
                         [&](Emitter &x) { body(x, i); });
         });
}

void gpu_kernels::emitNarrow(Emitter &e, Value from, Value to, Value count) {
  Type elementType = cast<MemRefType>(to.getType()).getElementType();
  forEachElement(e, "moa_narrow", count, [&](Emitter &x, Value i) {
    x.store(fromF32(x, x.load(from, {i}), elementType), to, {i});
  });
}

SmallVector<Value> gpu_kernels::dynamicSizes(OpBuilder &b, Location loc,
                                             Value buffer) {
  SmallVector<Value> sizes;
  auto type = cast<MemRefType>(buffer.getType());
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(memref::DimOp::create(b, loc, buffer, i));
  return sizes;
}

Value gpu_kernels::deviceAlloc(Emitter &e, Type elementType, ValueRange sizes) {
  auto type = MemRefType::get(
      SmallVector<int64_t>(sizes.size(), ShapedType::kDynamic), elementType);
  return gpu::AllocOp::create(e.b, e.loc, type, /*asyncToken=*/Type(),
                              ValueRange{}, sizes, ValueRange{})
      .getMemref();
}

void gpu_kernels::deviceFill(Emitter &e, Value buffer, Value value) {
  gpu::MemsetOp::create(e.b, e.loc, /*asyncToken=*/Type(), ValueRange{}, buffer,
                        value);
}

Value gpu_kernels::zeroOf(Emitter &e, Type type) {
  return arith::ConstantOp::create(e.b, e.loc, e.b.getZeroAttr(type));
}

Value gpu_kernels::errorWord(PatternRewriter &rewriter, Operation *op) {
  auto func = op->getParentOfType<func::FuncOp>();
  MoADialect::ErrorWordAttrHelper errorWordAttr(rewriter.getContext());
  for (Operation &candidate : func.getBody().front())
    if (errorWordAttr.isAttrPresent(&candidate))
      return candidate.getResult(0);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(&func.getBody().front());
  Emitter e(rewriter, func.getLoc());
  auto type = MemRefType::get({1}, rewriter.getI32Type());
  auto alloc = gpu::AllocOp::create(rewriter, func.getLoc(), type, Type(),
                                    ValueRange{}, ValueRange{}, ValueRange{});
  errorWordAttr.setAttr(alloc, rewriter.getUnitAttr());
  deviceFill(e, alloc.getMemref(),
             arith::ConstantIntOp::create(rewriter, func.getLoc(), 0, 32));
  return alloc.getMemref();
}

Value gpu_kernels::atLeastOne(Emitter &e, Value v) {
  return arith::MaxUIOp::create(e.b, e.loc, v, e.idx(1));
}

Value gpu_kernels::loadIf(Emitter &e, Value cond, Value memref,
                          ValueRange indices, Value otherwise) {
  auto op = scf::IfOp::create(e.b, e.loc, TypeRange{otherwise.getType()}, cond,
                              /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(e.b);
    e.b.setInsertionPointToStart(op.thenBlock());
    scf::YieldOp::create(e.b, e.loc, e.load(memref, indices));
    e.b.setInsertionPointToStart(op.elseBlock());
    scf::YieldOp::create(e.b, e.loc, otherwise);
  }
  return op.getResult(0);
}

Value gpu_kernels::isZero(Emitter &e, Value v) {
  return e.cmp(arith::CmpIPredicate::eq, v, e.idx(0));
}

void gpu_kernels::whenShapesAgree(Emitter &kernel, const Kernel &ids, Value ok,
                                  Value err,
                                  function_ref<void(Emitter &)> body) {
  kernel.ifThen(ok, body, [&](Emitter &x) {
    Value first = x.andI(isZero(x, ids.tid),
                         x.andI(isZero(x, ids.bidX), isZero(x, ids.bidY)));
    x.ifThen(first, [&](Emitter &y) {
      fail(y, err, ::moa::runtime::FailureCode::ShapeMismatch);
    });
  });
}

void gpu_kernels::reduce(Emitter &e, StringRef name, Value blocks, Value count,
                         int64_t numTerms, ReduceTerms terms,
                         ReduceFinish finish) {
  Type f64 = e.b.getF64Type();
  launch(e, name, atLeastOne(e, blocks), e.idx(1), kReduceThreads,
         {sharedBuffer({numTerms, kReduceThreads}, f64)},
         [&](Emitter &x, const Kernel &k, ValueRange shared) {
           SmallVector<Value> zeros(numTerms, x.f64(0));
           SmallVector<Value> mine =
               x.stridedLoop(k.tid, count, x.idx(kReduceThreads), zeros,
                             [&](Emitter &w, Value i, ValueRange acc) {
                               SmallVector<Value> sums,
                                   values = terms(w, k.bidX, i);
                               for (auto [a, v] : llvm::zip(acc, values))
                                 sums.push_back(w.addf(a, v));
                               return sums;
                             });
           for (auto [t, v] : llvm::enumerate(mine))
             x.store(v, shared[0], {x.idx(t), k.tid});
           barrier(x);
           for (int64_t half = kReduceThreads / 2; half > 0; half /= 2) {
             x.ifThen(x.cmp(arith::CmpIPredicate::ult, k.tid, x.idx(half)),
                      [&](Emitter &y) {
                        for (int64_t t = 0; t < numTerms; ++t) {
                          Value other = y.load(
                              shared[0], {y.idx(t), y.add(k.tid, y.idx(half))});
                          y.store(y.addf(y.load(shared[0], {y.idx(t), k.tid}),
                                         other),
                                  shared[0], {y.idx(t), k.tid});
                        }
                      });
             barrier(x);
           }
           x.ifThen(isZero(x, k.tid), [&](Emitter &y) {
             SmallVector<Value> totals;
             for (int64_t t = 0; t < numTerms; ++t)
               totals.push_back(y.load(shared[0], {y.idx(t), y.idx(0)}));
             finish(y, k.bidX, totals);
           });
         });
}

Value gpu_kernels::deviceTotals(
    Emitter &e, StringRef name, Value count, int64_t numTerms,
    function_ref<SmallVector<Value>(Emitter &, Value)> terms) {
  Value totals = deviceAlloc(e, e.b.getF64Type(), {e.idx(numTerms)});
  reduce(
      e, name, e.idx(1), count, numTerms,
      [&](Emitter &x, Value, Value i) { return terms(x, i); },
      [&](Emitter &x, Value, ValueRange total) {
        for (auto [t, v] : llvm::enumerate(total))
          x.store(v, totals, {x.idx(t)});
      });
  return totals;
}

void gpu_kernels::checkRange(Emitter &e, Value err, Value indices, Value count,
                             Value lo, Value hi,
                             ::moa::runtime::FailureCode code) {
  forEachElement(e, "moa_check_indices", count, [&](Emitter &x, Value i) {
    Value v = x.toIndex(x.load(indices, {i}));
    Value bad = x.orI(x.cmp(arith::CmpIPredicate::slt, v, lo),
                      x.cmp(arith::CmpIPredicate::sge, v, hi));
    x.ifThen(bad, [&](Emitter &y) { fail(y, err, code); });
  });
}

Value gpu_kernels::scalarBuffer(Emitter &e) {
  return gpu::AllocOp::create(e.b, e.loc, MemRefType::get({}, e.b.getF32Type()),
                              Type(), ValueRange{}, ValueRange{}, ValueRange{})
      .getMemref();
}

//===----------------------------------------------------------------------===//
// sm_90a: TMA and wgmma
//===----------------------------------------------------------------------===//

/// Shared memory as nvgpu's TMA and wgmma lowerings take it: address space
/// 3 as an integer (convert-nvgpu-to-nvvm fails on #gpu.address_space).
static MemRefType sharedTile(ArrayRef<int64_t> shape, Type element) {
  return MemRefType::get(
      shape, element, MemRefLayoutAttrInterface(),
      IntegerAttr::get(IntegerType::get(element.getContext(), 64), 3));
}

/// A 128-byte-swizzled map type of `box`, zeros past the tensor's bounds.
static nvgpu::TensorMapDescriptorType mapType(ArrayRef<int64_t> box,
                                              Type element) {
  return nvgpu::TensorMapDescriptorType::get(
      element.getContext(), sharedTile(box, element),
      nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
      nvgpu::TensorMapL2PromoKind::L2PROMO_128B,
      nvgpu::TensorMapOOBKind::OOB_ZERO,
      nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
}

nvgpu::TensorMapDescriptorType hopper::tileMapType(Type element) {
  return mapType({1, kTile, kTile}, element);
}

Value hopper::createTileMap(Emitter &e, Value tensor, Value usable) {
  auto type = cast<MemRefType>(tensor.getType());
  // cuTensorMapEncodeTiled refuses zero sizes and strides that are not
  // multiples of 16 bytes: where the kernel loads nothing (shapes that
  // disagree, an empty tensor) the map is of one element, 128-byte strides.
  auto metadata = memref::ExtractStridedMetadataOp::create(e.b, e.loc, tensor);
  for (Value size : metadata.getSizes())
    usable = e.andI(usable, e.cmp(arith::CmpIPredicate::ugt, size, e.idx(0)));
  SmallVector<OpFoldResult> sizes, strides;
  const int64_t rank = type.getRank();
  for (int64_t i = 0; i < rank; ++i) {
    sizes.push_back(e.select(usable, metadata.getSizes()[i], e.idx(1)));
    strides.push_back(e.select(usable, metadata.getStrides()[i],
                               e.idx(i + 1 < rank ? kTile : 1)));
  }
  SmallVector<int64_t> dynamic(rank, ShapedType::kDynamic);
  auto viewType = MemRefType::get(
      dynamic, type.getElementType(),
      StridedLayoutAttr::get(e.b.getContext(), ShapedType::kDynamic, dynamic),
      type.getMemorySpace());
  Value view = memref::ReinterpretCastOp::create(
      e.b, e.loc, viewType, metadata.getBaseBuffer(), metadata.getOffset(),
      sizes, strides);
  Value unranked = memref::CastOp::create(
      e.b, e.loc,
      UnrankedMemRefType::get(type.getElementType(), type.getMemorySpace()),
      view);
  return nvgpu::TmaCreateDescriptorOp::create(
      e.b, e.loc, tileMapType(type.getElementType()), unranked,
      ValueRange{e.idx(1), e.idx(kTile), e.idx(kTile)});
}

Value hopper::sharedView(Emitter &e, Value region, Value offset,
                         ArrayRef<int64_t> shape, Type element) {
  return memref::ViewOp::create(e.b, e.loc, sharedTile(shape, element), region,
                                offset, ValueRange{});
}

Value hopper::swizzledColumn(Emitter &e, Value row, Value col) {
  Value chunk = e.div(col, e.idx(8));
  Value phase = arith::RemUIOp::create(e.b, e.loc, row, e.idx(8));
  return e.mul(arith::XOrIOp::create(e.b, e.loc, chunk, phase), e.idx(8));
}

Type hopper::accumulatorType(MLIRContext *ctx, int64_t n) {
  return nvgpu::WarpgroupAccumulatorType::get(
      ctx, VectorType::get({kTile, n}, Float32Type::get(ctx)));
}

Value hopper::warpgroupMma(Emitter &e, Value a, Value b, Value map, Value acc,
                           bool bKMajor, int64_t pending) {
  MLIRContext *ctx = e.b.getContext();
  auto descriptor = [&](Value tile) {
    return nvgpu::WarpgroupGenerateDescriptorOp::create(
        e.b, e.loc,
        nvgpu::WarpgroupMatrixDescriptorType::get(
            ctx, cast<MemRefType>(tile.getType())),
        tile, map);
  };
  // nvgpu's transposeB means B N-major (PTX's imm-trans-b).
  auto mma = nvgpu::WarpgroupMmaOp::create(
      e.b, e.loc, acc.getType(), descriptor(a), descriptor(b),
      uint64_t(pending), /*transposeA=*/nullptr,
      bKMajor ? UnitAttr() : e.b.getUnitAttr(), acc);
  return mma.getMatrixD();
}

/// The LLVM struct nvgpu-to-nvvm gives a 64 x n f32 accumulator: one
/// member per m64 tile, of n / 2 f32.
static LLVM::LLVMStructType accumulatorStruct(MLIRContext *ctx, int64_t n) {
  SmallVector<Type> members(n / 2, Float32Type::get(ctx));
  return LLVM::LLVMStructType::getLiteral(
      ctx, {LLVM::LLVMStructType::getLiteral(ctx, members)});
}

/// N of a 64 x N accumulator.
static int64_t accumulatorColumns(Value acc) {
  return cast<nvgpu::WarpgroupAccumulatorType>(acc.getType())
      .getFragmented()
      .getDimSize(1);
}

SmallVector<Value> hopper::fragment(Emitter &e, Value acc) {
  const int64_t n = accumulatorColumns(acc);
  Value bits = UnrealizedConversionCastOp::create(
                   e.b, e.loc, accumulatorStruct(e.b.getContext(), n), acc)
                   .getResult(0);
  SmallVector<Value> values;
  for (int64_t i = 0; i < n / 2; ++i)
    values.push_back(LLVM::ExtractValueOp::create(e.b, e.loc, bits,
                                                  ArrayRef<int64_t>{0, i}));
  return values;
}

Value hopper::accumulator(Emitter &e, ArrayRef<Value> values) {
  MLIRContext *ctx = e.b.getContext();
  const int64_t n = 2 * int64_t(values.size());
  // Over a fresh accumulator, not llvm.mlir.undef: constants leave the
  // launch body, and an LLVM struct would become a kernel argument.
  Value bits = UnrealizedConversionCastOp::create(
                   e.b, e.loc, accumulatorStruct(ctx, n),
                   Value(nvgpu::WarpgroupMmaInitAccumulatorOp::create(
                       e.b, e.loc, accumulatorType(ctx, n))))
                   .getResult(0);
  for (auto [i, v] : llvm::enumerate(values))
    bits = LLVM::InsertValueOp::create(e.b, e.loc, bits, v,
                                       ArrayRef<int64_t>{0, int64_t(i)});
  return UnrealizedConversionCastOp::create(e.b, e.loc, accumulatorType(ctx, n),
                                            bits)
      .getResult(0);
}

Value hopper::layoutOnlyMap(Emitter &e, Type element) {
  // A cast, not ub.poison: constants leave the launch body and would reach
  // the kernel as a host tensor map. Nothing reads it after the
  // descriptors are lowered.
  return UnrealizedConversionCastOp::create(
             e.b, e.loc, mapType({kTile, kTile}, element),
             Value(arith::ConstantIntOp::create(e.b, e.loc, 0, 64)))
      .getResult(0);
}

/// The region's alignment (the 128-byte swizzle's pattern), and a bound on
/// the static shared variables of a kernel that has one (its mbarriers).
static constexpr int64_t kRegionAlignment = 1024, kStaticSharedBound = 64;

int64_t hopper::dynamicSharedBytes(int64_t bytes) {
  return bytes + kStaticSharedBound + kRegionAlignment - 1;
}

Value hopper::sharedRegion(Emitter &e, int64_t bytes) {
  MLIRContext *ctx = e.b.getContext();
  Type i8 = e.b.getI8Type();
  Value dynamic = gpu::DynamicSharedMemoryOp::create(
      e.b, e.loc,
      MemRefType::get({ShapedType::kDynamic}, i8, MemRefLayoutAttrInterface(),
                      gpu::AddressSpaceAttr::get(
                          ctx, gpu::GPUDialect::getWorkgroupAddressSpace())));
  Value memory = memref::MemorySpaceCastOp::create(
      e.b, e.loc, sharedTile({ShapedType::kDynamic}, i8), dynamic);
  Value base =
      memref::ExtractAlignedPointerAsIndexOp::create(e.b, e.loc, memory);
  // The first aligned address past the static variables (within
  // kStaticSharedBound of the region's symbol); the launch's extra bytes
  // keep the region inside the dynamic memory.
  Value start =
      e.mul(e.div(e.add(base, e.idx(kStaticSharedBound + kRegionAlignment - 1)),
                  e.idx(kRegionAlignment)),
            e.idx(kRegionAlignment));
  return memref::ViewOp::create(e.b, e.loc, sharedTile({bytes}, i8), memory,
                                e.sub(start, base), ValueRange{});
}

Value hopper::createMBarriers(Emitter &e, const Kernel &ids, int64_t count,
                              Value arrivals) {
  MLIRContext *ctx = e.b.getContext();
  Value group = nvgpu::MBarrierCreateOp::create(
      e.b, e.loc,
      nvgpu::MBarrierGroupType::get(
          ctx, gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup),
          count));
  Value leader = isZero(e, ids.tid);
  for (int64_t i = 0; i < count; ++i)
    nvgpu::MBarrierInitOp::create(e.b, e.loc, group, arrivals, e.idx(i),
                                  leader);
  return group;
}

void hopper::waitPhase(Emitter &e, Value group, Value index, Value phase) {
  Value parity = arith::IndexCastOp::create(
      e.b, e.loc, e.b.getI1Type(),
      arith::RemUIOp::create(e.b, e.loc, phase, e.idx(2)));
  nvgpu::MBarrierTryWaitParityOp::create(e.b, e.loc, group, parity,
                                         e.idx(10000000), index);
}

void hopper::fenceProxyAsync(Emitter &e) {
  MLIRContext *ctx = e.b.getContext();
  NVVM::FenceProxyOp::create(
      e.b, e.loc, NVVM::ProxyKindAttr::get(ctx, NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
}
