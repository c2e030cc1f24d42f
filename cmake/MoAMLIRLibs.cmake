# The MLIR libraries moa links. Debian's MLIR_DIALECT_LIBS property mixes in
# test libraries that themselves link libMLIR.so, which would put two copies of
# MLIR in one process; so the static list is explicit (the RegisterAll*
# libraries pull in every upstream dialect, extension and pass they register).
if(MOA_LINK_STATIC_MLIR)
  set(MOA_MLIR_LIBS
    MLIRRegisterAllDialects MLIRRegisterAllExtensions MLIRRegisterAllPasses
    MLIROptLib
    # moa-compile: translation to LLVM IR and its optimisation pipeline.
    MLIRToLLVMIRTranslationRegistration MLIRTargetLLVMIRExport
    MLIRExecutionEngineUtils)
else()
  set(MOA_MLIR_LIBS MLIR LLVM)
endif()
