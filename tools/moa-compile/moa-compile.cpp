//===- moa-compile.cpp - Compile a moa module to a shared library ---------===//
//
//   moa-compile model.mlir -o model.so          # shared library for moa-run
//   moa-compile model.mlir --emit=mlir          # LLVM dialect after lowering
//   moa-compile model.mlir --emit=llvm          # optimised LLVM IR
//   moa-compile model.mlir --emit=obj -o m.o    # object file
//
// The pipeline is moa-cpu-pipeline (lowering/Pipelines.cpp); code is
// generated in-process for the host CPU and linked with the system C++
// driver against libMoARuntime.so (GEMM, routing counts, errors) and LLVM's
// OpenMP runtime (the parallel loops).
//
//===----------------------------------------------------------------------===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "test/lib/GPUEmulator/Passes.h"
#include "tools/RegisterMoA.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {
/// What --help lists; LLVM's and MLIR's own options stay usable and show
/// under --help-hidden.
cl::OptionCategory moaCategory("moa-compile options");

enum class Emit { MLIR, LLVM, PTX, Obj, Lib };

cl::opt<std::string> inputFile(cl::cat(moaCategory), cl::Positional,
                               cl::desc("<input.mlir>"), cl::Required);
cl::opt<std::string> outputFile(cl::cat(moaCategory), "o",
                                cl::desc("Output file"),
                                cl::value_desc("path"));
cl::opt<Emit>
    emit(cl::cat(moaCategory), "emit", cl::desc("What to produce"),
         cl::init(Emit::Lib),
         cl::values(
             clEnumValN(Emit::MLIR, "mlir", "LLVM dialect after lowering"),
             clEnumValN(Emit::LLVM, "llvm", "optimised LLVM IR"),
             clEnumValN(Emit::PTX, "ptx",
                        "the kernels' PTX (--target=cuda), e.g. for ptxas -v"),
             clEnumValN(Emit::Obj, "obj", "object file"),
             clEnumValN(Emit::Lib, "lib", "shared library (default)")));
enum class Target { CPU, CUDA };
cl::opt<Target> target(
    cl::cat(moaCategory), "target", cl::desc("What to compile for"),
    cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu", "the host CPU (default)"),
               clEnumValN(Target::CUDA, "cuda",
                          "NVIDIA GPUs (layers, models and training steps)")));
cl::opt<std::string> cudaChip(cl::cat(moaCategory), "cuda-chip",
                              cl::desc("GPU architecture for --target=cuda"),
                              cl::init("sm_90a"));
cl::opt<std::string> cudaFeatures(cl::cat(moaCategory), "cuda-features",
                                  cl::desc("PTX features for --target=cuda"),
                                  cl::init("+ptx80"));
cl::opt<std::string> gpuTiling(
    cl::cat(moaCategory), "gpu-tiling",
    cl::desc("Tile sizes of the GPU kernels for --target=cuda, as "
             "moa-lower-to-gpu's options, e.g. 'gemm-rows=32 gemm-cols=64 "
             "gemm-depth=16 attention-keys=32'"),
    cl::init(""));
cl::opt<bool> mockGpu(
    cl::cat(moaCategory), "mock-gpu",
    cl::desc("Link the recording mock of the GPU host runtime (for machines "
             "without a GPU)"),
    cl::init(false));
cl::opt<bool> bufferized(
    cl::cat(moaCategory), "bufferized",
    cl::desc("The input is already bufferized (moa-export-entry-points, then "
             "One-Shot Bufferize: moa ops in their buffer form, e.g. from "
             "mlir-opt with the moa plugin): run only moa-cpu-buffer-pipeline"),
    cl::init(false));

cl::opt<bool> emulateGpu(
    cl::cat(moaCategory), "emulate-gpu",
    cl::desc("Run the GPU kernels on the CPU through the emulator (tests of "
             "the kernels on machines without a GPU; slow)"),
    cl::init(false));
cl::opt<bool> emulateGpuProfile(
    cl::cat(moaCategory), "emulate-gpu-profile",
    cl::desc("With --emulate-gpu: report each launch's memory traffic "
             "(bytes, 32-byte sectors, shared-memory wavefronts), "
             "tensor-core work and barriers when it runs (to the file "
             "MOA_EMU_PROFILE names, else stderr)"),
    cl::init(false));
cl::opt<std::string> prePipeline(
    cl::cat(moaCategory), "pre-pipeline",
    cl::desc("Passes run before the target pipeline, in moa-opt's textual "
             "form, e.g. 'moa-generate-gradients' or "
             "'moa-generate-train-step{lr=1e-3 warmup-steps=100}'"),
    cl::init(""));
