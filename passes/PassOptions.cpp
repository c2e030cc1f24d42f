//===- PassOptions.cpp - Option errors that say what the options are ------===//

#include "passes/Passes.h"

using namespace mlir;

LogicalResult mlir::moa::initializeOptionsExplained(
    Pass &pass, StringRef options,
    function_ref<LogicalResult(const Twine &)> errorHandler) {
  // The pass as a pipeline element before parsing: its options and defaults.
  std::string defaults;
  llvm::raw_string_ostream os(defaults);
  pass.printAsTextualPipeline(os);
  return pass.Pass::initializeOptions(options, [&](const Twine &message) {
    std::string text = message.str();
    return errorHandler(StringRef(text).rtrim() + " (" + pass.getArgument() +
                        "'s options, with their defaults: " + defaults + ")");
  });
}
