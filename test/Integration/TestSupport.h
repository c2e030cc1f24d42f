//===- TestSupport.h - Shared by the integration tests ----------*- C++ -*-===//
//
// Random inputs (rounded to the tensor's dtype; the reference gets the
// rounded values), comparison against the reference, and compiling a module
// text with moa-compile.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_INTEGRATION_TESTSUPPORT_H
#define MOA_TEST_INTEGRATION_TESTSUPPORT_H

#include "MoAReference.h"
#include "runtime/Runtime.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace moa::test {

using runtime::Module;
using runtime::Tensor;

/// Collects failures; `worst` is the largest relative error seen.
class Checker {
public:
  explicit Checker(double tolerance) : tolerance(tolerance) {}

  /// max |actual - expected| / max |expected| <= tolerance.
  void close(const std::string &what, const Tensor &actual,
             const reference::Buffer &expected) {
    if (actual.numElements() != int64_t(expected.size())) {
      fail(what + ": " + std::to_string(actual.numElements()) +
           " elements, expected " + std::to_string(expected.size()));
      return;
    }
    double maxError = 0, maxValue = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      if (std::isnan(actual.at(i))) {
        fail(what + ": NaN at element " + std::to_string(i));
        return;
      }
      maxError = std::max(maxError, std::fabs(actual.at(i) - expected[i]));
      maxValue = std::max(maxValue, std::fabs(expected[i]));
    }
    const double relative = maxError / std::max(maxValue, 1e-30);
    if (!(relative <= tolerance))
      fail(what + ": relative error " + std::to_string(relative));
    worst = std::max(worst, relative);
  }

  /// Bit-identical integers.
  void same(const std::string &what, const Tensor &actual,
            const std::vector<int> &expected) {
    bool ok = actual.numElements() == int64_t(expected.size());
    for (size_t i = 0; ok && i < expected.size(); ++i)
      ok = actual.as<int32_t>()[i] == expected[i];
    if (!ok)
      fail(what + " differ from the reference");
  }

  void fail(const std::string &message) { failures.push_back(message); }

  double tolerance, worst = 0;
  std::vector<std::string> failures;
};

/// Fills `tensor` in place with uniform values in [-amplitude, amplitude],
/// and `values` with the same numbers as they were stored (rounded to the
/// tensor's dtype).
inline void randomize(std::mt19937_64 &rng, Tensor &tensor, double amplitude,
                      reference::Buffer &values) {
  std::uniform_real_distribution<double> uniform(-amplitude, amplitude);
  values.resize(tensor.numElements());
  for (int64_t i = 0; i < tensor.numElements(); ++i) {
    tensor.set(i, uniform(rng));
    values[i] = tensor.at(i);
  }
}

inline Tensor randomTensor(std::mt19937_64 &rng, DType dtype,
                           std::vector<int64_t> shape, double amplitude,
                           reference::Buffer &values) {
  Tensor tensor(dtype, std::move(shape));
  randomize(rng, tensor, amplitude, values);
  return tensor;
}

inline Tensor randomMask(std::mt19937_64 &rng, std::vector<int64_t> shape,
                         double probability, reference::Mask &values) {
  std::bernoulli_distribution coin(probability);
  Tensor tensor(DType::I1, std::move(shape));
  values.resize(tensor.numElements());
  for (int64_t i = 0; i < tensor.numElements(); ++i) {
    values[i] = coin(rng);
    tensor.set(i, values[i]);
  }
  return tensor;
}

inline Tensor intTensor(std::vector<int64_t> shape,
                        const std::vector<int> &values) {
  Tensor tensor(DType::I32, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i)
    tensor.as<int32_t>()[i] = values[i];
  return tensor;
}

inline reference::Buffer toBuffer(const Tensor &t) {
  reference::Buffer b(t.numElements());
  for (int64_t i = 0; i < t.numElements(); ++i)
    b[i] = t.at(i);
  return b;
}

/// "tensor<AxBx...xdtype>".
inline std::string tensorType(const std::vector<std::string> &dims,
                              DType dtype = DType::F32) {
  std::string text = "tensor<";
  for (const std::string &dim : dims)
    text += dim + "x";
  return text + dtypeName(dtype) + ">";
}