cl::opt<std::string> runtimeDir(
    cl::cat(moaCategory), "runtime-dir",
    cl::desc("Directory of libMoARuntime.so (default: ../lib next to this "
             "executable, as in the build tree and an installed prefix)"));
cl::opt<std::string> openmpDir(cl::cat(moaCategory), "openmp-dir",
                               cl::desc("Directory of LLVM's libomp.so"),
                               cl::init(MOA_OPENMP_LIBRARY_DIR));
cl::opt<std::string> linker(cl::cat(moaCategory), "linker",
                            cl::desc("C++ driver used to link"),
                            cl::init("c++"));

int fail(const llvm::Twine &message) {
  llvm::errs() << "moa-compile: " << message << "\n";
  return 1;
}

std::string defaultOutput() {
  llvm::SmallString<128> path(inputFile == "-" ? "out" : inputFile.getValue());
  llvm::sys::path::replace_extension(path, emit == Emit::Obj   ? ".o"
                                           : emit == Emit::Lib ? ".so"
                                                               : "");
  return emit == Emit::MLIR || emit == Emit::LLVM || emit == Emit::PTX
             ? "-"
             : path.str().str();
}

std::unique_ptr<llvm::TargetMachine> hostTargetMachine(std::string &error) {
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::SubtargetFeatures features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features.AddFeature(feature.first(), feature.second);
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(),
      llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
}
extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTargetMC();
}

/// NN of a "ptxNN" feature name, else 0.
unsigned ptxVersionOf(llvm::StringRef feature) {
  unsigned version = 0;
  if (!feature.consume_front("ptx") || feature.getAsInteger(10, version))
    return 0;
  return version;
}

/// The oldest PTX (as NN of ptxNN) LLVM 22's NVPTX accepts for `chip`, as
/// llc reports it; NVPTX ends in a fatal error below it. 80 (moa's default)
/// for the chips not listed.
unsigned minimumPtxVersion(llvm::StringRef chip) {
  return llvm::StringSwitch<unsigned>(chip)
      .Cases({"sm_88", "sm_110", "sm_110a", "sm_110f"}, 90)
      .Cases({"sm_100f", "sm_101f", "sm_103", "sm_103a", "sm_103f", "sm_120f",
              "sm_121", "sm_121a", "sm_121f"},
             88)
      .Cases({"sm_120", "sm_120a"}, 87)
      .Cases({"sm_100", "sm_100a", "sm_101", "sm_101a"}, 86)
      .Default(80);
}

/// Why NVPTX does not know --cuda-chip or a --cuda-features entry ("" if it
/// knows them): caught here, they end in LLVM fatal errors later.
std::string cudaTargetProblem() {
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTargetMC();
  const llvm::Triple triple("nvptx64-nvidia-cuda");
  std::string error;
  const llvm::Target *nvptx = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!nvptx)
    return "this LLVM has no NVPTX target: " + error;
  std::unique_ptr<llvm::MCSubtargetInfo> info(
      nvptx->createMCSubtargetInfo(triple, "", ""));
  if (!info->isCPUStringValid(cudaChip)) {
    std::string known;
    for (const llvm::SubtargetSubTypeKV &cpu :
         info->getAllProcessorDescriptions())
      if (llvm::StringRef(cpu.Key).starts_with("sm_"))
        known += (known.empty() ? "" : ", ") + std::string(cpu.Key);
    return "unknown --cuda-chip '" + cudaChip + "' (NVPTX knows " + known + ")";
  }
  // cp.async and bf16 mma.sync, which the kernels use, came with Ampere.
  unsigned version = 0;
  if (llvm::StringRef(cudaChip)
          .drop_front(3)
          .take_while(llvm::isDigit)
          .getAsInteger(10, version) ||
      version < 80)
    return "--cuda-chip '" + cudaChip +
           "' is older than the kernels need (sm_80 or newer)";
  const unsigned neededPtx = minimumPtxVersion(cudaChip);
  if (cudaFeatures.getNumOccurrences() == 0 && neededPtx > 80)
    cudaFeatures = "+ptx" + std::to_string(neededPtx);
  llvm::SmallVector<llvm::StringRef> features;
  llvm::StringRef(cudaFeatures).split(features, ',', -1, false);
  for (llvm::StringRef feature : features) {
    llvm::StringRef name = feature.drop_front(
        feature.starts_with("+") || feature.starts_with("-") ? 1 : 0);
    if (llvm::none_of(info->getAllProcessorFeatures(),
                      [&](const llvm::SubtargetFeatureKV &known) {
                        return name == known.Key;
                      }))
      return "unknown --cuda-features entry '" + feature.str() +
             "' (e.g. +ptx80, +ptx86)";
    if (unsigned ptx = ptxVersionOf(name); ptx && ptx < neededPtx)
      return "--cuda-chip '" + cudaChip + "' needs PTX " +
             std::to_string(neededPtx / 10) + "." +
             std::to_string(neededPtx % 10) +
             " or newer (--cuda-features=+ptx" + std::to_string(neededPtx) +
             ")";
  }
  return "";
}

