//===- ExportEntryPoints.cpp - Describe public functions for the runtime --===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/Manifest.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAEXPORTENTRYPOINTS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

std::optional<::moa::DType> dtypeOf(Type type) {
  if (type.isF32())
    return ::moa::DType::F32;
  if (type.isF16())
    return ::moa::DType::F16;
  if (type.isBF16())
    return ::moa::DType::BF16;
  if (type.isSignlessInteger(32))
    return ::moa::DType::I32;
  if (type.isSignlessInteger(1))
    return ::moa::DType::I1;
  return std::nullopt;
}

FailureOr<::moa::TensorSpec> specOf(func::FuncOp func, Type type,
                                    StringRef what, unsigned position) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  std::optional<::moa::DType> dtype =
      tensor ? dtypeOf(tensor.getElementType()) : std::nullopt;
  if (!dtype)
    return func.emitError() << "entry point @" << func.getSymName() << ": "
                            << what << " " << position << " has type " << type
                            << "; entry points take and return ranked tensors "
                               "of f32, f16, bf16, i32 or i1";
  ::moa::TensorSpec spec;
  spec.dtype = *dtype;
  for (int64_t size : tensor.getShape())
    spec.shape.push_back(ShapedType::isDynamic(size) ? -1 : size);
  return spec;
}

/// Entry names become C symbols next to the runtime's, the generated
/// wrappers' and the C library's.
bool isUsableName(StringRef name) {
  if (name.empty() || llvm::any_of(name, [](char c) {
        return !(llvm::isAlnum(c) || c == '_' || c == '.' || c == '$');
      }))
    return false;
  for (StringRef prefix :
       {"moa_rt_", "moa_entry_", "_mlir_", "__kmpc", "cblas_"})
    if (name.starts_with(prefix))
      return false;
  return !llvm::is_contained({StringRef("malloc"), StringRef("free"),
                              StringRef("calloc"), StringRef("realloc"),
                              StringRef("aligned_alloc"), StringRef("memcpy"),
                              StringRef("memmove"), StringRef("memset"),
                              StringRef("abort"), StringRef("moa_manifest")},
                             name);
}

/// Copies the moa.name and moa.init attributes (strings without white space)
/// into the manifest, where the runtime and moa-train read them.
LogicalResult annotate(func::FuncOp func, DictionaryAttr attrs, StringRef kind,
                       unsigned index, ::moa::TensorSpec &spec) {
  if (!attrs)
    return success();
  for (auto [key, field] : {std::pair<StringRef, std::string *>{
                                mlir::moa::kNameAttrName, &spec.name},
                            {mlir::moa::kInitAttrName, &spec.init}}) {
    Attribute attr = attrs.get(key);
    if (!attr)
      continue;
    auto text = dyn_cast<StringAttr>(attr);
    if (!text || text.getValue().empty() ||
        llvm::any_of(text.getValue(),
                     [](char c) { return c <= ' ' || c == 127; }))
      return func.emitError() << "entry point @" << func.getSymName() << " "
                              << kind << " " << index << ": '" << key
                              << "' must be a non-empty string without "
                                 "white space";
    *field = text.getValue().str();
  }
  return success();
}

/// The `moa.tied` of result `index` (mlir::moa::getTiedArgument).
LogicalResult readTie(func::FuncOp func, unsigned index,
                      ::moa::TensorSpec &spec) {
  std::optional<unsigned> arg;
  if (failed(mlir::moa::getTiedArgument(func, index, arg)))
    return failure();
  if (arg)
    spec.tied = *arg;
  return success();
}

