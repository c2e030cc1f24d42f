//===- GenerateDecode.cpp - moa-generate-decode ---------------------------===//
//
// Derives a model's decoder from its loss function: the ops the logits
// depend on are cloned twice, once over a padded prompt (prefill) and once
// over one new token per sequence (decode). Each causal self-attention layer
// is decomposed with its attention core replaced: prefill attends as the
// forward pass does and leaves its keys and values in caches; decode writes
// the new token's key and value into the caches it is given and attends
// over them.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "passes/Passes.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAGENERATEDECODE
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

enum class Phase { Prefill, Decode };

/// What the loss function gives its decoder: the logits, the arguments
/// they need and the ops that compute them, in order.
struct Model {
  func::FuncOp func;
  Value logits;
  SmallVector<unsigned> params;
  unsigned tokens = 0;
  std::optional<unsigned> positions;
  SmallVector<Operation *> ops;
  SmallVector<MixtureAttentionOp> layers;
};

InFlightDiagnostic error(Operation *at) {
  return at->emitError() << "moa-generate-decode: ";
}

/// The result named "logits", [B, T, V].
LogicalResult findLogits(Model &model) {
  func::FuncOp func = model.func;
  if (!func.getBody().hasOneBlock())
    return error(func) << "@" << func.getSymName()
                       << " must have a body of one block";
  for (unsigned r = 0; r < func.getNumResults(); ++r) {
    auto name = func.getResultAttrOfType<StringAttr>(r, kNameAttrName);
    if (!name || name.getValue() != "logits")
      continue;
    auto type = dyn_cast<RankedTensorType>(func.getResultTypes()[r]);
    if (!type || type.getRank() != 3 || type.isDynamicDim(2))
      return error(func) << "the result named 'logits' must be a [B, T, V] "
                            "tensor with a static vocabulary V";
    model.logits = func.getBody().front().getTerminator()->getOperand(r);
    return success();
  }
  return error(func) << "@" << func.getSymName()
                     << " has no result named 'logits' (moa.name = "
                        "\"logits\"), the [B, T, V] next-token scores";
}

/// Whether argument `arg` of the model is read by the ops of `slice` (in
/// their regions too) or is the logits themselves.
bool feedsLogits(BlockArgument arg, Model &model,
                 const llvm::SetVector<Operation *> &slice) {
  if (model.logits == arg)
    return true;
  Block &body = model.func.getBody().front();
  return llvm::any_of(arg.getUsers(), [&](Operation *user) {
    return slice.contains(body.findAncestorOpInBlock(*user));
  });
}

/// Parameters, tokens and positions; any other argument must not feed
/// the logits.
LogicalResult classifyArguments(Model &model,
                                const llvm::SetVector<Operation *> &slice) {
  func::FuncOp func = model.func;
  std::optional<unsigned> tokens;
  auto tokenIds = [](Type type) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    return tensor && tensor.getRank() == 2 &&
           tensor.getElementType().isSignlessInteger(32);
  };
  for (BlockArgument arg : func.getArguments()) {
    unsigned i = arg.getArgNumber();
    auto name = func.getArgAttrOfType<StringAttr>(i, kNameAttrName);
    if (Attribute param = func.getArgAttr(i, kParamAttrName)) {
      auto paramName = dyn_cast<StringAttr>(param);
      if (!paramName || paramName.getValue().empty())
        return error(func) << "argument " << i
                           << ": 'moa.param' must name the parameter (a "
                              "non-empty string)";
      model.params.push_back(i);
    } else if (name && (name.getValue() == "tokens" ||
                        name.getValue() == "positions")) {
      // The decoder runs the model on one token: T must be dynamic.
      auto ids = dyn_cast<RankedTensorType>(arg.getType());
      if (!tokenIds(arg.getType()) || !ids.isDynamicDim(1))
        return error(func) << "argument " << i << " ('" << name.getValue()
                           << "') must be i32 [B, T] with a dynamic T";
      std::optional<unsigned> &slot =
          name.getValue() == "tokens" ? tokens : model.positions;
      if (slot)
        return error(func) << "arguments " << *slot << " and " << i
                           << " are both named '" << name.getValue() << "'";
      slot = i;
    } else if (feedsLogits(arg, model, slice)) {
      return error(func) << "argument " << i
                         << (name ? " ('" + name.getValue() + "')" : Twine())
                         << " feeds the logits, but a decoder has only the "
                            "parameters, the tokens and their positions";
    }
  }
  if (!tokens)
    return error(func) << "no argument is named 'tokens' (moa.name)";
  model.tokens = *tokens;
  return success();
}

