//===- RuntimeCAPI.cpp - C interface of the moa runtime -------------------===//

#include "runtime/Runtime.h"
#include "runtime/moa_runtime.h"

#include <optional>

using namespace moa;
using namespace moa::runtime;

struct moa_module {
  std::unique_ptr<Module> module;
  std::string manifest; // printed once, for moa_module_manifest
};
struct moa_tensor {
  Tensor tensor;
};
struct moa_run_stats {
  RunStats stats;
};

namespace {
thread_local std::string lastError;

int failWith(std::string message) {
  lastError = std::move(message);
  return 0;
}
} // namespace

extern "C" {

const char *moa_last_error(void) { return lastError.c_str(); }

moa_module *moa_module_load(const char *path) {
  std::string error;
  std::unique_ptr<Module> module = Module::load(path ? path : "", error);
  if (!module) {
    failWith(error);
    return nullptr;
  }
  std::string manifest = module->manifest().print();
  return new moa_module{std::move(module), std::move(manifest)};
}

const char *moa_module_manifest(const moa_module *module) {
  return module->manifest.c_str();
}

void moa_module_destroy(moa_module *module) { delete module; }

size_t moa_module_num_entries(const moa_module *module) {
  return module->module->manifest().entries.size();
}

size_t moa_module_entry_num_arguments(const moa_module *module, size_t i) {
  const auto &entries = module->module->manifest().entries;
  return i < entries.size() ? entries[i].arguments.size() : 0;
}

size_t moa_module_entry_num_results(const moa_module *module, size_t i) {
  const auto &entries = module->module->manifest().entries;
  return i < entries.size() ? entries[i].results.size() : 0;
}

const char *moa_module_entry_name(const moa_module *module, size_t i) {
  const auto &entries = module->module->manifest().entries;
  return i < entries.size() ? entries[i].name.c_str() : nullptr;
}

namespace {
/// The shape as a vector, or nullopt (with the error set) if it is invalid.
std::optional<std::vector<int64_t>>
checkShape(moa_dtype dtype, const int64_t *shape, size_t rank) {
  if (dtype < MOA_F32 || dtype > MOA_I1) {
    failWith("unknown dtype " + std::to_string(int(dtype)));
    return std::nullopt;
  }
  if (rank && !shape) {
    failWith("the shape of a tensor of rank " + std::to_string(rank) +
             " is null");
    return std::nullopt;
  }
  std::vector<int64_t> sizes(shape, shape + rank);
  for (size_t d = 0; d < rank; ++d)
    if (sizes[d] < 0) {
      failWith("negative size " + std::to_string(sizes[d]) + " in dimension " +
               std::to_string(d) + " of a tensor shape");
      return std::nullopt;
    }
  if (!checkedNumElements(sizes)) {
    failWith("tensor shape " + formatShape(sizes) + " is too large");
    return std::nullopt;
  }
  return sizes;
}
} // namespace

moa_tensor *moa_tensor_create(moa_dtype dtype, const int64_t *shape,
                              size_t rank) {
  std::optional<std::vector<int64_t>> sizes = checkShape(dtype, shape, rank);
  if (!sizes)
    return nullptr;
  try {
    return new moa_tensor{Tensor(static_cast<DType>(dtype), *sizes)};
  } catch (const std::bad_alloc &) {
    failWith("out of memory for a tensor of that shape");
    return nullptr;
  }
}

moa_tensor *moa_tensor_wrap(moa_dtype dtype, const int64_t *shape, size_t rank,
                            void *data) {
  std::optional<std::vector<int64_t>> sizes = checkShape(dtype, shape, rank);
  if (!sizes)
    return nullptr;
  if (!data) {
    failWith("moa_tensor_wrap: the data pointer is null");
    return nullptr;
  }
  return new moa_tensor{
      Tensor::borrow(static_cast<DType>(dtype), std::move(*sizes), data)};
}

void moa_tensor_destroy(moa_tensor *tensor) { delete tensor; }
void *moa_tensor_data(moa_tensor *tensor) { return tensor->tensor.data(); }
moa_dtype moa_tensor_dtype(const moa_tensor *tensor) {
  return static_cast<moa_dtype>(tensor->tensor.dtype());
}
size_t moa_tensor_rank(const moa_tensor *tensor) {
  return tensor->tensor.shape().size();
}
const int64_t *moa_tensor_shape(const moa_tensor *tensor) {
  return tensor->tensor.shape().data();
}

int moa_module_has_device(const moa_module *module) {
  return module->module->device() != nullptr;
}

int moa_tensor_is_on_device(const moa_tensor *tensor) {
  return tensor->tensor.isOnDevice();
}

moa_tensor *moa_tensor_upload(const moa_module *module,
                              const moa_tensor *host) {
  Tensor device;
  std::string error;
  if (!module->module->upload(host->tensor, device, error)) {
    failWith("moa_tensor_upload: " + error);
    return nullptr;
  }
  return new moa_tensor{std::move(device)};
}

moa_tensor *moa_tensor_download(const moa_module *module,
                                const moa_tensor *device) {
  Tensor host;
  std::string error;
  try {
    if (!module->module->download(device->tensor, host, error)) {
      failWith("moa_tensor_download: " + error);
      return nullptr;
    }
  } catch (const std::bad_alloc &) {
    failWith("moa_tensor_download: out of host memory");
    return nullptr;
  }
  return new moa_tensor{std::move(host)};
}

int moa_module_run(const moa_module *module, const char *entry,
                   moa_tensor *const *inputs, size_t num_inputs,
                   moa_tensor **outputs, size_t max_outputs,
                   size_t *num_outputs) {
  moa_run_stats ignored;
  return moa_module_run_with_stats(module, entry, inputs, num_inputs, outputs,
                                   max_outputs, num_outputs, &ignored);
}

int moa_module_run_with_stats(const moa_module *module, const char *entry,
                              moa_tensor *const *inputs, size_t num_inputs,
                              moa_tensor **outputs, size_t max_outputs,
                              size_t *num_outputs, moa_run_stats *stats) {
  if (!module || !entry || (num_inputs && !inputs) || !num_outputs ||
      (max_outputs && !outputs) || !stats)
    return failWith("moa_module_run: a required pointer is null");
  const EntrySpec *spec = module->module->findEntry(entry);
  if (spec && spec->results.size() > max_outputs)
    return failWith("entry '" + std::string(entry) + "' has " +
                    std::to_string(spec->results.size()) +
                    " results, room for " + std::to_string(max_outputs));
  std::vector<const Tensor *> in;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!inputs[i])
      return failWith("moa_module_run: input " + std::to_string(i) +
                      " is null");
    in.push_back(&inputs[i]->tensor);
  }
  std::vector<Tensor> out;
  std::string error;
  try {
    if (!module->module->run(entry, in, out, error, &stats->stats))
      return failWith(error);
    for (size_t i = 0; i < out.size(); ++i)
      outputs[i] = new moa_tensor{std::move(out[i])};
  } catch (const std::bad_alloc &) {
    return failWith("out of memory running '" + std::string(entry) + "'");
  }
  *num_outputs = out.size();
  return 1;
}

moa_run_stats *moa_run_stats_create(void) { return new moa_run_stats(); }
void moa_run_stats_destroy(moa_run_stats *stats) { delete stats; }

size_t moa_run_stats_num_routes(const moa_run_stats *stats) {
  return stats->stats.expertCounts.size();
}

size_t moa_run_stats_num_experts(const moa_run_stats *stats, size_t route) {
  const auto &counts = stats->stats.expertCounts;
  return route < counts.size() ? counts[route].size() : 0;
}

const int64_t *moa_run_stats_expert_counts(const moa_run_stats *stats,
                                           size_t route) {
  const auto &counts = stats->stats.expertCounts;
  return route < counts.size() ? counts[route].data() : nullptr;
}

size_t moa_run_stats_num_arguments(const moa_run_stats *stats) {
  return stats->stats.argumentData.size();
}

const void *moa_run_stats_argument_data(const moa_run_stats *stats, size_t i) {
  const auto &data = stats->stats.argumentData;
  return i < data.size() ? data[i] : nullptr;
}

} // extern "C"