/// A tied result is materialized in its argument's buffer (One-Shot
/// Bufferize copies into it only if the result was not computed there);
/// the argument is writable, since the caller donates it.
void materializeTiedResults(func::FuncOp func, const ::moa::EntrySpec &entry) {
  func.walk([&](func::ReturnOp ret) {
    OpBuilder b(ret);
    for (auto [r, spec] : llvm::enumerate(entry.results)) {
      if (spec.tied < 0)
        continue;
      Value arg = func.getArgument(spec.tied);
      Value result = ret.getOperand(r);
      auto materialized = bufferization::MaterializeInDestinationOp::create(
          b, ret.getLoc(), result.getType(), result, arg);
      ret.setOperand(r, materialized.getResult());
    }
  });
}

/// The manifest now holds them; LLVM translation would warn about them.
/// `moa.tied` stays for moa-drop-tied-results, after bufferization.
void stripMoAAttributes(func::FuncOp func) {
  auto strip = [](DictionaryAttr attrs, auto setter, unsigned i) {
    if (!attrs)
      return;
    for (NamedAttribute attr : attrs)
      if (attr.getName().getValue().starts_with("moa.") &&
          attr.getName() != mlir::moa::kTiedAttrName)
        setter(i, attr.getName());
  };
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    strip(
        func.getArgAttrDict(i),
        [&](unsigned j, StringAttr name) { func.removeArgAttr(j, name); }, i);
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
    strip(
        func.getResultAttrDict(i),
        [&](unsigned j, StringAttr name) { func.removeResultAttr(j, name); },
        i);
}

struct MoAExportEntryPointsPass
    : public mlir::moa::impl::MoAExportEntryPointsBase<
          MoAExportEntryPointsPass> {
  void runOnOperation() override {
    // Entry points are the top level's functions: those of a nested module
    // would silently not be compiled.
    for (auto nested : getOperation().getOps<ModuleOp>()) {
      nested.emitError("nested modules are not supported: moa compiles the "
                       "functions of the top-level module; move them there");
      return signalPassFailure();
    }
    ::moa::Manifest manifest;
    if (auto ranks = getOperation()->getAttrOfType<IntegerAttr>(
            mlir::moa::kRanksAttrName))
      manifest.ranks = ranks.getInt();
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal())
        continue;
      ::moa::EntrySpec entry;
      entry.name = func.getSymName().str();
      if (!isUsableName(func.getSymName())) {
        func.emitError()
            << "entry point @" << func.getSymName()
            << ": names must use letters, digits, '_', '.' or '$', must not "
               "start with 'moa_rt_', 'moa_entry_', '_mlir_', '__kmpc' or "
               "'cblas_', and must not be a C library function the "
               "generated code calls";
        return signalPassFailure();
      }
      for (auto [i, type] : llvm::enumerate(func.getArgumentTypes())) {
        FailureOr<::moa::TensorSpec> spec = specOf(func, type, "argument", i);
        if (failed(spec) || failed(annotate(func, func.getArgAttrDict(i),
                                            "argument", i, *spec)))
          return signalPassFailure();
        entry.arguments.push_back(*spec);
      }
      for (auto [i, type] : llvm::enumerate(func.getResultTypes())) {
        FailureOr<::moa::TensorSpec> spec = specOf(func, type, "result", i);
        if (failed(spec) ||
            failed(annotate(func, func.getResultAttrDict(i), "result", i,
                            *spec)) ||
            failed(readTie(func, i, *spec)))
          return signalPassFailure();
        entry.results.push_back(*spec);
      }
      materializeTiedResults(func, entry);
      stripMoAAttributes(func);
      func->setAttr("llvm.emit_c_interface", UnitAttr::get(&getContext()));
      // The caller's tensors are read-only (bufferization must copy before
      // writing into one), but for those the caller donates.
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
        bool donated = llvm::any_of(entry.results, [&](auto &result) {
          return result.tied == int64_t(i);
        });
        func.setArgAttr(i,
                        bufferization::BufferizationDialect::kWritableAttrName,
                        BoolAttr::get(&getContext(), donated));
      }
      manifest.entries.push_back(std::move(entry));
    }
    getOperation()->setAttr("moa.manifest",
                            StringAttr::get(&getContext(), manifest.print()));
  }
};

} // namespace