/// The attributes moa.route and moa.mixture_attention share.
template <typename LayerConfig>
std::vector<std::string> routingAttributes(const LayerConfig &c) {
  std::vector<std::string> attrs;
  if (c.topkSoftmax)
    attrs.push_back("gating = #moa.gating<topk_softmax>");
  if (c.renormalize)
    attrs.push_back("renormalize");
  return attrs;
}

/// " {a, b}", or nothing for no attributes.
inline void printAttributes(std::ostream &os,
                            const std::vector<std::string> &attrs) {
  if (attrs.empty())
    return;
  os << " {";
  for (size_t i = 0; i < attrs.size(); ++i)
    os << (i ? ", " : "") << attrs[i];
  os << "}";
}

/// @name(x, w_gate, w_query, w_key, w_value, w_out[, memory][, key padding]
/// [, query padding]) -> (y, router logits) with one moa.mixture_attention
/// of the configuration (d, experts, k, h and the flags of LayerTest's and
/// GradientTest's configs); w_gate and the logits are f32.
template <typename LayerConfig>
std::string layerFunction(const LayerConfig &c, const std::string &name,
                          DType dt = DType::F32) {
  const std::string D = std::to_string(c.d), E = std::to_string(c.experts),
                    H = std::to_string(c.h);
  const std::string x = tensorType({"?", "?", D}, dt);
  const std::string wg = tensorType({D, E});
  const std::string wq = tensorType({E, D, H}, dt);
  const std::string wk = tensorType({D, H}, dt);
  const std::string wo = tensorType({E, H, D}, dt);
  const std::string mask = tensorType({"?", "?"}, DType::I1);
  const std::string logits = tensorType({"?", "?", E});
  std::ostringstream os;
  os << "func.func @" << name << "(%x: " << x << ", %wg: " << wg
     << ", %wq: " << wq << ", %wk: " << wk << ", %wv: " << wk
     << ", %wo: " << wo;
  if (c.cross)
    os << ", %mem: " << x;
  if (c.keyPadding)
    os << ", %kpm: " << mask;
  if (c.queryPadding)
    os << ", %qpm: " << mask;
  os << ") -> (" << x << ", " << logits << ") {\n"
     << "  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(" << c.k
     << ")";
  if (c.cross)
    os << " memory(%mem : " << x << ")";
  if (c.keyPadding)
    os << " key_padding_mask(%kpm : " << mask << ")";
  if (c.queryPadding)
    os << " query_padding_mask(%qpm : " << mask << ")";
  std::vector<std::string> attrs = routingAttributes(c);
  if (c.causal)
    attrs.push_back("causal");
  if (c.scale)
    attrs.push_back("scale = " + std::to_string(*c.scale) + " : f32");
  printAttributes(os, attrs);
  os << "\n      : " << x << ", " << wg << ", " << wq << ", " << wk << ", "
     << wk << ", " << wo << "\n  return %y, %l : " << x << ", " << logits
     << "\n}\n";
  return os.str();
}

/// Writes `text` to base.mlir, compiles it to base.so and loads it.
/// `extraArguments` (e.g. "--pre-pipeline=moa-generate-gradients") is added
/// to the moa-compile command line as is.
inline std::unique_ptr<Module>
compileModule(const std::string &compiler, const std::string &base,
              const std::string &text, std::string &error,
              const std::string &extraArguments = "") {
  FILE *f = std::fopen((base + ".mlir").c_str(), "w");
  if (!f) {
    error = "cannot write " + base + ".mlir";
    return nullptr;
  }
  std::fputs(text.c_str(), f);
  std::fclose(f);
  const std::string command =
      "'" + compiler + "' '" + base + ".mlir' -o '" + base + ".so'" +
      (extraArguments.empty() ? "" : " " + extraArguments);
  if (std::system(command.c_str()) != 0) {
    error = "moa-compile failed on " + base + ".mlir";
    return nullptr;
  }
  return Module::load(base + ".so", error);
}

} // namespace moa::test

#endif // MOA_TEST_INTEGRATION_TESTSUPPORT_H
