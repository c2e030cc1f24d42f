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

inline Tensor randomTensor(std::mt19937_64 &rng, DType dtype,
                           std::vector<int64_t> shape, double amplitude,
                           reference::Buffer &values) {
  std::uniform_real_distribution<double> uniform(-amplitude, amplitude);
  Tensor tensor(dtype, std::move(shape));
  values.resize(tensor.numElements());
  for (int64_t i = 0; i < tensor.numElements(); ++i) {
    tensor.set(i, uniform(rng));
    values[i] = tensor.at(i);
  }
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