/// Why the options cannot be used together, or "" if they can.
std::string checkOptions() {
  if (mockGpu && target != Target::CUDA)
    return "--mock-gpu needs --target=cuda";
  if (bufferized && (target != Target::CPU || !prePipeline.empty()))
    return "--bufferized needs --target=cpu and no --pre-pipeline";
  if (emulateGpu && (target != Target::CUDA || mockGpu || emit == Emit::PTX))
    return "--emulate-gpu needs --target=cuda, without --mock-gpu or "
           "--emit=ptx";
  if (emulateGpuProfile && !emulateGpu)
    return "--emulate-gpu-profile needs --emulate-gpu";
  if (emit == Emit::PTX && target != Target::CUDA)
    return "--emit=ptx needs --target=cuda";
  if (!gpuTiling.empty() && target != Target::CUDA)
    return "--gpu-tiling needs --target=cuda";
  if (std::string why = moa::gpuLoweringOptionsError(gpuTiling); !why.empty())
    return "invalid --gpu-tiling: " + why;
  for (const std::string &value :
       {cudaChip.getValue(), cudaFeatures.getValue()})
    if (value.empty() || llvm::any_of(value, [](char c) {
          return !(llvm::isAlnum(c) || c == '_' || c == '+' || c == '-' ||
                   c == '.' || c == ',');
        }))
      return "invalid --cuda-chip or --cuda-features value '" + value + "'";
  if (target == Target::CUDA)
    return cudaTargetProblem();
  return "";
}

/// The pre-pipeline, then the target's pipeline.
std::string buildPipeline(PassManager &pm) {
  if (!prePipeline.empty() &&
      failed(parsePassPipeline(prePipeline, pm, llvm::errs())))
    return "cannot parse --pre-pipeline '" + prePipeline + "'";
  if (target != Target::CUDA) {
    if (bufferized)
      moa::buildCPUBufferPipeline(pm);
    else
      moa::buildCPUPipeline(pm);
    return "";
  }
  // gpu-module-to-binary finds ptxas through CUDA_HOME or PATH.
  if (!getenv("CUDA_HOME") && llvm::sys::fs::exists("/usr/local/cuda"))
    setenv("CUDA_HOME", "/usr/local/cuda", 0);
  // sm_90a's GEMMs run on wgmma unless --gpu-tiling says otherwise; the
  // emulator runs what the chip would.
  std::string loweringOptions = gpuTiling;
  if (cudaChip == "sm_90a" &&
      StringRef(gpuTiling).find("warpgroup-mma") == StringRef::npos)
    loweringOptions += " warpgroup-mma=1";
  if (emulateGpu)
    moa::test::buildCUDAEmulatorPipeline(pm, loweringOptions,
                                         emulateGpuProfile);
  else
    moa::buildCUDAPipeline(pm, cudaChip, cudaFeatures,
                           emit == Emit::PTX ? "isa" : "fatbin",
                           loweringOptions);
  return "";
}

/// The lowered module as optimised LLVM IR for the host, or null with
/// `error` set.
std::unique_ptr<llvm::Module>
optimisedLLVMModule(ModuleOp module, llvm::LLVMContext &llvmContext,
                    llvm::TargetMachine &machine, std::string &error) {
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, inputFile);
  if (!llvmModule) {
    error = "translation to LLVM IR failed";
    return nullptr;
  }
  llvmModule->setDataLayout(machine.createDataLayout());
  llvmModule->setTargetTriple(machine.getTargetTriple());
  if (llvm::Error err =
          makeOptimizingTransformer(3, 0, &machine)(llvmModule.get())) {
    error = "LLVM optimisation failed: " + llvm::toString(std::move(err));
    return nullptr;
  }
  return llvmModule;
}