/// The logits' ops in order; each layer among them must be causal
/// self-attention without masks.
LogicalResult analyse(Model &model) {
  if (failed(findLogits(model)))
    return failure();
  llvm::SetVector<Operation *> slice;
  BackwardSliceOptions options;
  options.inclusive = true;
  options.omitUsesFromAbove = false; // what the ops' regions read too
  if (Operation *def = model.logits.getDefiningOp())
    (void)getBackwardSlice(def, &slice, options);
  if (failed(classifyArguments(model, slice)))
    return failure();
  for (Operation &op : model.func.getBody().front().without_terminator()) {
    if (!slice.contains(&op))
      continue;
    model.ops.push_back(&op);
    auto layer = dyn_cast<MixtureAttentionOp>(op);
    if (!layer)
      continue;
    if (!layer.getCausal() || layer.getMemory() || layer.getKeyPaddingMask() ||
        layer.getQueryPaddingMask())
      return error(layer) << "only causal self-attention without padding "
                             "masks can be decoded with a cache";
    if (cast<ShapedType>(layer.getWKey().getType()).isDynamicDim(1))
      return error(layer) << "the head size h (dimension 1 of 'w_key') must "
                             "be static: it sizes the caches";
    model.layers.push_back(layer);
  }
  return success();
}

/// [B, S, h] of the layer's activation type: one of its two caches.
RankedTensorType cacheType(MixtureAttentionOp layer, int64_t maxLength) {
  auto x = cast<RankedTensorType>(layer.getX().getType());
  int64_t h = cast<ShapedType>(layer.getWKey().getType()).getDimSize(1);
  return RankedTensorType::get({x.getDimSize(0), maxLength, h},
                               x.getElementType());
}

/// Builds @<f>_prefill or @<f>_decode.
class EntryBuilder {
public:
  EntryBuilder(Model model, Phase phase, int64_t maxLength)
      : model(std::move(model)), phase(phase), maxLength(maxLength) {}

  func::FuncOp build(OpBuilder &b, StringRef name);

private:
  /// The function with its arguments named, without a body.
  func::FuncOp declare(OpBuilder &b, StringRef name);
  /// The attention core of layer `i` in this phase; appends its caches.
  Value attend(OpBuilder &b, Location loc, MixtureAttentionOp layer, Value q,
               Value key, Value value);
  /// logits [B, V] from the cloned [B, T(=1), V] logits.
  Value entryLogits(OpBuilder &b, Location loc, Value logits);

  Model model; // a copy: op handles are not const
  Phase phase;
  int64_t maxLength;
  func::FuncOp entry;
  unsigned firstCache = 0, lengthsArg = 0;
  SmallVector<Value> caches; // in layer order, key then value
};

