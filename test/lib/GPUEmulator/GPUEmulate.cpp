//===- GPUEmulate.cpp - Outlined GPU kernels as host code -----------------===//
//
// For testing the kernels on machines without a GPU: every gpu.func becomes
// a host function of (block, thread, kernel arguments, shared buffers), every
// launch a loop over blocks whose threads are the threads of one OpenMP
// parallel region (one OS thread each); shared buffers (attributions,
// workgroup globals, dynamic shared memory of the launch's size) are host
// buffers placed in a block-wide window of GPU addresses; the GPU-only
// operations (barrier, shuffle, mma.sync, ldmatrix, cp.async and its
// groups) calls into test/lib/GPUEmulator/GpuEmulator.cpp. nvgpu ops are
// emulated as written (before convert-nvgpu-to-nvvm), nvvm.mma.sync as the bf16
// kernels emit it. Host gpu.alloc/memcpy/memset/dealloc become their memref
// counterparts.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/common/LoopEmitter.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "test/lib/GPUEmulator/Passes.h"

namespace mlir::moa::test {
#define GEN_PASS_DEF_MOAGPUEMULATE
#include "test/lib/GPUEmulator/Passes.h.inc"
} // namespace mlir::moa::test

using namespace mlir;
using namespace mlir::moa;

namespace {

/// Device and shared buffers are aligned as cudaMalloc's are, so that the
/// profile's sectors and banks are the GPU's.
constexpr int64_t kDeviceAlignment = 256;

/// Leading arguments of an emulated kernel: block x, block y, thread, grid
/// x, grid y, block size.
constexpr unsigned kIdArguments = 6;

MemRefType withoutAddressSpace(Type type) {
  auto memref = cast<MemRefType>(type);
  return MemRefType::get(memref.getShape(), memref.getElementType(),
                         memref.getLayout());
}

/// The type of an emulated kernel's value: shared memory is host memory;
/// tensor maps, mbarrier groups and wgmma descriptors are i64 handles; a
/// warpgroup accumulator is the thread's fragment, (M / 64) x (N / 2) f32
/// (wgmma-64N16-D per m64 tile).
Type emulatedType(Type type) {
  MLIRContext *context = type.getContext();
  if (auto memref = dyn_cast<MemRefType>(type))
    return memref.getMemorySpace() ? withoutAddressSpace(memref) : type;
  if (isa<nvgpu::TensorMapDescriptorType, nvgpu::MBarrierGroupType,
          nvgpu::WarpgroupMatrixDescriptorType>(type))
    return IntegerType::get(context, 64);
  if (auto acc = dyn_cast<nvgpu::WarpgroupAccumulatorType>(type)) {
    VectorType matrix = acc.getFragmented();
    return VectorType::get(
        {matrix.getDimSize(0) / 64 * (matrix.getDimSize(1) / 2)},
        matrix.getElementType());
  }
  return type;
}

/// Gives the emulated kernel's values their emulated types: views of shared
/// memory, and the Hopper values left (arguments, loop-carried
/// accumulators).
void retypeHopperValues(func::FuncOp function) {
  auto retype = [](Value v) { v.setType(emulatedType(v.getType())); };
  function.walk([&](Operation *op) {
    for (Value result : op->getResults())
      retype(result);
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument arg : block.getArguments())
          retype(arg);
  });
  // The emulation's stand-ins for values it had yet to replace.
  function.walk([](UnrealizedConversionCastOp cast) {
    if (cast->getNumOperands() == 1 && cast->getNumResults() == 1 &&
        cast.getOperand(0).getType() == cast.getResult(0).getType()) {
      cast.getResult(0).replaceAllUsesWith(cast.getOperand(0));
      cast->erase();
    }
  });
}

/// Calls the emulator's `name` (declared on first use) and returns its
/// result, if any.
Value callEmulator(OpBuilder &b, Location loc, ModuleOp module, StringRef name,
                   TypeRange results, ValueRange operands) {
  auto callee = module.lookupSymbol<func::FuncOp>(name);
  if (!callee) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    callee = func::FuncOp::create(
        b, loc, name,
        b.getFunctionType(
            llvm::map_to_vector(operands.getTypes(), emulatedType), results));
    callee.setPrivate();
  }
  auto call = func::CallOp::create(b, loc, callee, operands);
  return results.empty() ? Value() : call.getResult(0);
}

Value i32Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 32);
}
Value i64Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 64);
}
Value toI64(OpBuilder &b, Location loc, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
}