/// Links the object at `objectPath` with the runtime (and MPI for a
/// data-parallel module, `usesMPI`) into the shared library `outputFile`; ""
/// on success.
std::string linkLibrary(llvm::StringRef objectPath, bool usesMPI) {
  auto driver = llvm::sys::findProgramByName(linker);
  if (!driver)
    return "cannot find the linker driver '" + linker + "'";
  std::string rpath = "-Wl,-rpath," + runtimeDir + ":" + openmpDir;
  std::string runtimeLibDir = "-L" + runtimeDir;
  std::string openmpLibDir = "-L" + openmpDir;
  // -Bsymbolic-functions: the module's calls of its own functions (an entry
  // point's C interface calling the entry) bind inside it, whatever the
  // process has loaded before (an entry named `step` reached libc's step()).
  llvm::SmallVector<llvm::StringRef> args = {
      *driver,       "-shared",      "-Wl,-Bsymbolic-functions",
      "-o",          outputFile,     objectPath,
      runtimeLibDir, "-lMoARuntime", openmpLibDir,
      "-lomp",       rpath};
  if (target == Target::CUDA)
    args.push_back(emulateGpu ? "-lMoAGpuEmulator"
                   : mockGpu  ? "-lMoAMockCudaRuntime"
                              : "-lMoACudaRuntime");
  // Loaded with the module (moa-train itself does not need it), even by a
  // GPU module that calls no MPI function itself.
  if (usesMPI)
    args.append({"-Wl,--no-as-needed", "-lmpi"});
  std::string linkError;
  int status = llvm::sys::ExecuteAndWait(*driver, args, std::nullopt, {}, 0, 0,
                                         &linkError);
  if (status != 0)
    return "linking " + outputFile + " failed" +
           (linkError.empty() ? "" : ": " + linkError) +
           (usesMPI ? " (a data-parallel module links Open MPI's libmpi: "
                      "install libopenmpi-dev)"
                    : "");
  return "";
}

/// Writes what --emit asks for of the lowered `module` to `output`.
int emitOutput(ModuleOp module, std::unique_ptr<llvm::ToolOutputFile> output) {
  if (emit == Emit::PTX) {
    // The PTX is the object of each gpu.binary.
    module->walk([&](gpu::BinaryOp binary) {
      for (Attribute object : binary.getObjects())
        output->os() << cast<gpu::ObjectAttr>(object).getObject().getValue();
    });
    output->keep();
    return 0;
  }
  if (emit == Emit::MLIR) {
    module->print(output->os());
    output->keep();
    return 0;
  }

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine = hostTargetMachine(error);
  if (!machine)
    return fail("no code generator for this host: " + error);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      optimisedLLVMModule(module, llvmContext, *machine, error);
  if (!llvmModule)
    return fail(error);
  if (emit == Emit::LLVM) {
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return 0;
  }

  // Object code: into the output, or a temporary file to link.
  llvm::SmallString<128> objectPath(outputFile.getValue());
  std::unique_ptr<llvm::ToolOutputFile> object;
  if (emit == Emit::Lib) {
    int fd;
    if (llvm::sys::fs::createTemporaryFile("moa", "o", fd, objectPath))
      return fail("cannot create a temporary object file");
    object = std::make_unique<llvm::ToolOutputFile>(objectPath, fd);
  } else {
    object = std::move(output);
  }
  // A data-parallel module joins an MPI job through its libmpi, whether it
  // calls MPI itself (CPU) or through the GPU runtime (NCCL's id exchange).
  const bool usesMPI = module->hasAttr(moa::kRanksAttrName);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, object->os(), nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return fail("the target cannot emit object files");
  codegen.run(*llvmModule);
  object->os().flush();
  if (emit == Emit::Obj) {
    object->keep();
    return 0;
  }
  if (std::string linkError = linkLibrary(objectPath, usesMPI);
      !linkError.empty())
    return fail(linkError);
  output->keep();
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  moa::registerAllPasses();
  moa::test::registerTestPasses(); // moa-gpu-emulate, for --emulate-gpu
  cl::HideUnrelatedOptions(moaCategory);
  cl::ParseCommandLineOptions(argc, argv,
                              "moa compiler: MLIR to a shared "
                              "library for the moa runtime\n");
  if (std::string problem = checkOptions(); !problem.empty())
    return fail(problem);
  if (outputFile.empty())
    outputFile = defaultOutput();
  if (runtimeDir.empty()) {
    llvm::SmallString<256> dir(llvm::sys::path::parent_path(
        llvm::sys::fs::getMainExecutable(argv[0], (void *)&fail)));
    llvm::sys::path::append(dir, "..", "lib");
    llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
    runtimeDir = dir.str().str();
  }

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  moa::registerAllDialects(registry);
  MLIRContext context(registry);

  std::string error;
  auto input = openInputFile(inputFile, &error);
  if (!input)
    return fail(error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  PassManager pm(&context);
  if (std::string problem = buildPipeline(pm); !problem.empty())
    return fail(problem);
  if (failed(pm.run(*module)))
    return 1;

  auto output = openOutputFile(outputFile, &error);
  if (!output)
    return fail(error);
  return emitOutput(*module, std::move(output));
}