func::FuncOp EntryBuilder::declare(OpBuilder &b, StringRef name) {
  func::FuncOp func = model.func;
  auto tokensType =
      cast<RankedTensorType>(func.getArgumentTypes()[model.tokens]);
  int64_t batch = tokensType.getDimSize(0);
  if (phase == Phase::Decode)
    tokensType = RankedTensorType::get({batch, 1}, b.getI32Type());
  SmallVector<Type> inputs;
  SmallVector<std::string> names;
  for (unsigned i : model.params) {
    inputs.push_back(func.getArgumentTypes()[i]);
    names.push_back(
        ("p." + func.getArgAttrOfType<StringAttr>(i, kParamAttrName).getValue())
            .str());
  }
  inputs.push_back(tokensType);
  names.push_back("tokens");
  if (model.positions) {
    inputs.push_back(tokensType);
    names.push_back("positions");
  }
  firstCache = inputs.size();
  SmallVector<Type> cacheTypes;
  for (auto [i, layer] : llvm::enumerate(model.layers))
    for (StringRef which : {"key", "value"}) {
      cacheTypes.push_back(cacheType(layer, maxLength));
      names.push_back(("cache." + Twine(i) + "." + which).str());
    }
  if (phase == Phase::Decode)
    llvm::append_range(inputs, cacheTypes);
  lengthsArg = inputs.size();
  inputs.push_back(RankedTensorType::get({batch}, b.getI32Type()));
  names.push_back("lengths");

  auto logits = cast<RankedTensorType>(model.logits.getType());
  SmallVector<Type> results = {RankedTensorType::get(
      {logits.getDimSize(0), logits.getDimSize(2)}, logits.getElementType())};
  llvm::append_range(results, cacheTypes);
  auto entry = func::FuncOp::create(b, func.getLoc(), name,
                                    b.getFunctionType(inputs, results));
  // Arguments: parameters and data, then (decode) the caches, then lengths.
  unsigned namedArgs = firstCache;
  for (unsigned i = 0; i < namedArgs; ++i)
    entry.setArgAttr(i, kNameAttrName, b.getStringAttr(names[i]));
  for (unsigned c = 0; c < cacheTypes.size(); ++c) {
    StringAttr cacheName = b.getStringAttr(names[namedArgs + c]);
    entry.setResultAttr(1 + c, kNameAttrName, cacheName);
    if (phase == Phase::Decode) {
      entry.setArgAttr(firstCache + c, kNameAttrName, cacheName);
      entry.setResultAttr(1 + c, kTiedAttrName,
                          b.getI64IntegerAttr(firstCache + c));
    }
  }
  entry.setArgAttr(lengthsArg, kNameAttrName, b.getStringAttr("lengths"));
  entry.setResultAttr(0, kNameAttrName, b.getStringAttr("logits"));
  return entry;
}

Value EntryBuilder::attend(OpBuilder &b, Location loc, MixtureAttentionOp layer,
                           Value q, Value key, Value value) {
  Value lengths = entry.getArgument(lengthsArg);
  if (phase == Phase::Decode) {
    unsigned first = firstCache + caches.size();
    Value keys =
        CacheWriteOp::create(b, loc, entry.getArgument(first).getType(), key,
                             lengths, entry.getArgument(first))
            .getResult();
    Value values =
        CacheWriteOp::create(b, loc, entry.getArgument(first + 1).getType(),
                             value, lengths, entry.getArgument(first + 1))
            .getResult();
    caches.append({keys, values});
    return CachedAttentionOp::create(b, loc, q, keys, values, lengths,
                                     layer.getScaleAttr());
  }
  // Prefill: the prompt's own keys and values, written from row 0.
  OpFoldResult batch = tensor::getMixedSize(b, loc, key, 0);
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value offsets =
      linalg::FillOp::create(
          b, loc, zero,
          Value(tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{batch},
                                        b.getI32Type())))
          .getResult(0);
  RankedTensorType type = cacheType(layer, maxLength);
  // Rows past the prompt are zero, not whatever the memory held: the
  // caches are results (defined contents, nothing of earlier calls leaks).
  Value zeroRow =
      arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
  for (Value rows : {key, value}) {
    Value empty = tensor::EmptyOp::create(
        b, loc,
        ArrayRef<OpFoldResult>{batch, b.getIndexAttr(type.getDimSize(1)),
                               b.getIndexAttr(type.getDimSize(2))},
        type.getElementType());
    Value zeros = linalg::FillOp::create(b, loc, zeroRow, empty).getResult(0);
    zeros = tensor::CastOp::create(b, loc, type, zeros);
    caches.push_back(
        CacheWriteOp::create(b, loc, type, rows, offsets, zeros).getResult());
  }
  return MultiQueryAttentionOp::create(b, loc, q, key, value, Value(),
                                       layer.getCausalAttr(),
                                       layer.getScaleAttr(),
                                       /*with_lse=*/UnitAttr())
      .getResult();
}

