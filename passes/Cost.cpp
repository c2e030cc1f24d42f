//===- Cost.cpp - moa-cost: MACs and parameters per op and function -------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Support/FileUtilities.h"
#include "passes/Passes.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOACOST
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

/// MACs of a linalg contraction: the product of its loop ranges. An input is a
/// parameter when it does not vary along the loop that indexes the result's
/// first dimension (the weight W of x W, not an activation).
std::optional<OpCost> contractionCost(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op) || op.getNumDpsInits() != 1)
    return std::nullopt;
  int64_t staticPart = 1;
  bool dynamic = false;
  for (int64_t range : op.getStaticLoopRanges()) {
    if (ShapedType::isDynamic(range))
      dynamic = true;
    else
      staticPart *= range;
  }
  OpCost cost;
  if (dynamic)
    cost.terms.push_back(
        {"product of dynamic loop ranges", staticPart, std::nullopt});
  else
    cost.terms.push_back({"", staticPart, 1});

  AffineMap resultMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (resultMap.getNumResults() == 0)
    return cost;
  if (auto rowDim = dyn_cast<AffineDimExpr>(resultMap.getResult(0))) {
    for (OpOperand *input : op.getDpsInputOperands())
      if (!op.getMatchingIndexingMap(input).isFunctionOfDim(
              rowDim.getPosition()))
        cost.weights.push_back(input->get());
  }
  return cost;
}

std::optional<OpCost> costOf(Operation *op) {
  if (auto costed = dyn_cast<CostOpInterface>(op))
    return costed.getCost();
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return contractionCost(linalgOp);
  return std::nullopt;
}

void printCount(raw_ostream &os, std::optional<int64_t> count) {
  if (!count)
    os << "?";
  else if (*count == kSaturatedCount)
    os << "overflow(>=2^63)";
  else
    os << *count;
}

/// Parameters of `weights`, or nullopt if one has a dynamic shape.
std::optional<int64_t> countParams(ArrayRef<Value> weights) {
  int64_t total = 0;
  for (Value weight : weights) {
    std::optional<int64_t> n = staticNumElements(weight);
    if (!n)
      return std::nullopt;
    total = saturatingAdd(total, *n);
  }
  return total;
}

void printLocation(raw_ostream &os, Location loc) {
  if (auto fileLoc = dyn_cast<FileLineColLoc>(loc))
    os << " (at " << fileLoc.getFilename().getValue() << ":"
       << fileLoc.getLine() << ":" << fileLoc.getColumn() << ")";
}

void reportFunction(raw_ostream &os, FunctionOpInterface func) {
  os << "moa-cost @" << func.getName() << "\n";
  int64_t staticMacs = 0;
  bool dynamicMacs = false;
  llvm::SetVector<Value> weights;
  func.walk([&](Operation *op) {
    std::optional<OpCost> cost = costOf(op);
    if (!cost)
      return;
    std::optional<int64_t> macs = cost->totalMacs();
    os << "  " << op->getName() << ": macs ";
    printCount(os, macs);
    StringRef separator = " = ";
    for (const CostTerm &term : cost->terms) {
      if (term.unit.empty())
        continue;
      os << separator;
      printCount(os, ShapedType::isDynamic(term.macsPerUnit)
                         ? std::nullopt
                         : std::optional<int64_t>(term.macsPerUnit));
      os << "/" << term.unit << " x ";
      printCount(os, term.units);
      separator = " + ";
    }
    os << ", params ";
    printCount(os, countParams(cost->weights));
    printLocation(os, op->getLoc());
    os << "\n";
    if (macs)
      staticMacs = saturatingAdd(staticMacs, *macs);
    else
      dynamicMacs = true;
    weights.insert(cost->weights.begin(), cost->weights.end());
  });
  os << "  total: macs ";
  if (dynamicMacs) {
    os << "? (";
    printCount(os, staticMacs);
    os << " + terms of dynamic size)";
  } else {
    printCount(os, staticMacs);
  }
  os << ", params ";
  printCount(os, countParams(weights.getArrayRef()));
  os << "\n";
}

struct MoACostPass : public moa::impl::MoACostBase<MoACostPass> {
  using MoACostBase::MoACostBase;

  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    return initializeOptionsExplained(*this, options, errorHandler);
  }

  void runOnOperation() override {
    std::string error;
    std::unique_ptr<llvm::ToolOutputFile> file;
    raw_ostream *os = &llvm::errs();
    if (output != "-") {
      file = openOutputFile(output, &error);
      if (!file) {
        // Located at the module, without dumping it as a note.
        mlir::emitError(getOperation().getLoc(), "moa-cost: ") << error;
        return signalPassFailure();
      }
      os = &file->os();
    }
    getOperation().walk(
        [&](FunctionOpInterface func) { reportFunction(*os, func); });
    if (file)
      file->keep();
    markAllAnalysesPreserved();
  }
};

} // namespace
