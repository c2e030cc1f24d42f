//===- RuntimeCAPI.cpp - C interface of the moa runtime -------------------===//

#include "runtime/Runtime.h"
#include "runtime/moa_runtime.h"

using namespace moa;
using namespace moa::runtime;

struct moa_module {
  std::unique_ptr<Module> module;
};
struct moa_tensor {
  Tensor tensor;
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
  return new moa_module{std::move(module)};
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

moa_tensor *moa_tensor_create(moa_dtype dtype, const int64_t *shape,
                              size_t rank) {
  if (dtype < MOA_F32 || dtype > MOA_I1) {
    failWith("unknown dtype " + std::to_string(int(dtype)));
    return nullptr;
  }
  for (size_t i = 0; i < rank; ++i)
    if (shape[i] < 0) {
      failWith("negative dimension in tensor shape");
      return nullptr;
    }
  try {
    return new moa_tensor{Tensor(static_cast<DType>(dtype),
                                 std::vector<int64_t>(shape, shape + rank))};
  } catch (const std::bad_alloc &) {
    failWith("out of memory for a tensor of that shape");
    return nullptr;
  }
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

int moa_module_run(const moa_module *module, const char *entry,
                   moa_tensor *const *inputs, size_t num_inputs,
                   moa_tensor **outputs, size_t max_outputs,
                   size_t *num_outputs) {
  if (!module || !entry || (num_inputs && !inputs) || !num_outputs ||
      (max_outputs && !outputs))
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
    if (!module->module->run(entry, in, out, error))
      return failWith(error);
    for (size_t i = 0; i < out.size(); ++i)
      outputs[i] = new moa_tensor{std::move(out[i])};
  } catch (const std::bad_alloc &) {
    return failWith("out of memory running '" + std::string(entry) + "'");
  }
  *num_outputs = out.size();
  return 1;
}

} // extern "C"