/// Asserts at run time that 1 <= lengths[b] <= `length` for every b.
static void assertLengths(OpBuilder &b, Location loc, Value lengths,
                          Value length) {
  MLIRContext *ctx = b.getContext();
  Value allTrue = linalg::FillOp::create(
                      b, loc, Value(arith::ConstantIntOp::create(b, loc, 1, 1)),
                      Value(tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{},
                                                    b.getI1Type())))
                      .getResult(0);
  auto allValid = [&](OpBuilder &nb, Location nloc, ValueRange args) {
    Value n = arith::IndexCastOp::create(nb, nloc, nb.getIndexType(), args[0]);
    Value one = arith::ConstantIndexOp::create(nb, nloc, 1);
    Value ok = arith::AndIOp::create(
        nb, nloc,
        arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::sge, n, one),
        arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::sle, n, length));
    linalg::YieldOp::create(
        nb, nloc, Value(arith::AndIOp::create(nb, nloc, ok, args[1])));
  };
  Value valid =
      linalg::GenericOp::create(
          b, loc, allTrue.getType(), lengths, allTrue,
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx),
                              AffineMap::get(1, 0, ctx)},
          ArrayRef<utils::IteratorType>{utils::IteratorType::reduction},
          allValid)
          .getResult(0);
  cf::AssertOp::create(
      b, loc, tensor::ExtractOp::create(b, loc, valid, ValueRange{}),
      "moa-generate-decode: each prompt length must lie in [1, T], T the "
      "padded prompt length");
}

/// For a prompt right-padded to T: the logits of each sequence's last real
/// token, lengths[b] - 1, after checking 1 <= lengths[b] <= T.
static Value lastTokenLogits(OpBuilder &b, Location loc, Value logits,
                             Value lengths) {
  auto type = cast<RankedTensorType>(logits.getType());
  Value length = tensor::DimOp::create(b, loc, logits, 1);
  assertLengths(b, loc, lengths, length);
  Value empty = tensor::EmptyOp::create(
      b, loc,
      ArrayRef<OpFoldResult>{tensor::getMixedSize(b, loc, logits, 0),
                             b.getIndexAttr(type.getDimSize(2))},
      type.getElementType());
  auto lastRow = [&](OpBuilder &nb, Location nloc, ValueRange args) {
    // Clamped: a bad length was reported above, and must not read out of
    // bounds.
    Value n = arith::IndexCastOp::create(nb, nloc, nb.getIndexType(), args[0]);
    Value one = arith::ConstantIndexOp::create(nb, nloc, 1);
    Value zero = arith::ConstantIndexOp::create(nb, nloc, 0);
    Value last = arith::MaxSIOp::create(
        nb, nloc, zero,
        arith::MinSIOp::create(nb, nloc,
                               arith::SubIOp::create(nb, nloc, n, one),
                               arith::SubIOp::create(nb, nloc, length, one)));
    Value row = linalg::IndexOp::create(nb, nloc, 0);
    Value column = linalg::IndexOp::create(nb, nloc, 1);
    linalg::YieldOp::create(
        nb, nloc,
        Value(tensor::ExtractOp::create(nb, nloc, logits,
                                        ValueRange{row, last, column})));
  };
  return linalg::GenericOp::create(
             b, loc, empty.getType(), lengths, empty,
             ArrayRef<AffineMap>{
                 AffineMap::get(2, 0, b.getAffineDimExpr(0)),
                 AffineMap::getMultiDimIdentityMap(2, b.getContext())},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel},
             lastRow)
      .getResult(0);
}