struct MoAGPUEmulatePass
    : public mlir::moa::test::impl::MoAGPUEmulateBase<MoAGPUEmulatePass> {
  using MoAGPUEmulateBase::MoAGPUEmulateBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    DenseMap<Operation *, func::FuncOp> emulated;
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
    for (gpu::LaunchFuncOp launch : launches) {
      auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
          launch, launch.getKernel());
      if (!kernel || launch.getAsyncToken()) {
        launch.emitError("moa-gpu-emulate needs synchronous launches of "
                         "gpu.func kernels in the module");
        return signalPassFailure();
      }
      func::FuncOp &function = emulated[kernel];
      if (!function && !(function = emulateKernel(kernel)))
        return signalPassFailure();
      replaceLaunch(launch, function, kernel);
    }
    if (failed(replaceHostOps()))
      return signalPassFailure();
    for (auto gpuModule :
         llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>()))
      gpuModule.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }

  /// The kernel as func.func @__moa_emu_<module>_<kernel>.
  func::FuncOp emulateKernel(gpu::GPUFuncOp kernel) {
    ModuleOp module = getOperation();
    Location loc = kernel.getLoc();
    if (!kernel.getBody().hasOneBlock() ||
        !kernel.getPrivateAttributions().empty()) {
      kernel.emitError("moa-gpu-emulate handles single-block kernels without "
                       "private buffers");
      return nullptr;
    }
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    Type index = b.getIndexType();
    SmallVector<Type> types(kIdArguments, index);
    llvm::append_range(types, kernel.getArgumentTypes());
    SmallVector<SharedDecl> shared = sharedBuffersOf(kernel);
    for (const SharedDecl &buffer : shared)
      types.push_back(buffer.type);
    auto parent = kernel->getParentOfType<gpu::GPUModuleOp>();
    auto function = func::FuncOp::create(
        b, loc,
        ("__moa_emu_" + parent.getName() + "_" + kernel.getName()).str(),
        b.getFunctionType(types, {}));
    function.setPrivate();
    Block *entry = function.addEntryBlock();
    IRMapping mapping;
    Block &body = kernel.getBody().front();
    for (auto [i, arg] : llvm::enumerate(body.getArguments()))
      mapping.map(arg, entry->getArgument(kIdArguments + i));
    b.setInsertionPointToStart(entry);
    Value bx = entry->getArgument(0), by = entry->getArgument(1),
          tid = entry->getArgument(2), gx = entry->getArgument(3),
          gy = entry->getArgument(4), bdim = entry->getArgument(5);
    callEmulator(b, loc, module, "moa_emu_thread_begin", {},
                 {arith::IndexCastOp::create(b, loc, b.getI64Type(), tid)});
    for (Operation &op : body)
      b.clone(op, mapping);
    replaceSharedMemory(function, shared,
                        kIdArguments + kernel.getNumArguments());
    // Plain stores, which the profile sees as the kernel's.
    SmallVector<nvgpu::WarpgroupMmaStoreOp> stores;
    function.walk([&](nvgpu::WarpgroupMmaStoreOp op) { stores.push_back(op); });
    for (nvgpu::WarpgroupMmaStoreOp store : stores) {
      b.setInsertionPoint(store);
      emulateWgmmaStore(b, store, entry->getArgument(2));
      store->erase();
    }
    b.setInsertionPointToEnd(entry);
    if (profile) {
      countInstructions(function);
      instrument(function, kIdArguments + kernel.getNumArguments(), tid);
    }

    expandAccumulatorCasts(b, function);

    // The GPU-only operations, in the clone, last first: an async-copy
    // group goes before the copies it names.
    SmallVector<Operation *> gpuOps;
    function.walk([&](Operation *op) {
      if (isa<gpu::GPUDialect, NVVM::NVVMDialect, nvgpu::NVGPUDialect>(
              op->getDialect()))
        gpuOps.push_back(op);
    });
    ThreadIds ids{bx, by, tid, gx, gy, bdim, Value(), Value()};
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(entry);
      ids.zero = arith::ConstantIndexOp::create(b, loc, 0);
      ids.one = arith::ConstantIndexOp::create(b, loc, 1);
    }
    for (Operation *op : llvm::reverse(gpuOps)) {
      b.setInsertionPoint(op);
      if (failed(emulateOp(b, op, ids)))
        return nullptr;
      op->erase();
    }
    // Last, as the emulation of an op reads the nvgpu types of its operands.
    retypeHopperValues(function);
    function.setFunctionType(b.getFunctionType(entry->getArgumentTypes(), {}));
    return function;
  }

  /// hopper::fragment's and hopper::accumulator's casts between a wgmma
  /// accumulator and nvgpu-to-nvvm's struct of it (a member per m64 tile)
  /// as element moves from and to the emulated fragment.
  static void expandAccumulatorCasts(OpBuilder &b, func::FuncOp function) {
    SmallVector<UnrealizedConversionCastOp> casts;
    function.walk([&](UnrealizedConversionCastOp op) {
      if (op->getNumOperands() == 1 && op->getNumResults() == 1 &&
          (isa<LLVM::LLVMStructType>(op.getOperand(0).getType()) ||
           isa<LLVM::LLVMStructType>(op.getResult(0).getType())))
        casts.push_back(op);
    });
    for (UnrealizedConversionCastOp op : casts) {
      b.setInsertionPoint(op);
      Location loc = op.getLoc();
      Value in = op.getOperand(0);
      Type out = op.getResult(0).getType();
      auto structType = dyn_cast<LLVM::LLVMStructType>(out);
      if (!structType)
        structType = cast<LLVM::LLVMStructType>(in.getType());
      // (member, position) pairs in fragment order.
      SmallVector<std::array<int64_t, 2>> positions;
      for (auto [m, member] : llvm::enumerate(structType.getBody()))
        for (size_t i = 0;
             i < cast<LLVM::LLVMStructType>(member).getBody().size(); ++i)
          positions.push_back({int64_t(m), int64_t(i)});
      Value replacement;
      if (out == structType) {
        Value fragment = asEmulated(b, loc, in);
        replacement = LLVM::UndefOp::create(b, loc, structType);
        for (auto [i, at] : llvm::enumerate(positions))
          replacement = LLVM::InsertValueOp::create(
              b, loc, replacement,
              vector::ExtractOp::create(b, loc, fragment, int64_t(i)), at);
      } else {
        SmallVector<Value> elements;
        for (std::array<int64_t, 2> at : positions)
          elements.push_back(LLVM::ExtractValueOp::create(b, loc, in, at));
        Value fragment = vector::FromElementsOp::create(
            b, loc, cast<VectorType>(emulatedType(out)), elements);
        replacement = UnrealizedConversionCastOp::create(b, loc, out, fragment)
                          .getResult(0);
      }
      op.getResult(0).replaceAllUsesWith(replacement);
      op->erase();
    }
  }

  /// A shared buffer of a block: a workgroup attribution, or a
  /// workgroup-space memref.global the kernel takes by memref.get_global
  /// (static shared memory as upstream's lowerings declare it), with its
  /// alignment (0: none declared).
  struct SharedDecl {
    MemRefType type;
    int64_t alignment;
    StringAttr global;
    /// The kernel's dynamic shared memory (gpu.dynamic_shared_memory), of
    /// the size its launches give.
    bool dynamic = false;
  };

  static bool isWorkgroup(MemRefType type) {
    if (auto space =
            dyn_cast_or_null<gpu::AddressSpaceAttr>(type.getMemorySpace()))
      return space.getValue() == gpu::AddressSpace::Workgroup;
    return type.getMemorySpaceAsInt() == 3;
  }

  /// The attributions, then the workgroup globals in order of first use,
  /// then the dynamic shared memory (after the static, as on the GPU).
  static SmallVector<SharedDecl> sharedBuffersOf(gpu::GPUFuncOp kernel) {
    SmallVector<SharedDecl> buffers;
    for (auto [i, buffer] :
         llvm::enumerate(kernel.getWorkgroupAttributions())) {
      auto align =
          dyn_cast_or_null<IntegerAttr>(kernel.getWorkgroupAttributionAttr(
              i, LLVM::LLVMDialect::getAlignAttrName()));
      buffers.push_back({withoutAddressSpace(buffer.getType()),
                         align ? align.getInt() : 0, StringAttr()});
    }
    kernel.walk([&](memref::GetGlobalOp get) {
      StringAttr name = get.getNameAttr().getAttr();
      if (!isWorkgroup(get.getType()) ||
          llvm::any_of(buffers,
                       [&](const SharedDecl &d) { return d.global == name; }))
        return;
      auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
          get, get.getNameAttr());
      std::optional<uint64_t> align =
          global ? global.getAlignment() : std::nullopt;
      buffers.push_back({withoutAddressSpace(get.getType()),
                         int64_t(align.value_or(0)), name});
    });
    if (kernel
            .walk([](gpu::DynamicSharedMemoryOp) {
              return WalkResult::interrupt();
            })
            .wasInterrupted())
      buffers.push_back(
          {MemRefType::get({ShapedType::kDynamic},
                           IntegerType::get(kernel.getContext(), 8)),
           0, StringAttr(), /*dynamic=*/true});
    return buffers;
  }

  /// The emulated kernel's workgroup globals and dynamic shared memory are
  /// its shared-buffer arguments (`shared`'s, from argument `first` on);
  /// casts between shared address spaces go (the emulation has none), and
  /// the address of a shared buffer is its place in the block's window.
  void replaceSharedMemory(func::FuncOp function, ArrayRef<SharedDecl> shared,
                           unsigned first) {
    function.walk([&](memref::GetGlobalOp get) {
      for (auto [i, decl] : llvm::enumerate(shared))
        if (decl.global && decl.global == get.getNameAttr().getAttr()) {
          get.getResult().replaceAllUsesWith(function.getArgument(first + i));
          get->erase();
          return;
        }
    });
    function.walk([&](gpu::DynamicSharedMemoryOp op) {
      auto decl =
          llvm::find_if(shared, [](const SharedDecl &d) { return d.dynamic; });
      op.getResult().replaceAllUsesWith(
          function.getArgument(first + (decl - shared.begin())));
      op->erase();
    });
    function.walk([&](memref::MemorySpaceCastOp cast) {
      cast.getResult().replaceAllUsesWith(cast.getSource());
      cast->erase();
    });
    function.walk([&](memref::ExtractAlignedPointerAsIndexOp op) {
      if (!isShared(op.getSource(), function, first).value_or(false))
        return;
      OpBuilder b(op->getContext());
      b.setInsertionPointAfter(op);
      Location loc = op.getLoc();
      Value host = toI64(b, loc, op.getResult());
      Value window =
          callEmulator(b, loc, getOperation(), "moa_emu_shared_window",
                       {b.getI64Type()}, {host});
      op.getResult().replaceAllUsesExcept(
          arith::IndexCastOp::create(b, loc, b.getIndexType(), window),
          host.getDefiningOp());
    });
  }

  /// Whether `memref` is (a view of) one of `function`'s shared buffers,
  /// its arguments from `firstShared` on; nullopt if it is neither those
  /// nor a kernel argument (a buffer of the thread's own).
  static std::optional<bool> isShared(Value memref, func::FuncOp function,
                                      unsigned firstShared) {
    while (auto view = memref.getDefiningOp<ViewLikeOpInterface>())
      memref = view.getViewSource();
    auto arg = dyn_cast<BlockArgument>(memref);
    if (!arg || arg.getOwner() != &function.getBody().front())
      return std::nullopt;
    return arg.getArgNumber() >= firstShared;
  }

  /// Bytes of a value of `type` in memory (an element of a memref of
  /// `type`; index as 64 bits).
  static int64_t byteSize(Type type) {
    if (auto shaped = dyn_cast<ShapedType>(type))
      return shaped.getNumElements() * byteSize(shaped.getElementType());
    if (type.isIndex())
      return 8;
    return (type.getIntOrFloatBitWidth() + 7) / 8;
  }

  /// The profile's classes of a thread's instructions (Profile.cpp's
  /// order), counted on the kernel as the GPU dialect has it, before LLVM
  /// and ptxas: an estimate of the work that is not memory or tensor cores.
  enum InstructionClass {
    Float,
    Integer,
    Special,
    Conversion,
    Shuffle,
    Branch
  };
  static constexpr int kInstructionClasses = 6;

  /// The class of `op`, or none for what needs no instruction of its own
  /// (constants, bitcasts, views, moves between vectors and scalars, index
  /// casts, which the GPU folds into address arithmetic; memory accesses,
  /// mma and barriers are counted apart).
  static std::optional<InstructionClass> classOf(Operation *op) {
    if (isa<math::ExpOp, math::Exp2Op, math::LogOp, math::Log2Op, math::SqrtOp,
            math::RsqrtOp, math::TanhOp, math::PowFOp, math::ErfOp,
            arith::DivFOp>(op))
      return Special; // MUFU (a division is a reciprocal and FMAs)
    // bf16 is the upper half of an f32: compilers widen it by a shift or a
    // byte permute (an integer instruction), not a conversion.
    if (auto extf = dyn_cast<arith::ExtFOp>(op);
        extf && getElementTypeOrSelf(extf.getIn().getType()).isBF16())
      return Integer;
    if (isa<arith::ExtFOp, arith::TruncFOp, arith::SIToFPOp, arith::UIToFPOp,
            arith::FPToSIOp, arith::FPToUIOp>(op))
      return Conversion;
    if (isa<gpu::ShuffleOp>(op))
      return Shuffle;
    if (isa<scf::IfOp>(op))
      return Branch;
    if (isa<arith::ConstantOp, arith::BitcastOp, arith::IndexCastOp,
            arith::IndexCastUIOp>(op) ||
        !isa<arith::ArithDialect, math::MathDialect>(op->getDialect()))
      return std::nullopt;
    bool isFloat = llvm::any_of(op->getOperandTypes(), [](Type type) {
      return isa<FloatType>(getElementTypeOrSelf(type));
    });
    return isFloat ? Float : Integer;
  }

  /// profile: per block of the kernel's body (a loop's body, a branch),
  /// its thread instructions by class, reported each time it ends; a loop
  /// iteration adds its increment, compare and branch.
  void countInstructions(func::FuncOp function) {
    function.walk([&](Block *block) {
      std::array<int64_t, kInstructionClasses> counts{};
      for (Operation &op : *block)
        if (std::optional<InstructionClass> c = classOf(&op)) {
          auto vector = op.getNumResults() == 1
                            ? dyn_cast<VectorType>(op.getResult(0).getType())
                            : VectorType();
          counts[*c] += vector ? vector.getNumElements() : 1;
        }
      if (isa<scf::ForOp>(block->getParentOp())) {
        counts[Integer] += 2;
        counts[Branch] += 1;
      }
      if (llvm::all_of(counts, [](int64_t n) { return n == 0; }) ||
          !block->mightHaveTerminator())
        return;
      OpBuilder b(block->getTerminator());
      SmallVector<Value> operands;
      for (int64_t n : counts)
        operands.push_back(arith::ConstantIntOp::create(
            b, block->getTerminator()->getLoc(), n, 64));
      call(b, block->getTerminator()->getLoc(), "moa_emu_profile_instructions",
           {}, operands);
    });
  }

  /// profile: a report of each memory access of the kernel (address and
  /// width), each mma.sync and each barrier, made before the GPU-only ops
  /// are emulated (the emulation's own loads are not the kernel's).
  void instrument(func::FuncOp function, unsigned firstShared, Value tid) {
    int32_t site = 0;
    std::vector<std::string> &names = siteNames[function];
    // A site's name: the op, and the innermost loop around it that the
    // lowering named by its location (the GEMMs' "main loop"), else how
    // deep in loops it runs.
    auto nameSite = [&](Operation *op) {
      int depth = 0;
      std::string where;
      for (Operation *parent = op->getParentOp(); parent != function;
           parent = parent->getParentOp()) {
        if (!isa<scf::ForOp>(parent))
          continue;
        ++depth;
        if (auto name = dyn_cast<NameLoc>(parent->getLoc());
            name && where.empty())
          where = name.getName().str();
      }
      if (where.empty())
        where = (Twine(depth) + (depth == 1 ? " loop" : " loops")).str();
      names.push_back((op->getName().getStringRef() + " in " + where).str());
    };
    auto access = [&](OpBuilder &b, Operation *op, bool store, Value memref,
                      ValueRange indices, Value bytes) {
      std::optional<bool> shared = isShared(memref, function, firstShared);
      if (!shared)
        return;
      nameSite(op);
      Location loc = op->getLoc();
      int64_t kind = (*shared ? 2 : 0) + (store ? 1 : 0);
      call(b, loc, "moa_emu_profile_access", {},
           {i32Constant(b, loc, kind), i32Constant(b, loc, site++),
            addressOf(b, loc, memref, indices),
            arith::IndexCastOp::create(b, loc, b.getI64Type(), bytes)});
    };
    auto bytesOf = [](OpBuilder &b, Location loc, Type type) {
      return arith::ConstantIndexOp::create(b, loc, byteSize(type));
    };
    // A vector access is one access of its width when aligned to it, else
    // one per element (what LLVM's NVPTX backend emits for it).
    auto vectorAccess = [&](OpBuilder &b, Operation *op, bool store,
                            Value memref, ValueRange indices, VectorType type,
                            std::optional<uint64_t> alignment) {
      Location loc = op->getLoc();
      const int64_t width = byteSize(type);
      if (alignment.value_or(0) >= uint64_t(width) || type.getRank() != 1)
        return access(b, op, store, memref, indices, bytesOf(b, loc, type));
      SmallVector<Value> at(indices.begin(), indices.end());
      for (int64_t i = 0; i < type.getNumElements(); ++i) {
        at.back() = arith::AddIOp::create(
            b, loc, indices.back(), arith::ConstantIndexOp::create(b, loc, i));
        access(b, op, store, memref, at,
               bytesOf(b, loc, type.getElementType()));
      }
    };
    SmallVector<Operation *> ops;
    function.walk([&](Operation *op) { ops.push_back(op); });
    for (Operation *op : ops) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto load = dyn_cast<memref::LoadOp>(op))
        access(b, op, false, load.getMemref(), load.getIndices(),
               bytesOf(b, loc, load.getType()));
      else if (auto store = dyn_cast<memref::StoreOp>(op))
        access(b, op, true, store.getMemref(), store.getIndices(),
               bytesOf(b, loc, store.getValueToStore().getType()));
      else if (auto load = dyn_cast<vector::LoadOp>(op))
        vectorAccess(b, op, false, load.getBase(), load.getIndices(),
                     load.getVectorType(), load.getAlignment());
      else if (auto store = dyn_cast<vector::StoreOp>(op))
        vectorAccess(b, op, true, store.getBase(), store.getIndices(),
                     store.getVectorType(), store.getAlignment());
      else if (auto load = dyn_cast<nvgpu::LdMatrixOp>(op))
        access(b, op, false, load.getSrcMemref(), load.getIndices(),
               arith::SelectOp::create(
                   b, loc, givesRow(b, loc, tid, load.getNumTiles()),
                   arith::ConstantIndexOp::create(b, loc, 16),
                   arith::ConstantIndexOp::create(b, loc, 0)));
      else if (auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op)) {
        auto [read, total] = copyBytes(b, copy);
        access(b, op, false, copy.getSrc(), copy.getSrcIndices(), read);
        access(b, op, true, copy.getDst(), copy.getDstIndices(), total);
      } else if (auto load = dyn_cast<nvgpu::TmaAsyncLoadOp>(op)) {
        nameSite(op);
        callIf(b, loc, load.getPredicate(), "moa_emu_profile_tma_load",
               withCoordinates(b, load,
                               {i32Constant(b, loc, site++),
                                load.getTensorMapDescriptor()}));
      } else if (auto mma = dyn_cast<nvgpu::WarpgroupMmaOp>(op)) {
        MemRefType a = mma.getDescriptorA().getType().getTensor();
        const int64_t m = a.getDimSize(0), k = a.getDimSize(1),
                      n = mma.getDescriptorB().getType().getTensor().getDimSize(
                          1),
                      bytes = a.getElementTypeBitWidth() / 8;
        // Per thread of the warpgroup: its flops, and A and B once per m64
        // tile (wgmma m64nNk16 reads both).
        call(b, loc, "moa_emu_profile_wgmma", {},
             {i64Constant(b, loc, 2 * m * n * k / 128),
              i64Constant(b, loc, m / 64 * (64 + n) * k * bytes / 128)});
      } else if (isa<nvgpu::MmaSyncOp, NVVM::MmaOp>(op)) {
        call(b, loc, "moa_emu_profile_mma", {}, {});
      } else if (isa<gpu::BarrierOp, NVVM::BarrierOp>(op)) {
        call(b, loc, "moa_emu_profile_barrier", {}, {});
      }
    }
  }

  /// The next mbarrier.create's site: its group is the block's one.
  int64_t mbarrierSites = 0;
  /// profile: the names of each emulated kernel's access sites, by number.
  DenseMap<Operation *, std::vector<std::string>> siteNames;

  /// The emulated function's ids, and index constants 0 and 1.
  struct ThreadIds {
    Value bx, by, tid, gx, gy, bdim, zero, one;
  };

  /// Replaces the results of GPU-only `op` (erased by the caller).
  LogicalResult emulateOp(OpBuilder &b, Operation *op, const ThreadIds &ids) {
    Location loc = op->getLoc();
    auto pick = [&](gpu::Dimension d, Value x, Value y, Value z) {
      return d == gpu::Dimension::x ? x : d == gpu::Dimension::y ? y : z;
    };
    if (auto id = dyn_cast<gpu::ThreadIdOp>(op))
      return replace(op, pick(id.getDimension(), ids.tid, ids.zero, ids.zero));
    if (auto id = dyn_cast<gpu::BlockIdOp>(op))
      return replace(op, pick(id.getDimension(), ids.bx, ids.by, ids.zero));
    if (auto dim = dyn_cast<gpu::BlockDimOp>(op))
      return replace(op, pick(dim.getDimension(), ids.bdim, ids.one, ids.one));
    if (auto dim = dyn_cast<gpu::GridDimOp>(op))
      return replace(op, pick(dim.getDimension(), ids.gx, ids.gy, ids.one));
    if (isa<gpu::ReturnOp>(op)) {
      call(b, loc, "moa_emu_thread_end", {}, {});
      func::ReturnOp::create(b, loc);
      return success();
    }
    if (isa<gpu::BarrierOp>(op))
      return call(b, loc, "moa_emu_barrier", {}, {}), success();
    if (auto named = dyn_cast<NVVM::BarrierOp>(op))
      return emulateNamedBarrier(b, named);
    // The register budget is the compiler's business, not the CPU's.
    if (isa<NVVM::SetMaxRegisterOp>(op))
      return success();
    if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op))
      return emulateShuffle(b, shuffle);
    if (auto mma = dyn_cast<NVVM::MmaOp>(op))
      return emulateMma(b, mma);
    if (auto mma = dyn_cast<nvgpu::MmaSyncOp>(op))
      return emulateMma(b, mma);
    if (auto load = dyn_cast<nvgpu::LdMatrixOp>(op))
      return emulateLdMatrix(b, load, ids.tid);
    if (auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op))
      return emulateAsyncCopy(b, copy);
    if (isa<nvgpu::DeviceAsyncCreateGroupOp>(op))
      return call(b, loc, "moa_emu_async_commit", {}, {}), success();
    if (auto wait = dyn_cast<nvgpu::DeviceAsyncWaitOp>(op)) {
      call(b, loc, "moa_emu_async_wait", {},
           {i32Constant(b, loc, wait.getNumGroups().value_or(0))});
      return success();
    }
    if (isa<nvgpu::NVGPUDialect>(op->getDialect()) ||
        isa<NVVM::WgmmaFenceAlignedOp, NVVM::WgmmaGroupSyncAlignedOp,
            NVVM::WgmmaWaitGroupSyncOp, NVVM::FenceProxyOp>(op))
      return emulateHopperOp(b, op, ids);
    return op->emitError("moa-gpu-emulate cannot run '")
           << op->getName() << "' on the CPU";
  }

  /// bar.sync id, count: the threads that pass barrier `id` (0 without
  /// one) together, `count` of them (the whole block without one).
  LogicalResult emulateNamedBarrier(OpBuilder &b, NVVM::BarrierOp barrier) {
    Location loc = barrier.getLoc();
    if (barrier.getReductionOp())
      return barrier.emitError(
          "moa-gpu-emulate runs barriers without a reduction");
    if (!barrier.getNumberOfThreads())
      return call(b, loc, "moa_emu_barrier", {}, {}), success();
    Value id = barrier.getBarrierId()
                   ? barrier.getBarrierId()
                   : arith::ConstantIntOp::create(b, loc, 0, 32).getResult();
    call(b, loc, "moa_emu_named_barrier", {},
         {id, barrier.getNumberOfThreads()});
    return success();
  }

  /// `v` as the emulator sees it. Ops are emulated last first, so an
  /// operand may still be the nvgpu value an earlier op is yet to replace:
  /// a cast stands for it, an identity once everything is emulated.
  static Value asEmulated(OpBuilder &b, Location loc, Value v) {
    Type type = emulatedType(v.getType());
    if (type == v.getType())
      return v;
    return UnrealizedConversionCastOp::create(b, loc, type, v).getResult(0);
  }

  /// The address of `memref`'s first element, as an i64.
  static Value baseAddress(OpBuilder &b, Location loc, Value memref) {
    SmallVector<Value> zeros(cast<MemRefType>(memref.getType()).getRank(),
                             arith::ConstantIndexOp::create(b, loc, 0));
    return addressOf(b, loc, memref, zeros);
  }

  /// A TMA load's coordinates as i64, padded with zeros to 5 after
  /// `operands`.
  static SmallVector<Value> withCoordinates(OpBuilder &b,
                                            nvgpu::TmaAsyncLoadOp load,
                                            SmallVector<Value> operands) {
    for (Value c : load.getCoordinates())
      operands.push_back(toI64(b, load.getLoc(), c));
    for (size_t i = load.getCoordinates().size(); i < 5; ++i)
      operands.push_back(i64Constant(b, load.getLoc(), 0));
    return operands;
  }

  /// Calls `name` with `operands`, where `predicate` (if any) holds.
  void callIf(OpBuilder &b, Location loc, Value predicate, StringRef name,
              ValueRange operands) {
    if (!predicate) {
      call(b, loc, name, {}, operands);
      return;
    }
    auto branch = scf::IfOp::create(b, loc, predicate, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(branch.thenBlock()->getTerminator());
    call(b, loc, name, {}, operands);
  }

  /// TMA, mbarriers and wgmma (Hopper.cpp); wgmma runs when issued, so its
  /// fences, commits and waits are no-ops, as are proxy fences (the
  /// emulator's shared memory is one coherent host memory).
  LogicalResult emulateHopperOp(OpBuilder &b, Operation *op,
                                const ThreadIds &ids) {
    Location loc = op->getLoc();
    Type i64 = b.getI64Type();
    if (isa<NVVM::WgmmaFenceAlignedOp, NVVM::WgmmaGroupSyncAlignedOp,
            NVVM::WgmmaWaitGroupSyncOp, NVVM::FenceProxyOp,
            nvgpu::TmaPrefetchOp, nvgpu::TmaFenceOp>(op))
      return success();
    if (auto create = dyn_cast<nvgpu::MBarrierCreateOp>(op))
      return replace(
          op,
          call(b, loc, "moa_emu_mbarrier_create", {i64},
               {i64Constant(b, loc, mbarrierSites++),
                i64Constant(b, loc,
                            create.getBarriers().getType().getNumBarriers())}));
    if (auto init = dyn_cast<nvgpu::MBarrierInitOp>(op))
      return callIf(b, loc, init.getPredicate(), "moa_emu_mbarrier_init",
                    {init.getBarriers(), toI64(b, loc, init.getMbarId()),
                     toI64(b, loc, init.getCount())}),
             success();
    if (auto arrive = dyn_cast<nvgpu::MBarrierArriveOp>(op)) {
      call(b, loc, "moa_emu_mbarrier_arrive", {},
           {arrive.getBarriers(), toI64(b, loc, arrive.getMbarId())});
      // The token (the phase arrived on) is for mbarrier.test_wait, which
      // no kernel here uses; nothing may read it.
      if (!arrive.getToken().use_empty())
        return arrive.emitError(
            "moa-gpu-emulate runs mbarrier.arrive only with its token unused");
      return success();
    }
    if (auto arrive = dyn_cast<nvgpu::MBarrierArriveExpectTxOp>(op))
      return callIf(b, loc, arrive.getPredicate(),
                    "moa_emu_mbarrier_arrive_expect_tx",
                    {arrive.getBarriers(), toI64(b, loc, arrive.getMbarId()),
                     toI64(b, loc, arrive.getTxcount())}),
             success();
    if (auto wait = dyn_cast<nvgpu::MBarrierTryWaitParityOp>(op))
      return call(b, loc, "moa_emu_mbarrier_wait_parity", {},
                  {wait.getBarriers(), toI64(b, loc, wait.getMbarId()),
                   arith::ExtUIOp::create(b, loc, i64, wait.getPhaseParity())}),
             success();
    if (auto load = dyn_cast<nvgpu::TmaAsyncLoadOp>(op))
      return emulateTmaLoad(b, load);
    if (auto descriptor = dyn_cast<nvgpu::WarpgroupGenerateDescriptorOp>(op))
      return emulateWgmmaDescriptor(b, descriptor);
    if (auto init = dyn_cast<nvgpu::WarpgroupMmaInitAccumulatorOp>(op)) {
      Type type = emulatedType(init.getType());
      return replace(op,
                     arith::ConstantOp::create(b, loc, b.getZeroAttr(type)));
    }
    if (auto mma = dyn_cast<nvgpu::WarpgroupMmaOp>(op))
      return emulateWgmma(b, mma);
    return op->emitError("moa-gpu-emulate cannot run '")
           << op->getName() << "' on the CPU";
  }

  LogicalResult emulateTmaLoad(OpBuilder &b, nvgpu::TmaAsyncLoadOp load) {
    Location loc = load.getLoc();
    if (load.getMulticastMask() || load.getCoordinates().size() > 5)
      return load.emitError("moa-gpu-emulate runs TMA loads of up to 5 "
                            "dimensions without multicast");
    callIf(
        b, loc, load.getPredicate(), "moa_emu_tma_load",
        withCoordinates(b, load,
                        {load.getTensorMapDescriptor(),
                         baseAddress(b, loc, load.getDst()), load.getBarriers(),
                         toI64(b, loc, load.getMbarId())}));
    return success();
  }

  /// As nvgpu-to-nvvm encodes it: rows of the swizzle span, 8-row groups a
  /// stride of 8 spans apart, blocks of the tensor map's box rows a
  /// leading offset apart.
  LogicalResult
  emulateWgmmaDescriptor(OpBuilder &b,
                         nvgpu::WarpgroupGenerateDescriptorOp descriptor) {
    Location loc = descriptor.getLoc();
    nvgpu::TensorMapDescriptorType map = descriptor.getTensorMap().getType();
    int64_t kind = static_cast<int64_t>(map.getSwizzle());
    int64_t span = 16 << kind; // 32, 64, 128 bytes (none: 16, unemulated)
    return replace(
        descriptor,
        call(b, loc, "moa_emu_wgmma_descriptor", {b.getI64Type()},
             {baseAddress(b, loc, descriptor.getTensor()),
              i64Constant(b, loc, kind),
              i64Constant(b, loc, map.getTensor().getDimSize(0) * span),
              i64Constant(b, loc, 8 * span)}));
  }

  /// nvgpu.warpgroup.mma as nvgpu-to-nvvm expands it: per m64 tile i and
  /// k16 step k one wgmma m64nNk16, A's descriptor advanced by i 64-row
  /// tiles and k 16-element steps along its rows, B's by k 16-row steps.
  LogicalResult emulateWgmma(OpBuilder &b, nvgpu::WarpgroupMmaOp mma) {
    Location loc = mma.getLoc();
    MemRefType a = mma.getDescriptorA().getType().getTensor();
    MemRefType bType = mma.getDescriptorB().getType().getTensor();
    Type element = a.getElementType();
    if (!(element.isF16() || element.isBF16()) ||
        !mma.getMatrixC().getType().getFragmented().getElementType().isF32())
      return mma.emitError("moa-gpu-emulate runs f16/bf16 wgmma with f32 "
                           "accumulators only");
    const int64_t m = a.getDimSize(0), k = a.getDimSize(1),
                  n = bType.getDimSize(1), bytes = 2;
    auto fragment = cast<VectorType>(emulatedType(mma.getType()));
    // The thread's fragment goes through memory to the emulator.
    Value scratch;
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(
          &mma->getParentOfType<func::FuncOp>().getBody().front());
      scratch = memref::AllocaOp::create(
          b, loc, MemRefType::get({fragment.getNumElements()}, b.getF32Type()));
    }
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    vector::StoreOp::create(b, loc, asEmulated(b, loc, mma.getMatrixC()),
                            scratch, zero);
    Value base =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, scratch);
    Value descriptorA = asEmulated(b, loc, mma.getDescriptorA());
    Value descriptorB = asEmulated(b, loc, mma.getDescriptorB());
    for (int64_t i = 0; i < m / 64; ++i) {
      for (int64_t step = 0; step < k / 16; ++step) {
        int64_t advanceA = (16 * step + k * a.getDimSize(1) * i) * bytes >> 4;
        int64_t advanceB = bType.getDimSize(0) * 16 * step * bytes >> 4;
        Value acc = arith::AddIOp::create(
            b, loc, base,
            arith::ConstantIndexOp::create(b, loc, i * (n / 2) * 4));
        call(b, loc, "moa_emu_wgmma", {},
             {arith::AddIOp::create(b, loc, descriptorA,
                                    i64Constant(b, loc, advanceA)),
              arith::AddIOp::create(b, loc, descriptorB,
                                    i64Constant(b, loc, advanceB)),
              i32Constant(b, loc, element.isF16() ? 0 : 1),
              i32Constant(b, loc, mma.getTransposeA().value_or(false)),
              i32Constant(b, loc, mma.getTransposeB().value_or(false)),
              i32Constant(b, loc, n), toI64(b, loc, acc)});
      }
    }
    return replace(mma,
                   vector::LoadOp::create(b, loc, fragment, scratch, zero));
  }

  /// As nvgpu-to-nvvm stores it: thread t (lane l, warp w = t / 32 of the
  /// block) writes d[4 j + 2 h + e] of m64 tile i to row 64 i + 16 w + l / 4
  /// + 8 h, column 8 j + 2 (l % 4) + e.
  void emulateWgmmaStore(OpBuilder &b, nvgpu::WarpgroupMmaStoreOp store,
                         Value tid) {
    Location loc = store.getLoc();
    VectorType matrix = store.getMatrixD().getType().getFragmented();
    const int64_t m = matrix.getDimSize(0), n = matrix.getDimSize(1);
    auto index = [&](int64_t v) {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value lane = arith::RemUIOp::create(b, loc, tid, index(32));
    Value warp = arith::DivUIOp::create(b, loc, tid, index(32));
    Value row0 = arith::AddIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, lane, index(4)),
        arith::MulIOp::create(b, loc, warp, index(16)));
    Value col0 = arith::MulIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, lane, index(4)), index(2));
    Value fragment = asEmulated(b, loc, store.getMatrixD());
    for (int64_t i = 0; i < m / 64; ++i)
      for (int64_t j = 0; j < n / 8; ++j)
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t e = 0; e < 2; ++e) {
            Value v = vector::ExtractOp::create(
                b, loc, fragment, i * (n / 2) + 4 * j + 2 * h + e);
            memref::StoreOp::create(
                b, loc, v, store.getDstMemref(),
                {arith::AddIOp::create(b, loc, row0, index(64 * i + 8 * h)),
                 arith::AddIOp::create(b, loc, col0, index(8 * j + e))});
          }
  }

  static LogicalResult replace(Operation *op, Value value) {
    op->replaceAllUsesWith(ValueRange{value});
    return success();
  }

  Value call(OpBuilder &b, Location loc, StringRef name, TypeRange results,
             ValueRange operands) {
    return callEmulator(b, loc, getOperation(), name, results, operands);
  }

  LogicalResult emulateShuffle(OpBuilder &b, gpu::ShuffleOp shuffle) {
    Location loc = shuffle.getLoc();
    Type type = shuffle.getValue().getType();
    if (!type.isF32() && !type.isInteger(32))
      return shuffle.emitError("moa-gpu-emulate shuffles only f32 and i32");
    Value result = call(
        b, loc, type.isF32() ? "moa_emu_shuffle_f32" : "moa_emu_shuffle_i32",
        {type},
        {shuffle.getValue(), shuffle.getOffset(), shuffle.getWidth(),
         i32Constant(b, loc, static_cast<int64_t>(shuffle.getMode()))});
    shuffle->replaceAllUsesWith(
        ValueRange{result, arith::ConstantIntOp::create(b, loc, 1, 1)});
    return success();
  }

  /// A 32-bit register holding a vector<2xf16|bf16> (or already an i32).
  static Value asI32(OpBuilder &b, Location loc, Value v) {
    if (v.getType().isInteger(32))
      return v;
    Value word = vector::BitCastOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), v);
    return vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0});
  }
  /// The reverse: an i32 as vector<2 x `half`>.
  static Value fromI32(OpBuilder &b, Location loc, Value word, Type half) {
    Value v = vector::FromElementsOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), ValueRange{word});
    return vector::BitCastOp::create(b, loc, VectorType::get({2}, half), v);
  }

  /// One warp-wide m16n8k16 (kind 0 f16, 1 bf16) on 32-bit registers: a 4,
  /// b 2, c 4 f32; returns d.
  SmallVector<Value> callMma(OpBuilder &b, Location loc, int64_t kind,
                             ValueRange a, ValueRange bRegs, ValueRange c) {
    SmallVector<Value> operands = {i32Constant(b, loc, kind)};
    for (Value v : a)
      operands.push_back(asI32(b, loc, v));
    for (Value v : bRegs)
      operands.push_back(asI32(b, loc, v));
    llvm::append_range(operands, c);
    call(b, loc, "moa_emu_mma", {}, operands);
    SmallVector<Value> d;
    for (int64_t i = 0; i < 4; ++i)
      d.push_back(call(b, loc, "moa_emu_mma_result", {b.getF32Type()},
                       {i32Constant(b, loc, i)}));
    return d;
  }

  /// nvvm.mma.sync m16n8k16, f16 or bf16 operands, f32 accumulators; the
  /// result is rebuilt as the struct the op returned.
  LogicalResult emulateMma(OpBuilder &b, NVVM::MmaOp mma) {
    Location loc = mma.getLoc();
    std::optional<NVVM::MMATypes> type = mma.getMultiplicandAPtxType();
    auto shape = mma.getShape();
    if (!type ||
        (*type != NVVM::MMATypes::f16 && *type != NVVM::MMATypes::bf16) ||
        shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16 ||
        mma.getOperandC().size() != 4)
      return mma.emitError("moa-gpu-emulate runs m16n8k16 f16/bf16 mma.sync "
                           "with f32 accumulators only");
    SmallVector<Value> d =
        callMma(b, loc, *type == NVVM::MMATypes::f16 ? 0 : 1, mma.getOperandA(),
                mma.getOperandB(), mma.getOperandC());
    Value result = LLVM::UndefOp::create(b, loc, mma.getType());
    for (auto [i, element] : llvm::enumerate(d))
      result = LLVM::InsertValueOp::create(b, loc, result, element, i);
    mma->replaceAllUsesWith(ValueRange{result});
    return success();
  }

  /// nvgpu.mma.sync m16n8k16: each row of its vector operands is a register.
  LogicalResult emulateMma(OpBuilder &b, nvgpu::MmaSyncOp mma) {
    Location loc = mma.getLoc();
    Type element = mma.getMatrixA().getType().getElementType();
    if (mma.getMmaShapeAsArray() != std::array<int64_t, 3>{16, 8, 16} ||
        !(element.isF16() || element.isBF16()) ||
        !mma.getMatrixC().getType().getElementType().isF32())
      return mma.emitError("moa-gpu-emulate runs m16n8k16 f16/bf16 mma.sync "
                           "with f32 accumulators only");
    auto rows = [&](Value v) {
      SmallVector<Value> result;
      for (int64_t i = 0; i < cast<VectorType>(v.getType()).getDimSize(0); ++i)
        result.push_back(vector::ExtractOp::create(b, loc, v, i));
      return result;
    };
    SmallVector<Value> c;
    for (Value row : rows(mma.getMatrixC()))
      for (int64_t i = 0; i < 2; ++i)
        c.push_back(vector::ExtractOp::create(b, loc, row, i));
    SmallVector<Value> d =
        callMma(b, loc, element.isF16() ? 0 : 1, rows(mma.getMatrixA()),
                rows(mma.getMatrixB()), c);
    Value result = vector::FromElementsOp::create(
        b, loc, cast<VectorType>(mma.getType()), d);
    mma->replaceAllUsesWith(ValueRange{result});
    return success();
  }

  /// The byte address of memref[indices], as an i64.
  static Value addressOf(OpBuilder &b, Location loc, Value memref,
                         ValueRange indices) {
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    Value offset = metadata.getOffset();
    for (auto [index, stride] : llvm::zip(indices, metadata.getStrides()))
      offset = arith::AddIOp::create(
          b, loc, offset, arith::MulIOp::create(b, loc, index, stride));
    int64_t bytes =
        byteSize(cast<MemRefType>(memref.getType()).getElementType());
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    Value address = arith::AddIOp::create(
        b, loc, base,
        arith::MulIOp::create(b, loc, offset,
                              arith::ConstantIndexOp::create(b, loc, bytes)));
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), address);
  }

  /// ldmatrix: lanes 8i..8i+7 give the rows (8 16-bit elements each) of
  /// matrix i; the emulator exchanges them over the warp.
  LogicalResult emulateLdMatrix(OpBuilder &b, nvgpu::LdMatrixOp load,
                                Value tid) {
    Location loc = load.getLoc();
    VectorType type = load.getRes().getType();
    Type element = type.getElementType();
    const int64_t tiles = load.getNumTiles();
    if (element.getIntOrFloatBitWidth() != 16 || type.getRank() != 2 ||
        type.getDimSize(1) != 2 || type.getDimSize(0) != tiles)
      return load.emitError("moa-gpu-emulate runs ldmatrix of 16-bit 8x8 "
                            "matrices only");
    // Lanes past the matrices' rows give no address: they load nothing.
    Value gives = givesRow(b, loc, tid, tiles);
    VectorType words = VectorType::get({4}, b.getI32Type());
    auto row = scf::IfOp::create(b, loc, TypeRange{words}, gives,
                                 /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(row.thenBlock());
      Value elements =
          vector::LoadOp::create(b, loc, VectorType::get({8}, element),
                                 load.getSrcMemref(), load.getIndices());
      scf::YieldOp::create(
          b, loc,
          vector::BitCastOp::create(b, loc, words, elements).getResult());
      b.setInsertionPointToStart(row.elseBlock());
      scf::YieldOp::create(
          b, loc,
          arith::ConstantOp::create(b, loc, b.getZeroAttr(words)).getResult());
    }
    SmallVector<Value> operands = {i32Constant(b, loc, tiles),
                                   i32Constant(b, loc, load.getTranspose())};
    for (int64_t i = 0; i < 4; ++i)
      operands.push_back(
          vector::ExtractOp::create(b, loc, row.getResult(0), i));
    call(b, loc, "moa_emu_ldmatrix", {}, operands);
    SmallVector<Value> registers;
    for (int64_t i = 0; i < tiles; ++i)
      registers.push_back(
          fromI32(b, loc,
                  call(b, loc, "moa_emu_ldmatrix_result", {b.getI32Type()},
                       {i32Constant(b, loc, i)}),
                  element));
    Value result =
        arith::ConstantOp::create(b, loc, b.getZeroAttr(type)).getResult();
    for (auto [i, reg] : llvm::enumerate(registers))
      result = vector::InsertOp::create(b, loc, reg, result, int64_t(i));
    load->replaceAllUsesWith(ValueRange{result});
    return success();
  }

  /// Whether ldmatrix lane `tid` % 32 gives a row address: lanes 8i..8i+7
  /// give the 16-byte rows of matrix i of `tiles`.
  static Value givesRow(OpBuilder &b, Location loc, Value tid, int64_t tiles) {
    Value lane = arith::RemUIOp::create(
        b, loc, tid, arith::ConstantIndexOp::create(b, loc, 32));
    return arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ult, lane,
        arith::ConstantIndexOp::create(b, loc, 8 * tiles));
  }

  /// The bytes a cp.async reads and writes (it zero-fills past what it
  /// reads), as index values.
  static std::pair<Value, Value> copyBytes(OpBuilder &b,
                                           nvgpu::DeviceAsyncCopyOp copy) {
    Location loc = copy.getLoc();
    Value bytesPer = arith::ConstantIndexOp::create(
        b, loc, byteSize(copy.getDst().getType().getElementType()));
    Value total = arith::ConstantIndexOp::create(
        b, loc, copy.getDstElements().getZExtValue());
    Value read = copy.getSrcElements() ? copy.getSrcElements() : total;
    return {arith::MulIOp::create(b, loc, read, bytesPer),
            arith::MulIOp::create(b, loc, total, bytesPer)};
  }

  /// cp.async: queued by the emulator and done when a wait covers its
  /// group, so a kernel that reads before waiting reads stale data.
  LogicalResult emulateAsyncCopy(OpBuilder &b, nvgpu::DeviceAsyncCopyOp copy) {
    Location loc = copy.getLoc();
    auto [read, total] = copyBytes(b, copy);
    auto i64 = [&](Value bytes) { return toI64(b, loc, bytes); };
    call(b, loc, "moa_emu_async_copy", {},
         {addressOf(b, loc, copy.getDst(), copy.getDstIndices()),
          addressOf(b, loc, copy.getSrc(), copy.getSrcIndices()), i64(total),
          i64(read)});
    return success();
  }

  /// for each block: shared buffers, then the block's threads in parallel.
  void replaceLaunch(gpu::LaunchFuncOp launch, func::FuncOp function,
                     gpu::GPUFuncOp kernel) {
    OpBuilder b(launch);
    Location loc = launch.getLoc();
    loops::Emitter e(b, loc);
    Value gx = launch.getGridSizeX(), gy = launch.getGridSizeY();
    Value bdim = launch.getBlockSizeX();
    Value dynamicShared = launch.getDynamicSharedMemorySize();
    if (!dynamicShared)
      dynamicShared = i32Constant(b, loc, 0);
    SmallVector<Value> operands(launch.getKernelOperands());
    if (profile) {
      auto i64 = [&](Value v) { return toI64(b, loc, v); };
      e.call(getOperation(), "moa_emu_profile_launch", /*cInterface=*/true,
             {e.constantText(getOperation(), kernel.getName()), i64(gx),
              i64(gy), i64(bdim),
              arith::ExtUIOp::create(b, loc, b.getI64Type(), dynamicShared)});
      for (auto [site, name] : llvm::enumerate(siteNames[function]))
        e.call(
            getOperation(), "moa_emu_profile_site", /*cInterface=*/true,
            {i64Constant(b, loc, site), e.constantText(getOperation(), name)});
    }
    e.loop(e.idx(0), gx, [&](loops::Emitter &x, Value bx) {
      x.loop(x.idx(0), gy, [&](loops::Emitter &y, Value by) {
        callEmulator(
            y.b, loc, getOperation(), "moa_emu_block_begin", {},
            {arith::IndexCastOp::create(y.b, loc, y.b.getI64Type(), bdim)});
        SmallVector<Value> shared;
        for (const SharedDecl &buffer : sharedBuffersOf(kernel)) {
          auto type = buffer.type;
          int64_t alignment = buffer.alignment;
          Value bytes = i64Constant(y.b, loc, byteSize(type));
          SmallVector<Value, 1> sizes;
          if (buffer.dynamic) {
            bytes = arith::ExtUIOp::create(y.b, loc, y.b.getI64Type(),
                                           dynamicShared);
            sizes.push_back(arith::IndexCastOp::create(
                y.b, loc, y.b.getIndexType(), bytes));
          }
          shared.push_back(memref::AllocOp::create(
              y.b, loc, type, sizes, ValueRange{},
              y.b.getI64IntegerAttr(std::max(kDeviceAlignment, alignment))));
          callEmulator(y.b, loc, getOperation(), "moa_emu_shared_buffer", {},
                       {baseAddress(y.b, loc, shared.back()), bytes,
                        i64Constant(y.b, loc, alignment)});
        }
        // One OpenMP thread per GPU thread, all running at once.
        omp::ParallelOperands clauses;
        clauses.numThreads =
            arith::IndexCastOp::create(y.b, loc, y.b.getI32Type(), bdim);
        auto parallel = omp::ParallelOp::create(y.b, loc, clauses);
        {
          OpBuilder::InsertionGuard guard(y.b);
          y.b.createBlock(&parallel.getRegion());
          Value tid = arith::IndexCastOp::create(
              y.b, loc, y.b.getIndexType(),
              callEmulator(y.b, loc, getOperation(), "moa_emu_thread_index",
                           {y.b.getI64Type()}, {}));
          SmallVector<Value> args = {bx, by, tid, gx, gy, bdim};
          llvm::append_range(args, operands);
          llvm::append_range(args, shared);
          func::CallOp::create(y.b, loc, function, args);
          omp::TerminatorOp::create(y.b, loc);
        }
        for (Value buffer : shared)
          memref::DeallocOp::create(y.b, loc, buffer);
        if (profile)
          callEmulator(y.b, loc, getOperation(), "moa_emu_profile_block_end",
                       {}, {});
      });
    });
    if (profile)
      callEmulator(b, loc, getOperation(), "moa_emu_profile_launch_end", {},
                   {});
    launch.erase();
  }

  /// nvgpu.tma.create.descriptor as the emulator's tensor map of the ranked
  /// memref its unranked operand was cast from.
  LogicalResult replaceTensorMap(OpBuilder &b,
                                 nvgpu::TmaCreateDescriptorOp create) {
    Location loc = create.getLoc();
    auto cast = create.getTensor().getDefiningOp<memref::CastOp>();
    auto ranked =
        cast ? dyn_cast<MemRefType>(cast.getSource().getType()) : MemRefType();
    if (!ranked || ranked.getRank() > 5)
      return create.emitError("moa-gpu-emulate needs the tensor map's memref "
                              "cast from a ranked memref of rank 1 to 5");
    nvgpu::TensorMapDescriptorType map = create.getTensorMap().getType();
    auto metadata =
        memref::ExtractStridedMetadataOp::create(b, loc, cast.getSource());
    SmallVector<Value> operands = {
        i64Constant(b, loc, ranked.getRank()),
        i64Constant(b, loc, byteSize(ranked.getElementType())),
        i64Constant(b, loc, static_cast<int64_t>(map.getSwizzle())),
        i64Constant(b, loc, static_cast<int64_t>(map.getOob())),
        baseAddress(b, loc, cast.getSource())};
    for (ValueRange values :
         {ValueRange(metadata.getSizes()), ValueRange(metadata.getStrides()),
          ValueRange(create.getBoxDimensions())}) {
      for (Value v : values)
        operands.push_back(toI64(b, loc, v));
      for (size_t i = values.size(); i < 5; ++i)
        operands.push_back(i64Constant(b, loc, 1));
    }
    create.getTensorMap().replaceAllUsesWith(
        call(b, loc, "moa_emu_tma_descriptor", {b.getI64Type()}, operands));
    return success();
  }

  /// Host gpu.alloc/dealloc/memcpy/memset/wait as memref and linalg ops.
  LogicalResult replaceHostOps() {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp, gpu::MemsetOp,
              gpu::WaitOp, nvgpu::TmaCreateDescriptorOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto map = dyn_cast<nvgpu::TmaCreateDescriptorOp>(op)) {
        if (failed(replaceTensorMap(b, map)))
          return failure();
        op->erase();
        continue;
      }
      auto async = dyn_cast<gpu::AsyncOpInterface>(op);
      if (async && async.getAsyncToken())
        return op->emitError("moa-gpu-emulate needs synchronous GPU ops");
      if (auto alloc = dyn_cast<gpu::AllocOp>(op)) {
        Value buffer = memref::AllocOp::create(
            b, loc, alloc.getType(), alloc.getDynamicSizes(), ValueRange{},
            b.getI64IntegerAttr(kDeviceAlignment));
        alloc.getMemref().replaceAllUsesWith(buffer);
      } else if (auto dealloc = dyn_cast<gpu::DeallocOp>(op)) {
        memref::DeallocOp::create(b, loc, dealloc.getMemref());
      } else if (auto copy = dyn_cast<gpu::MemcpyOp>(op)) {
        memref::CopyOp::create(b, loc, copy.getSrc(), copy.getDst());
      } else if (auto memset = dyn_cast<gpu::MemsetOp>(op)) {
        linalg::FillOp::create(b, loc, memset.getValue(), memset.getDst());
      }
      op->erase();
    }
    return success();
  }
};

} // namespace
