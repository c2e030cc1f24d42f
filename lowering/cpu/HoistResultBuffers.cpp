//===- HoistResultBuffers.cpp - Callers allocate what kernels return ------===//
//
// After moa-outline-kernels and moa-lower-to-loops, a kernel function
// returns the buffers it allocated. Buffer deallocation cannot tell what a
// call result aliases, and on a deep model its simplification then compares
// every pair of the caller's buffers (15 s of 18 for 32 layers). Moving the
// allocation into the caller gives it plain allocations again. Upstream's
// buffer-results-to-out-params hoists only sizes that are arguments; here
// the sizes are whatever pure arithmetic on the arguments computed them.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAHOISTRESULTBUFFERS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

/// A result of a function that its callers will allocate: the allocation
/// and the ops that compute its sizes from the arguments, in order.
struct HoistedResult {
  unsigned index;
  memref::AllocOp alloc;
  SmallVector<Operation *> sizeOps;
};

/// Whether `value` is an argument of `entry` or the result of an op that
/// `sizeOps` holds.
bool isAvailable(Value value, Block &entry,
                 const SetVector<Operation *> &sizeOps) {
  if (auto argument = dyn_cast<BlockArgument>(value))
    return argument.getOwner() == &entry;
  return sizeOps.contains(value.getDefiningOp());
}

/// `value` as a hoistable result of `func`: a memref.alloc of the entry
/// block whose sizes pure, region-free ops of the entry block compute from
/// arguments alone.
std::optional<HoistedResult> asHoistable(func::FuncOp func, unsigned index,
                                         Value value) {
  Block &entry = func.front();
  auto alloc = value.getDefiningOp<memref::AllocOp>();
  if (!alloc || alloc->getBlock() != &entry ||
      !alloc.getType().getLayout().isIdentity())
    return std::nullopt;
  SetVector<Operation *> slice;
  BackwardSliceOptions options;
  options.omitBlockArguments = true;
  options.inclusive = true; // the op defining the size too
  for (Value size : alloc.getDynamicSizes())
    if (failed(getBackwardSlice(size, &slice, options)))
      return std::nullopt;
  for (Operation *op : slice) {
    if (op->getBlock() != &entry || op->getNumRegions() != 0 ||
        !isMemoryEffectFree(op))
      return std::nullopt;
    for (Value operand : op->getOperands())
      if (!isAvailable(operand, entry, slice))
        return std::nullopt;
  }
  for (Value size : alloc.getDynamicSizes())
    if (!isAvailable(size, entry, slice))
      return std::nullopt;
  return HoistedResult{index, alloc, llvm::to_vector(slice)};
}

/// Replaces `call` by one that passes buffers for the hoisted results,
/// allocated right before it with sizes computed from its operands.
void allocateAtCall(func::CallOp call, func::FuncOp func,
                    ArrayRef<HoistedResult> hoisted) {
  OpBuilder builder(call);
  IRMapping mapping;
  mapping.map(func.getArguments(), call.getOperands());
  SmallVector<Value> operands(call.getOperands());
  llvm::BitVector isHoisted(call.getNumResults());
  for (const HoistedResult &result : hoisted) {
    for (Operation *op : result.sizeOps)
      if (!mapping.contains(op->getResult(0)))
        builder.clone(*op, mapping);
    Value buffer = builder.clone(*result.alloc, mapping)->getResult(0);
    call.getResult(result.index).replaceAllUsesWith(buffer);
    operands.push_back(buffer);
    isHoisted.set(result.index);
  }
  SmallVector<Value> kept;
  for (OpResult result : call.getResults())
    if (!isHoisted.test(result.getResultNumber()))
      kept.push_back(result);
  auto replacement =
      func::CallOp::create(builder, call.getLoc(), call.getCalleeAttr(),
                           ValueRange(kept).getTypes(), operands);
  for (auto [old, now] : llvm::zip_equal(kept, replacement.getResults()))
    old.replaceAllUsesWith(now);
  call.erase();
}

/// Turns the hoisted results of `func` into trailing out parameters.
void makeOutParameters(func::FuncOp func, ArrayRef<HoistedResult> hoisted) {
  auto ret = cast<func::ReturnOp>(func.front().getTerminator());
  llvm::BitVector isHoisted(func.getNumResults());
  for (const HoistedResult &result : hoisted) {
    memref::AllocOp alloc = result.alloc;
    BlockArgument buffer =
        func.front().addArgument(alloc.getType(), alloc.getLoc());
    alloc.getResult().replaceAllUsesWith(buffer);
    alloc.erase();
    isHoisted.set(result.index);
  }
  SmallVector<Value> kept;
  for (OpOperand &operand : ret->getOpOperands())
    if (!isHoisted.test(operand.getOperandNumber()))
      kept.push_back(operand.get());
  ret->setOperands(kept);
  func.setType(FunctionType::get(func.getContext(),
                                 func.front().getArgumentTypes(),
                                 ValueRange(kept).getTypes()));
}

struct MoAHoistResultBuffersPass
    : public moa::impl::MoAHoistResultBuffersBase<MoAHoistResultBuffersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func.isPrivate() || func.isExternal() ||
          !func.getBody().hasOneBlock())
        continue;
      SmallVector<func::CallOp> calls;
      if (!callsOf(func, module, calls))
        continue;
      SmallVector<HoistedResult> hoisted;
      auto ret = cast<func::ReturnOp>(func.front().getTerminator());
      for (OpOperand &operand : ret->getOpOperands())
        if (auto result =
                asHoistable(func, operand.getOperandNumber(), operand.get());
            result && llvm::count(ret.getOperands(), operand.get()) == 1)
          hoisted.push_back(std::move(*result));
      if (hoisted.empty())
        continue;
      for (func::CallOp call : calls)
        allocateAtCall(call, func, hoisted);
      makeOutParameters(func, hoisted);
    }
  }

  /// The calls of `func`; false if its symbol is used otherwise too.
  static bool callsOf(func::FuncOp func, ModuleOp module,
                      SmallVectorImpl<func::CallOp> &calls) {
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(func, module);
    if (!uses)
      return false;
    for (const SymbolTable::SymbolUse &use : *uses) {
      auto call = dyn_cast<func::CallOp>(use.getUser());
      if (!call)
        return false;
      calls.push_back(call);
    }
    return true;
  }
};

} // namespace