Value EntryBuilder::entryLogits(OpBuilder &b, Location loc, Value logits) {
  Value rows =
      phase == Phase::Prefill
          ? lastTokenLogits(b, loc, logits, entry.getArgument(lengthsArg))
          : tensor::CollapseShapeOp::create(
                b, loc, logits, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  // [B, V] as declared (a static B is not known to the collapse).
  Type declared = entry.getResultTypes()[0];
  return rows.getType() == declared
             ? rows
             : tensor::CastOp::create(b, loc, declared, rows).getResult();
}

func::FuncOp EntryBuilder::build(OpBuilder &b, StringRef name) {
  entry = declare(b, name);
  Block *body = entry.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  IRMapping map;
  for (auto [j, i] : llvm::enumerate(model.params))
    map.map(model.func.getArgument(i), entry.getArgument(j));
  unsigned data = model.params.size();
  map.map(model.func.getArgument(model.tokens), entry.getArgument(data));
  if (model.positions)
    map.map(model.func.getArgument(*model.positions),
            entry.getArgument(data + 1));

  for (Operation *op : model.ops) {
    auto layer = dyn_cast<MixtureAttentionOp>(op);
    if (!layer) {
      b.clone(*op, map);
      continue;
    }
    auto clone = cast<MixtureAttentionOp>(b.clone(*op, map));
    FailureOr<DecomposedLayer> decomposed = emitDecomposedLayer(
        b, clone, [&](OpBuilder &nb, Location loc, Value q, Value k, Value v) {
          return attend(nb, loc, clone, q, k, v);
        });
    if (failed(decomposed)) {
      clone.emitError("moa-generate-decode: cannot decompose: the number of "
                      "experts (dimension 1 of 'w_gate') must be static");
      entry.erase();
      return nullptr;
    }
    map.map(op->getResult(0), decomposed->y);
    map.map(op->getResult(1), decomposed->routerLogits);
    clone.erase();
  }
  Location loc = model.func.getLoc();
  SmallVector<Value> results = {entryLogits(b, loc, map.lookup(model.logits))};
  llvm::append_range(results, caches);
  func::ReturnOp::create(b, loc, results);
  return entry;
}

struct MoAGenerateDecodePass
    : public moa::impl::MoAGenerateDecodeBase<MoAGenerateDecodePass> {
  using MoAGenerateDecodeBase::MoAGenerateDecodeBase;

  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    return initializeOptionsExplained(*this, options, errorHandler);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    auto func = symbols.lookup<func::FuncOp>(function);
    if (!func || func.isExternal()) {
      emitError(module.getLoc()) << "moa-generate-decode: no function '@"
                                 << function << "' with a body";
      return signalPassFailure();
    }
    if (maxLength < 1) {
      emitError(module.getLoc())
          << "moa-generate-decode: max-length must be at least 1";
      return signalPassFailure();
    }
    Model model;
    model.func = func;
    if (failed(analyse(model)))
      return signalPassFailure();
    constexpr std::pair<Phase, StringLiteral> kEntries[] = {
        {Phase::Prefill, "_prefill"}, {Phase::Decode, "_decode"}};
    for (auto [phase, suffix] : kEntries)
      if (symbols.lookup((func.getSymName() + suffix).str())) {
        error(func) << "'@" << func.getSymName() << suffix
                    << "' exists already";
        return signalPassFailure();
      }
    OpBuilder b(func);
    b.setInsertionPointAfter(func);
    for (auto [phase, suffix] : kEntries) {
      std::string name = (func.getSymName() + suffix).str();
      func::FuncOp entry = EntryBuilder(model, phase, maxLength).build(b, name);
      if (!entry)
        return signalPassFailure();
      symbols.insert(entry);
      b.setInsertionPointAfter(entry);
    }
  }
};

} // namespace
