//===- MoABase.td - moa dialect definition and attributes --*- tablegen -*-===//
//
// The dialect, its enum attributes and the base class of its ops.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_DIALECT_MOABASE_TD
#define MOA_DIALECT_MOABASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def MoA_Dialect : Dialect {
  let name = "moa";
  let cppNamespace = "::mlir::moa";
  let summary = "Mixture of Attention Heads: routing, dispatch and the MoA layer";
  let description = [{
    The `moa` dialect expresses Mixture of Attention Heads (Zhang et al.,
    EMNLP 2022) at two levels. `moa.mixture_attention` is the whole attention
    sub-layer: a router picks `k` of `E` attention experts per token, each
    expert owns a query and an output projection, all experts share one key
    and one value projection, and the output is the gate-weighted sum of the
    selected heads. `moa-decompose` rewrites it into primitives that are
    usable on their own: `moa.route` (softmax and top-k), `moa.dispatch`
    (group (token, slot) pairs by expert), `moa.grouped_matmul` (ragged
    per-expert matmul with gather on input and scatter or gate-weighted
    combine on output) and `moa.multi_query_attention` (k query slots per
    token over one shared key and value head); the auxiliary losses are
    `moa.load_balancing_loss` and `moa.router_z_loss`.

    All ops work on builtin ranked tensors, and every op but the layer also
    on memrefs (its buffer form, which One-Shot Bufferize produces);
    batch and sequence dimensions may be dynamic. Activations and weights are f32, f16 or bf16; router logits,
    gates and losses are always f32; indices are i32 (or index where they are
    consumed).
  }];
  let useDefaultAttributePrinterParser = 1;

  // Attributes that passes leave on other dialects' ops for later passes:
  // `moa.error_word` marks a function's device error word (a gpu.alloc of
  // memref<1xi32> that kernels write a runtime::FailureCode into and
  // moa-gpu-host-boundary reports), `moa.manifest` is the module's entry
  // point description for the runtime (moa-export-entry-points),
  // `moa.ranks` the number of MPI ranks a data-parallel module expects
  // (moa-data-parallel), `moa.assertion` = [code, message] on the kernel
  // of a host assertion moved to the GPU (moa-lower-to-gpu), whose failure
  // writes that code (kAssertionCodeBase and up) into the error word and
  // which moa-gpu-host-boundary reports with the message. All are checked
  // by the dialect's verifier, as is any other `moa.` attribute.
  let discardableAttrs = (ins
    "::mlir::UnitAttr":$error_word,
    "::mlir::StringAttr":$manifest,
    "::mlir::IntegerAttr":$ranks,
    "::mlir::ArrayAttr":$assertion
  );
  let hasOperationAttrVerify = 1;
}

def MoA_Gating : I32EnumAttr<"Gating", "how router probabilities become gates", [
    I32EnumAttrCase<"SoftmaxTopK", 0, "softmax_topk">,
    I32EnumAttrCase<"TopKSoftmax", 1, "topk_softmax">
  ]> {
  let cppNamespace = "::mlir::moa";
  let genSpecializedAttr = 0;
}

def MoA_GatingAttr : EnumAttr<MoA_Dialect, MoA_Gating, "gating"> {
  let assemblyFormat = "`<` $value `>`";
  let description = [{
    `softmax_topk` (the official MoA convention, the default): softmax over
    all E logits, then the k largest probabilities, not renormalised unless
    `renormalize` is set. `topk_softmax` (JetMoE): the k largest logits, then
    a softmax over those k (always sums to one).
  }];
}

// Every moa op rejects attributes that are neither its own nor namespaced by
// a dialect ("dialect.name"): a misspelled `renormalise` must not silently
// compute something else.
class MoA_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoA_Dialect, mnemonic,
         !listconcat(traits, [NativeOpTrait<"moa::NoStrayAttributes">])>;

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

// The layer op, which moa-decompose removes before any lowering, is on
// tensors only.
def MoA_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def MoA_F32Tensor : RankedTensorOf<[F32]>;
def MoA_MaskTensor : RankedTensorOf<[I1]>;

// The ops lowerings consume work on ranked tensors and, after One-Shot
// Bufferize, on memrefs: the same op on buffers, whose results are fresh
// allocations (dialect/BufferizableOpInterfaceImpl.cpp).
class MoA_ShapedOf<list<Type> types, string elements>
    : AnyTypeOf<[RankedTensorOf<types>, MemRefOf<types>],
                "ranked tensor or memref of " # elements,
                "::mlir::ShapedType">;
def MoA_FloatShaped : MoA_ShapedOf<[F32, F16, BF16], "f32, f16 or bf16 values">;
def MoA_F32Shaped : MoA_ShapedOf<[F32], "f32 values">;
def MoA_MaskShaped : MoA_ShapedOf<[I1], "i1 values">;
def MoA_IndexShaped : MoA_ShapedOf<[I32, Index], "i32 or index values">;
def MoA_I32Shaped : MoA_ShapedOf<[I32], "i32 values">;
def MoA_ScalarF32Shaped
    : AnyTypeOf<[0DTensorOf<[F32]>, MemRefRankOf<[F32], [0]>],
                "0-d tensor or memref of f32", "::mlir::ShapedType">;

/// The base of the ops that work on tensors and on buffers: no memory
/// effects on tensors; on memrefs they read their operands and allocate
/// their results (getBufferFormEffects in MoAOps.cpp).
class MoA_BufferizableOp<string mnemonic, list<Trait> traits = []>
    : MoA_Op<mnemonic, traits # [
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
        NativeOpTrait<"moa::OneShapedForm">]> {
  let extraClassDefinition = [{
    void $cppClass::getEffects(
        ::llvm::SmallVectorImpl<::mlir::SideEffects::EffectInstance<
            ::mlir::MemoryEffects::Effect>> &effects) {
      ::mlir::moa::getBufferFormEffects(getOperation(), effects);
    }
  }];
}

def MoA_TopKAttr : ConfinedAttr<I64Attr, [IntMinValue<1>]>;

#endif // MOA_DIALECT_MOABASE_TD
