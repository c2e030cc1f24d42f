//===- OutlineKernels.cpp - One private function per kernel op ------------===//
//
// Lowered in place, every moa op of a model would add its loop nests to one
// function, and LLVM's optimisations are superlinear in function size: a
// model twice as deep took 2.4x as long to compile. Each kernel op instead
// becomes a call of a no_inline function of its own, shared by the ops
// that are alike (the layers of a stack), so the work grows with the number
// of distinct kernels and the calls between them.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAOUTLINEKERNELS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

/// Kernel ops that may share a function: same name, attributes (uniqued,
/// so compared by pointer) and operand and result types.
using KernelKey = std::tuple<const void *, Attribute, Type>;

/// Whether `op` computes what `outlined` (a kernel op in its function)
/// does: the same regions too, since two linalg.generic ops may differ only
/// in their bodies. Operands are not compared: they become arguments.
bool computesAlike(Operation *op, Operation *outlined) {
  return llvm::all_of_zip(op->getRegions(), outlined->getRegions(),
                          [](Region &a, Region &b) {
                            return OperationEquivalence::isRegionEquivalentTo(
                                &a, &b, OperationEquivalence::IgnoreLocations);
                          });
}

bool isKernelOp(Operation *op) {
  if (!isa<moa::MoADialect>(op->getDialect()) && !isa<linalg::LinalgOp>(op))
    return false;
  // A region that reads a value from around the op cannot move on its own.
  llvm::SetVector<Value> captured;
  getUsedValuesDefinedAbove(op->getRegions(), captured);
  if (!captured.empty())
    return false;
  // Only the buffer form: on tensors the op still takes part in
  // bufferization, which needs to see it where it is.
  auto isTensor = [](Type type) { return isa<TensorType>(type); };
  return llvm::none_of(op->getOperandTypes(), isTensor) &&
         llvm::none_of(op->getResultTypes(), isTensor);
}

/// Whether `op` is already all there is in a private function (a second
/// run of the pass, or a user's own outlining).
bool isAlreadyOutlined(Operation *op) {
  auto func = dyn_cast<func::FuncOp>(op->getParentOp());
  return func && func.isPrivate() && func.getBody().hasOneBlock() &&
         &func.getBody().front().front() == op &&
         isa<func::ReturnOp>(op->getNextNode());
}

/// A private no_inline function `@<op name>` whose arguments are `op`'s
/// operands and whose results are its results, holding a clone of `op`.
func::FuncOp outline(Operation *op, FunctionType type, SymbolTable &symbols) {
  ModuleOp module = cast<ModuleOp>(symbols.getOp());
  auto builder =
      ImplicitLocOpBuilder::atBlockEnd(op->getLoc(), module.getBody());
  std::string name = op->getName().getStringRef().str();
  std::replace(name.begin(), name.end(), '.', '_');
  auto func = func::FuncOp::create(builder, name, type);
  func.setPrivate();
  // Discardable attributes that func-to-llvm carries to the llvm.func:
  // internal (not exported from the module's library) and never inlined
  // back by LLVM. func.func's own no_inline does not survive the lowering.
  func.setNoInline(true);
  MLIRContext *ctx = builder.getContext();
  func->setAttr("llvm.linkage",
                LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
  func->setAttr("passthrough",
                builder.getArrayAttr({builder.getStringAttr("noinline")}));
  symbols.insert(func); // renames on a clash: linalg_contract_0, ...
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  // Operand i is argument i, also where `op` takes one value twice (an
  // in-place linalg op): the other ops that share the function need not.
  Operation *clone = builder.clone(*op);
  clone->setOperands(body->getArguments());
  func::ReturnOp::create(builder, clone->getResults());
  return func;
}

struct MoAOutlineKernelsPass
    : public moa::impl::MoAOutlineKernelsBase<MoAOutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> kernels;
    module.walk([&](Operation *op) {
      if (isKernelOp(op) && !isAlreadyOutlined(op))
        kernels.push_back(op);
    });
    SymbolTable symbols(module);
    llvm::DenseMap<KernelKey, SmallVector<func::FuncOp, 1>> functions;
    for (Operation *op : kernels) {
      auto type = FunctionType::get(&getContext(), op->getOperandTypes(),
                                    op->getResultTypes());
      SmallVector<func::FuncOp, 1> &candidates = functions[KernelKey{
          op->getName().getAsOpaquePointer(), op->getAttrDictionary(), type}];
      auto alike = llvm::find_if(candidates, [&](func::FuncOp candidate) {
        return computesAlike(op, &candidate.front().front());
      });
      func::FuncOp func =
          alike != candidates.end()
              ? *alike
              : candidates.emplace_back(outline(op, type, symbols));
      OpBuilder builder(op);
      auto call =
          func::CallOp::create(builder, op->getLoc(), func, op->getOperands());
      op->replaceAllUsesWith(call.getResults());
      op->erase();
    }
  }
};

} // namespace
