//===- Kernels.cpp - CPU kernels that lowered moa ops call ----------------===//
//
// The CPU lowering (lowering/LowerToRuntime.cpp) turns each moa primitive into
// a call of one of these functions on memref descriptors (the MLIR C
// interface, `_mlir_ciface_<name>`). All data is f32 (f16/bf16 are converted
// around the call), row-major and contiguous. Plain GEMMs go to OpenBLAS'
// cblas_sgemm; the loops around them run on the runtime's thread pool.
//
//===----------------------------------------------------------------------===//

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "runtime/KernelContext.h"
#include "runtime/KernelFlags.h"
#include "runtime/ThreadPool.h"

#include <cblas.h>
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace moa::runtime;

namespace {
thread_local KernelContext *tlsContext = nullptr;

/// Records the first error of the current call.
void fail(const char *kernel, const std::string &message) {
  if (tlsContext && tlsContext->error.empty())
    tlsContext->error = std::string(kernel) + ": " + message;
}

template <typename T, int N>
bool isContiguous(const StridedMemRefType<T, N> *m) {
  int64_t expected = 1;
  for (int i = N - 1; i >= 0; --i) {
    if (m->sizes[i] > 1 && m->strides[i] != expected)
      return false;
    expected *= m->sizes[i];
  }
  return true;
}

template <typename T, int N> T *begin(StridedMemRefType<T, N> *m) {
  return m->data + m->offset;
}

/// Every buffer a kernel touches must be contiguous (the lowering allocates
/// them so); anything else is reported, never read out of bounds.
template <typename... Memrefs>
bool checkContiguous(const char *kernel, const Memrefs *...memrefs) {
  bool ok = (isContiguous(memrefs) && ...);
  if (!ok)
    fail(kernel, "non-contiguous buffer");
  return ok;
}

bool hasFlag(int64_t flags, KernelFlag flag) {
  return (flags & static_cast<int64_t>(flag)) != 0;
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// log(sum_e exp(row[e])), computed stably in double.
double logSumExp(const float *row, int64_t n) {
  const double maxValue = *std::max_element(row, row + n);
  double z = 0.0;
  for (int64_t e = 0; e < n; ++e)
    z += std::exp(double(row[e]) - maxValue);
  return maxValue + std::log(z);
}

/// Rows per unit of parallel work in the GEMM-based kernels.
constexpr int64_t kTileRows = 128;

/// The kernels parallelise over tiles themselves and call OpenBLAS from
/// several threads at once, so OpenBLAS runs single-threaded (its own
/// threads would spin against ours).
[[maybe_unused]] const bool kSingleThreadedBlas = [] {
  openblas_set_num_threads(1);
  // Activations are allocated and freed on every call (by compiled code and
  // here); above glibc's default 128 KiB threshold each would be a fresh
  // mmap whose pages fault in again every call (7% of a layer's time).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();
} // namespace

namespace moa::runtime {
KernelContext *currentKernelContext() { return tlsContext; }
ScopedKernelContext::ScopedKernelContext(KernelContext *context)
    : previous(tlsContext) {
  tlsContext = context;
}
ScopedKernelContext::~ScopedKernelContext() { tlsContext = previous; }
} // namespace moa::runtime

extern "C" {

/// moa.route: top-k experts and gates per token; ties go to the lower index.
void _mlir_ciface_moa_rt_route(StridedMemRefType<float, 3> *logits,
                               StridedMemRefType<bool, 2> *mask,
                               StridedMemRefType<int32_t, 3> *indices,
                               StridedMemRefType<float, 3> *gates,
                               int64_t flags) {
  const char *kernel = "moa.route";
  if (!checkContiguous(kernel, logits, indices, gates, mask))
    return;
  const int64_t tokens = logits->sizes[0] * logits->sizes[1];
  const int64_t experts = logits->sizes[2];
  const int64_t k = indices->sizes[2];
  const bool topkSoftmax = hasFlag(flags, KernelFlag::TopKSoftmax);
  const bool renormalize = hasFlag(flags, KernelFlag::Renormalize);
  const bool *padded =
      hasFlag(flags, KernelFlag::HasMask) ? begin(mask) : nullptr;
  const float *l = begin(logits);
  int32_t *idx = begin(indices);
  float *g = begin(gates);

  parallelFor(tokens, [&](int64_t firstToken, int64_t endToken) {
    std::vector<char> taken(experts);
    for (int64_t t = firstToken; t < endToken; ++t) {
      const float *row = l + t * experts;
      int32_t *rowIdx = idx + t * k;
      float *rowGates = g + t * k;
      if (padded && padded[t]) {
        std::fill(rowIdx, rowIdx + k, -1);
        std::fill(rowGates, rowGates + k, 0.0f);
        continue;
      }
      // Softmax is monotonic: select on the logits, lower index wins ties.
      std::fill(taken.begin(), taken.end(), 0);
      for (int64_t j = 0; j < k; ++j) {
        int64_t best = -1;
        for (int64_t e = 0; e < experts; ++e)
          if (!taken[e] && (best < 0 || row[e] > row[best]))
            best = e;
        taken[best] = 1;
        rowIdx[j] = static_cast<int32_t>(best);
      }
      // Probabilities over all E (softmax_topk) or over the k (topk_softmax).
      float maxLogit = row[rowIdx[0]];
      float denominator = 0.0f;
      if (topkSoftmax) {
        for (int64_t j = 0; j < k; ++j)
          denominator += std::exp(row[rowIdx[j]] - maxLogit);
      } else {
        for (int64_t e = 0; e < experts; ++e)
          maxLogit = std::max(maxLogit, row[e]);
        for (int64_t e = 0; e < experts; ++e)
          denominator += std::exp(row[e] - maxLogit);
      }
      float selected = 0.0f;
      for (int64_t j = 0; j < k; ++j) {
        rowGates[j] = std::exp(row[rowIdx[j]] - maxLogit) / denominator;
        selected += rowGates[j];
      }
      if (renormalize && selected > 0.0f)
        for (int64_t j = 0; j < k; ++j)
          rowGates[j] /= selected;
    }
  });

  if (tlsContext) {
    std::vector<int64_t> counts(experts, 0);
    for (int64_t p = 0; p < tokens * k; ++p)
      if (idx[p] >= 0)
        ++counts[idx[p]];
    tlsContext->expertCounts.push_back(std::move(counts));
  }
}

/// moa.dispatch: a stable counting sort of the (token, slot) pairs by expert.
void _mlir_ciface_moa_rt_dispatch(StridedMemRefType<int32_t, 3> *indices,
                                  StridedMemRefType<int32_t, 1> *permutation,
                                  StridedMemRefType<int32_t, 1> *offsets) {
  const char *kernel = "moa.dispatch";
  if (!checkContiguous(kernel, indices, permutation, offsets))
    return;
  const int64_t pairs =
      indices->sizes[0] * indices->sizes[1] * indices->sizes[2];
  const int64_t experts = offsets->sizes[0] - 1;
  const int32_t *idx = begin(indices);
  int32_t *perm = begin(permutation);
  int32_t *off = begin(offsets);
  // counts[E] collects the pairs that are not dispatched (index -1).
  std::vector<int64_t> counts(experts + 1, 0);
  for (int64_t p = 0; p < pairs; ++p) {
    int64_t e = idx[p];
    if (e < -1 || e >= experts) {
      fail(kernel, "expert index " + std::to_string(e) + " of pair " +
                       std::to_string(p) + " is outside [-1, " +
                       std::to_string(experts) + ")");
      e = -1;
    }
    ++counts[e < 0 ? experts : e];
  }
  std::vector<int64_t> cursor(experts + 1, 0);
  int64_t start = 0;
  for (int64_t e = 0; e <= experts; ++e) {
    off[e] = static_cast<int32_t>(start);
    cursor[e] = start;
    start += counts[e];
  }
  for (int64_t p = 0; p < pairs; ++p) {
    int64_t e = idx[p];
    e = (e < 0 || e >= experts) ? experts : e;
    perm[cursor[e]++] = static_cast<int32_t>(p);
  }
}

/// moa.grouped_matmul over expert-grouped rows. The dispatched pairs are cut
/// into tiles of at most kTileRows rows of one expert (the per-tile expert
/// map); the threads take tiles, and each gathers its rows and multiplies
/// them by the expert's weight with one single-threaded GEMM. Then every pair
/// (scatter) or token (gate-weighted combine, slots summed in order) reads
/// its product row back: no two threads write the same output row.
/// input [B,T,kin,K] (kin = 1: one row per token), weight [E,K,N],
/// out [B,T,kout,N] (kout = 1 when combining with gates [B,T,k]).
void _mlir_ciface_moa_rt_grouped_matmul(
    StridedMemRefType<float, 4> *input, StridedMemRefType<float, 3> *weight,
    StridedMemRefType<int32_t, 1> *permutation,
    StridedMemRefType<int32_t, 1> *offsets, StridedMemRefType<float, 3> *gates,
    StridedMemRefType<float, 4> *out, int64_t flags) {
  const char *kernel = "moa.grouped_matmul";
  if (!checkContiguous(kernel, input, weight, permutation, offsets, gates, out))
    return;
  const bool combine = hasFlag(flags, KernelFlag::HasGates);
  const int64_t tokens = input->sizes[0] * input->sizes[1];
  const int64_t inSlots = input->sizes[2];
  const int64_t kDim = input->sizes[3];
  const int64_t experts = weight->sizes[0];
  const int64_t nDim = weight->sizes[2];
  const int64_t k = combine ? gates->sizes[2] : out->sizes[2];
  const int64_t pairs = tokens * k;
  float *o = begin(out);
  if (out->sizes[0] * out->sizes[1] != tokens || out->sizes[3] != nDim ||
      weight->sizes[1] != kDim || (inSlots != 1 && inSlots != k) ||
      (combine && gates->sizes[0] * gates->sizes[1] != tokens))
    return fail(kernel, "operand shapes do not agree");
  if (permutation->sizes[0] != pairs || offsets->sizes[0] != experts + 1)
    return fail(kernel, "permutation or offsets do not match the operands");
  const int32_t *perm = begin(permutation);
  const int32_t *off = begin(offsets);
  if (off[0] != 0)
    return fail(kernel, "offsets must start at 0");
  for (int64_t e = 0; e < experts; ++e)
    if (off[e] > off[e + 1] || off[e + 1] > pairs)
      return fail(kernel, "offsets are not a partition of the pairs");
  const int64_t dispatched = off[experts];
  // position[pair] = row of the pair in expert order, -1 if not dispatched.
  std::vector<int64_t> position(pairs, -1);
  for (int64_t r = 0; r < dispatched; ++r) {
    if (perm[r] < 0 || perm[r] >= pairs || position[perm[r]] >= 0)
      return fail(kernel, "permutation is not a permutation of the pairs");
    position[perm[r]] = r;
  }

  struct Tile {
    int64_t expert, first, rows;
  };
  std::vector<Tile> tiles;
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t first = off[e]; first < off[e + 1]; first += kTileRows)
      tiles.push_back(
          {e, first, std::min<int64_t>(kTileRows, off[e + 1] - first)});

  const float *in = begin(input);
  const float *w = begin(weight);
  std::vector<float> products(dispatched * nDim);
  parallelFor(tiles.size(), [&](int64_t firstTile, int64_t endTile) {
    std::vector<float> rows(kTileRows * kDim);
    for (int64_t i = firstTile; i < endTile; ++i) {
      const Tile &tile = tiles[i];
      for (int64_t r = 0; r < tile.rows; ++r) {
        const int64_t pair = perm[tile.first + r];
        const int64_t source = inSlots == 1 ? pair / k : pair;
        std::memcpy(&rows[r * kDim], in + source * kDim, kDim * sizeof(float));
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tile.rows, nDim,
                  kDim, 1.0f, rows.data(), kDim, w + tile.expert * kDim * nDim,
                  nDim, 0.0f, &products[tile.first * nDim], nDim);
    }
  });

  const float *g = combine ? begin(gates) : nullptr;
  parallelFor(combine ? tokens : pairs, [&](int64_t first, int64_t end) {
    for (int64_t i = first; i < end; ++i) {
      float *dst = o + i * nDim;
      std::fill(dst, dst + nDim, 0.0f);
      for (int64_t pair = combine ? i * k : i;
           pair < (combine ? i * k + k : i + 1); ++pair) {
        if (position[pair] < 0)
          continue;
        const float *product = &products[position[pair] * nDim];
        const float gate = combine ? g[pair] : 1.0f;
        for (int64_t c = 0; c < nDim; ++c)
          dst[c] += gate * product[c];
      }
    }
  });
}

/// moa.multi_query_attention. Tiles of kTileRows query rows (token, slot) of
/// one batch: scores = Q K^T for the tile (K and V are shared by the k slots
/// and read once per tile), masked softmax in place, then out = P V. A row
/// with no visible key is all zeros. Causal tiles stop at their last key.
void _mlir_ciface_moa_rt_multi_query_attention(
    StridedMemRefType<float, 4> *query, StridedMemRefType<float, 3> *key,
    StridedMemRefType<float, 3> *value, StridedMemRefType<bool, 2> *mask,
    StridedMemRefType<float, 4> *out, float scale, int64_t flags) {
  const char *kernel = "moa.multi_query_attention";
  if (!checkContiguous(kernel, query, key, value, mask, out))
    return;
  const int64_t batch = query->sizes[0], tLen = query->sizes[1];
  const int64_t k = query->sizes[2], h = query->sizes[3];
  const int64_t sLen = key->sizes[1];
  const bool causal = hasFlag(flags, KernelFlag::Causal);
  const bool *padded =
      hasFlag(flags, KernelFlag::HasMask) ? begin(mask) : nullptr;
  if (key->sizes[0] != batch || value->sizes[0] != batch ||
      value->sizes[1] != sLen || key->sizes[2] != h || value->sizes[2] != h ||
      (padded && (mask->sizes[0] != batch || mask->sizes[1] != sLen)))
    return fail(kernel, "query, key, value and mask shapes do not agree");
  if (!hasFlag(flags, KernelFlag::HasScale))
    scale = 1.0f / std::sqrt(static_cast<float>(h));
  const int64_t rowsPerBatch = tLen * k;
  const int64_t tilesPerBatch = (rowsPerBatch + kTileRows - 1) / kTileRows;

  parallelFor(batch * tilesPerBatch, [&](int64_t firstTile, int64_t endTile) {
    std::vector<float> scores(kTileRows * sLen);
    for (int64_t tile = firstTile; tile < endTile; ++tile) {
      const int64_t b = tile / tilesPerBatch;
      const int64_t firstRow = (tile % tilesPerBatch) * kTileRows;
      const int64_t rows = std::min(kTileRows, rowsPerBatch - firstRow);
      const int64_t lastToken = (firstRow + rows - 1) / k;
      const int64_t keys = causal ? std::min(lastToken + 1, sLen) : sLen;
      const float *q = begin(query) + (b * rowsPerBatch + firstRow) * h;
      const float *kb = begin(key) + b * sLen * h;
      const float *vb = begin(value) + b * sLen * h;
      const bool *pad = padded ? padded + b * sLen : nullptr;
      float *o = begin(out) + (b * rowsPerBatch + firstRow) * h;
      if (keys == 0) {
        std::fill(o, o + rows * h, 0.0f);
        continue;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, h, scale,
                  q, h, kb, h, 0.0f, scores.data(), keys);
      for (int64_t r = 0; r < rows; ++r) {
        float *row = &scores[r * keys];
        const int64_t t = (firstRow + r) / k;
        const int64_t visible = causal ? std::min(t + 1, keys) : keys;
        float maxScore = kNegInf;
        for (int64_t s = 0; s < visible; ++s)
          if (!pad || !pad[s])
            maxScore = std::max(maxScore, row[s]);
        if (maxScore == kNegInf) {
          std::fill(row, row + keys, 0.0f);
          continue;
        }
        float sum = 0.0f;
        for (int64_t s = 0; s < keys; ++s) {
          const bool keep = s < visible && (!pad || !pad[s]);
          row[s] = keep ? std::exp(row[s] - maxScore) : 0.0f;
          sum += row[s];
        }
        const float inverse = 1.0f / sum;
        for (int64_t s = 0; s < keys; ++s)
          row[s] *= inverse;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, h, keys,
                  1.0f, scores.data(), keys, vb, h, 0.0f, o, h);
    }
  });
}

/// moa.load_balancing_loss: E * sum_e (P_e / sum P) * (c_e / sum c).
void _mlir_ciface_moa_rt_load_balancing_loss(
    StridedMemRefType<float, 3> *logits, StridedMemRefType<int32_t, 3> *indices,
    StridedMemRefType<bool, 2> *mask, StridedMemRefType<float, 0> *loss,
    int64_t flags) {
  const char *kernel = "moa.load_balancing_loss";
  if (!checkContiguous(kernel, logits, indices, mask))
    return;
  const int64_t tokens = logits->sizes[0] * logits->sizes[1];
  const int64_t experts = logits->sizes[2], k = indices->sizes[2];
  const bool *padded =
      hasFlag(flags, KernelFlag::HasMask) ? begin(mask) : nullptr;
  const float *l = begin(logits);
  const int32_t *idx = begin(indices);
  std::vector<double> prob(experts, 0.0), count(experts, 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    if (padded && padded[t])
      continue;
    const float *row = l + t * experts;
    const double lse = logSumExp(row, experts);
    for (int64_t e = 0; e < experts; ++e)
      prob[e] += std::exp(double(row[e]) - lse);
    for (int64_t j = 0; j < k; ++j)
      if (idx[t * k + j] >= 0 && idx[t * k + j] < experts)
        count[idx[t * k + j]] += 1.0;
  }
  double probTotal = 0.0, countTotal = 0.0, sum = 0.0;
  for (int64_t e = 0; e < experts; ++e) {
    probTotal += prob[e];
    countTotal += count[e];
  }
  if (probTotal > 0.0 && countTotal > 0.0)
    for (int64_t e = 0; e < experts; ++e)
      sum += (prob[e] / probTotal) * (count[e] / countTotal);
  *begin(loss) = static_cast<float>(experts * sum);
}

/// moa.router_z_loss: mean over tokens of logsumexp(logits)^2.
void _mlir_ciface_moa_rt_router_z_loss(StridedMemRefType<float, 3> *logits,
                                       StridedMemRefType<bool, 2> *mask,
                                       StridedMemRefType<float, 0> *loss,
                                       int64_t flags) {
  const char *kernel = "moa.router_z_loss";
  if (!checkContiguous(kernel, logits, mask))
    return;
  const int64_t tokens = logits->sizes[0] * logits->sizes[1];
  const int64_t experts = logits->sizes[2];
  const bool *padded =
      hasFlag(flags, KernelFlag::HasMask) ? begin(mask) : nullptr;
  const float *l = begin(logits);
  double total = 0.0;
  int64_t counted = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    if (padded && padded[t])
      continue;
    const double lse = logSumExp(l + t * experts, experts);
    total += lse * lse;
    ++counted;
  }
  *begin(loss) = counted ? static_cast<float>(total / counted) : 0.0f;
}

/// A row projection out[b,t,:] = init[b,t,:] + x[b,t,:] w (linalg.contract
/// with maps (b,t,n,c) -> (b,t,c), (c,n), (b,t,n)): a GEMM split by rows.
void _mlir_ciface_moa_rt_project_rows(StridedMemRefType<float, 3> *x,
                                      StridedMemRefType<float, 2> *w,
                                      StridedMemRefType<float, 3> *init,
                                      StridedMemRefType<float, 3> *out) {
  const char *kernel = "linalg.contract";
  if (!checkContiguous(kernel, x, w, init, out))
    return;
  const int64_t rows = x->sizes[0] * x->sizes[1];
  const int64_t kDim = x->sizes[2], nDim = w->sizes[1];
  if (w->sizes[0] != kDim || out->sizes[0] * out->sizes[1] != rows ||
      out->sizes[2] != nDim)
    return fail(kernel, "operand shapes do not agree");
  const float *a = begin(x), *b = begin(w), *c = begin(init);
  float *o = begin(out);
  // One GEMM per tile, so results do not depend on how tiles meet threads.
  parallelFor((rows + kTileRows - 1) / kTileRows,
              [&](int64_t firstTile, int64_t endTile) {
                for (int64_t tile = firstTile; tile < endTile; ++tile) {
                  const int64_t first = tile * kTileRows;
                  const int64_t count = std::min(kTileRows, rows - first);
                  std::memcpy(o + first * nDim, c + first * nDim,
                              count * nDim * sizeof(float));
                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, count,
                              nDim, kDim, 1.0f, a + first * kDim, kDim, b, nDim,
                              1.0f, o + first * nDim, nDim);
                }
              });
}

} // extern "C"
