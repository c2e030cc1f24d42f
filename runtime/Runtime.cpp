//===- Runtime.cpp - Load and run compiled moa modules --------------------===//

#include "runtime/Runtime.h"
#include "runtime/KernelContext.h"
#include "runtime/RuntimeABI.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

namespace moa::runtime {

namespace {
/// A memref descriptor as the MLIR C interface lays it out, in 64-bit words:
/// allocated, aligned, offset, sizes[rank], strides[rank].
int64_t descriptorWords(size_t rank) { return 3 + 2 * rank; }

/// Where each result's descriptor is in the block the callee fills (null for
/// a tied result, which is not returned).
std::vector<const int64_t *>
resultDescriptors(const EntrySpec &entry, const std::vector<int64_t> &block) {
  std::vector<const int64_t *> descriptors;
  const int64_t *words = block.data();
  for (const TensorSpec &spec : entry.results) {
    descriptors.push_back(spec.tied >= 0 ? nullptr : words);
    if (spec.tied < 0)
      words += descriptorWords(spec.shape.size());
  }
  return descriptors;
}

void fillDescriptor(int64_t *words, void *data,
                    const std::vector<int64_t> &shape) {
  const size_t rank = shape.size();
  words[0] = reinterpret_cast<int64_t>(data);
  words[1] = reinterpret_cast<int64_t>(data);
  words[2] = 0;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    words[3 + i] = shape[i];
    words[3 + rank + i] = stride;
    stride *= shape[i];
  }
}

/// Whether the compiled function returns anything: tied results are not.
bool returnsAnything(const std::vector<TensorSpec> &results) {
  for (const TensorSpec &spec : results)
    if (spec.tied < 0)
      return true;
  return false;
}

std::string describeArgument(const EntrySpec &entry, size_t i) {
  return "argument " + std::to_string(i) + " of '" + entry.name + "'";
}
/// A tied argument is written: the caller's own tensor where it is donated,
/// else a copy of it (in `copies`, made by `duplicate`), which replaces it
/// in `inputs`. tiedArgs[r] is the tensor result r is returned in (null if
/// it is not tied): the compiled entry does not return tied results.
bool bindTiedArguments(
    const EntrySpec &entry, const std::vector<Tensor *> &donated,
    std::vector<const Tensor *> &inputs, std::vector<Tensor *> &tiedArgs,
    std::vector<Tensor> &copies,
    const std::function<bool(const Tensor &, Tensor &, std::string &)>
        &duplicate,
    std::string &error) {
  tiedArgs.assign(entry.results.size(), nullptr);
  copies.reserve(entry.results.size());
  for (size_t r = 0; r < entry.results.size(); ++r) {
    int64_t arg = entry.results[r].tied;
    if (arg < 0)
      continue;
    if (donated[arg] &&
        std::count(tiedArgs.begin(), tiedArgs.end(), donated[arg])) {
      error = describeArgument(entry, arg) +
              " is donated twice (one tensor for two cache arguments)";
      return false;
    }
    if (!donated[arg]) {
      Tensor &copy = copies.emplace_back();
      if (!duplicate(*inputs[arg], copy, error))
        return false;
      tiedArgs[r] = &copy;
    } else {
      tiedArgs[r] = donated[arg];
    }
    inputs[arg] = tiedArgs[r];
  }
  return true;
}

/// The packed arguments of a compiled entry: first the block the callee
/// fills with the result descriptors (if it returns anything), then one
/// descriptor per input.
struct PackedCall {
  PackedCall(const EntrySpec &entry,
             const std::vector<const Tensor *> &inputs) {
    size_t resultWords = 0;
    for (const TensorSpec &spec : entry.results)
      if (spec.tied < 0)
        resultWords += descriptorWords(spec.shape.size());
    results.assign(resultWords, 0);
    if (returnsAnything(entry.results))
      pointers.push_back(results.data());
    arguments.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      arguments[i].resize(descriptorWords(inputs[i]->shape().size()));
      fillDescriptor(arguments[i].data(), const_cast<void *>(inputs[i]->data()),
                     inputs[i]->shape());
      pointers.push_back(arguments[i].data());
    }
  }
  /// Where the entry read each argument.
  std::vector<const void *> argumentData() const {
    std::vector<const void *> data;
    for (const std::vector<int64_t> &words : arguments)
      data.push_back(reinterpret_cast<const void *>(words[1]));
    return data;
  }

  std::vector<int64_t> results;
  std::vector<std::vector<int64_t>> arguments;
  std::vector<void *> pointers;
};

/// outputs[r] = take(spec of r, descriptor of r) for each result the entry
/// returned; an empty tensor for a tied one, filled once the call has
/// succeeded.
void takeResults(
    const EntrySpec &entry, const std::vector<const int64_t *> &descriptors,
    std::vector<Tensor> &outputs,
    const std::function<Tensor(const TensorSpec &, const int64_t *)> &take) {
  outputs.clear();
  for (size_t r = 0; r < entry.results.size(); ++r)
    outputs.push_back(descriptors[r] ? take(entry.results[r], descriptors[r])
                                     : Tensor());
}

bool isContiguous(const std::vector<int64_t> &shape, const int64_t *strides) {
  bool contiguous = true;
  for (int64_t d = int64_t(shape.size()) - 1, expected = 1; d >= 0; --d) {
    contiguous &= shape[d] <= 1 || strides[d] == expected;
    expected *= shape[d];
  }
  return contiguous;
}

/// The result described by the memref descriptor at `words` (which may be
/// strided). A contiguous result whose buffer nothing else refers to
/// (`adoptable`) becomes the tensor's own, without a copy; any other is
/// copied into a tensor of its own.
Tensor takeResult(const TensorSpec &spec, const int64_t *words,
                  bool adoptable) {
  const size_t rank = spec.shape.size();
  auto *aligned = reinterpret_cast<uint8_t *>(words[1]);
  std::vector<int64_t> shape(words + 3, words + 3 + rank);
  const int64_t *strides = words + 3 + rank;
  const int64_t elementSize = dtypeSize(spec.dtype);
  const bool contiguous = isContiguous(shape, strides);
  // An empty result is copied: its buffer may be null, and data() never is.
  const bool empty = !checkedNumElements(shape).value_or(0);
  if (contiguous && adoptable && !empty)
    return Tensor::adopt(spec.dtype, std::move(shape),
                         aligned + words[2] * elementSize,
                         reinterpret_cast<void *>(words[0]));
  Tensor output(spec.dtype, shape);
  uint8_t *dst = static_cast<uint8_t *>(output.data());
  if (contiguous && output.numElements() > 0) {
    std::memcpy(dst, aligned + words[2] * elementSize, output.byteSize());
    return output;
  }
  for (int64_t linear = 0, n = output.numElements(); linear < n; ++linear) {
    int64_t offset = words[2], rest = linear;
    for (size_t d = rank; d-- > 0;) {
      offset += (rest % shape[d]) * strides[d];
      rest /= shape[d];
    }
    std::memcpy(dst + linear * elementSize, aligned + offset * elementSize,
                elementSize);
  }
  return output;
}
} // namespace

std::unique_ptr<Module> Module::load(const std::string &path,
                                     std::string &error) {
  // Compiled loops run on LLVM's OpenMP runtime. Its idle threads would spin
  // for 200 ms by default, against the caller's other work; they sleep at
  // once instead, and stay awake only during a call (ThreadTeam), unless the
  // user chose otherwise. libomp reads this when it first runs a region.
  const bool userBlocktime = std::getenv("KMP_BLOCKTIME") != nullptr;
  setenv("KMP_BLOCKTIME", "0", /*overwrite=*/0);
  std::unique_ptr<Module> module(new Module());
  module->path_ = path;
  // A name without a slash would be looked up along the library search path
  // (LD_LIBRARY_PATH, the system's directories): the user means this file.
  const std::string file =
      path.find('/') == std::string::npos ? "./" + path : path;
  module->handle_ = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!module->handle_) {
    const char *why = dlerror();
    error = "cannot load module '" + path + "': " + (why ? why : "unknown");
    return nullptr;
  }
  auto *text =
      static_cast<const char *>(dlsym(module->handle_, "moa_manifest"));
  if (!text) {
    error = "'" + path + "' is not a moa module (no moa_manifest)";
    return nullptr;
  }
  std::optional<Manifest> manifest = Manifest::parse(text, error);
  if (!manifest) {
    error = "'" + path + "': " + error;
    return nullptr;
  }
  module->manifest_ = std::move(*manifest);
  if (module->manifest_.ranks > 0 &&
      !joinMPIJob(module->handle_, module->manifest_.ranks, path,
                  module->mpiJob_, error))
    return nullptr;
  for (const EntrySpec &entry : module->manifest_.entries) {
    void *symbol = dlsym(module->handle_, ("moa_entry_" + entry.name).c_str());
    if (!symbol) {
      error = "'" + path + "' lists entry '" + entry.name +
              "' but does not define moa_entry_" + entry.name;
      return nullptr;
    }
    module->functions_.push_back(reinterpret_cast<void (*)(void **)>(symbol));
  }
  if (!module->loadDeviceEntries(file, error))
    return nullptr;
  if (!userBlocktime)
    module->threads_ = ThreadTeam::forModule(module->handle_);
  return module;
}

bool Module::loadDeviceEntries(const std::string &file, std::string &error) {
  for (const EntrySpec &entry : manifest_.entries) {
    void *symbol = dlsym(
        handle_, ("moa_entry_" + entry.name + kDeviceEntrySuffix).c_str());
    if (!symbol) // a CPU module; a GPU module has them all
      return deviceFunctions_.empty();
    deviceFunctions_.push_back(reinterpret_cast<void (*)(void **)>(symbol));
  }
  if (deviceFunctions_.empty())
    return true;
  device_ = Device::forModule(file);
  if (!device_)
    error = "'" + path_ + "' has device entries but no mgpu* functions";
  return device_ != nullptr;
}

Module::~Module() {
  if (handle_)
    dlclose(handle_);
}

const EntrySpec *Module::findEntry(const std::string &name) const {
  for (const EntrySpec &entry : manifest_.entries)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

bool Module::check(const EntrySpec &entry,
                   const std::vector<const Tensor *> &inputs,
                   std::string &error) const {
  if (inputs.size() != entry.arguments.size()) {
    error = "entry '" + entry.name + "' takes " +
            std::to_string(entry.arguments.size()) + " arguments, got " +
            std::to_string(inputs.size());
    return false;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec &spec = entry.arguments[i];
    const Tensor &input = *inputs[i];
    if (input.dtype() != spec.dtype) {
      error = describeArgument(entry, i) + " must be " + dtypeName(spec.dtype) +
              ", got " + dtypeName(input.dtype());
      return false;
    }
    if (input.shape().size() != spec.shape.size()) {
      error = describeArgument(entry, i) + " must have rank " +
              std::to_string(spec.shape.size()) + " (shape " +
              formatShape(spec.shape) + "), got shape " +
              formatShape(input.shape());
      return false;
    }
    for (size_t d = 0; d < spec.shape.size(); ++d)
      if (spec.shape[d] >= 0 && spec.shape[d] != input.shape()[d]) {
        error = describeArgument(entry, i) + " must have shape " +
                formatShape(spec.shape) + ", got " + formatShape(input.shape());
        return false;
      }
  }
  return true;
}

bool Module::run(const std::string &name, const std::vector<Tensor> &inputs,
                 std::vector<Tensor> &outputs, std::string &error,
                 RunStats *stats) const {
  std::vector<const Tensor *> pointers;
  for (const Tensor &input : inputs)
    pointers.push_back(&input);
  return run(name, pointers, outputs, error, stats);
}

bool Module::run(const std::string &name,
                 const std::vector<const Tensor *> &inputs,
                 std::vector<Tensor> &outputs, std::string &error,
                 RunStats *stats) const {
  return call(name, inputs, std::vector<Tensor *>(inputs.size(), nullptr),
              outputs, error, stats);
}

bool Module::runDonating(const std::string &name,
                         const std::vector<Tensor *> &inputs,
                         std::vector<Tensor> &outputs, std::string &error,
                         RunStats *stats) const {
  return call(name, {inputs.begin(), inputs.end()}, inputs, outputs, error,
              stats);
}

bool Module::call(const std::string &name,
                  const std::vector<const Tensor *> &inputs,
                  const std::vector<Tensor *> &donated,
                  std::vector<Tensor> &outputs, std::string &error,
                  RunStats *stats) const {
  const EntrySpec *entry = findEntry(name);
  if (!entry) {
    error = "no entry point '" + name + "' in '" + path_ + "' (entries:";
    for (const EntrySpec &e : manifest_.entries)
      error += " " + e.name;
    error += ")";
    return false;
  }
  if (!check(*entry, inputs, error))
    return false;
  const bool onDevice =
      std::any_of(inputs.begin(), inputs.end(),
                  [](const Tensor *input) { return input->isOnDevice(); });
  return onDevice ? callOnDevice(*entry, inputs, donated, outputs, error, stats)
                  : callOnHost(*entry, inputs, donated, outputs, error, stats);
}

bool Module::invoke(const EntrySpec &entry, bool onDevice,
                    std::vector<void *> &packed, KernelContext &context,
                    RunStats *stats, std::vector<Tensor> &outputs,
                    std::string &error) const {
  context.wantsRouting = stats != nullptr;
  const auto &functions = onDevice ? deviceFunctions_ : functions_;
  bool returned;
  {
    ThreadTeam::CallScope awake(threads_);
    returned = callRecoverably(functions[&entry - manifest_.entries.data()],
                               packed.data(), context);
  }
  if (returned)
    return true;
  error = "'" + entry.name + "' failed: " + context.error;
  outputs.clear();
  return false;
}

bool Module::callOnHost(const EntrySpec &entry,
                        std::vector<const Tensor *> inputs,
                        const std::vector<Tensor *> &donated,
                        std::vector<Tensor> &outputs, std::string &error,
                        RunStats *stats) const {
  std::vector<Tensor *> tiedArgs;
  std::vector<Tensor> copies;
  auto duplicate = [](const Tensor &from, Tensor &to, std::string &) {
    to = Tensor(from.dtype(), from.shape());
    std::memcpy(to.data(), from.data(), to.byteSize());
    return true;
  };
  if (!bindTiedArguments(entry, donated, inputs, tiedArgs, copies, duplicate,
                         error))
    return false;

  // Compiled code loads i1 bytes as booleans; a byte other than 0 or 1 (as a
  // C caller or a viewed NumPy array may pass) would be undefined, so masks
  // go in as normalised copies.
  std::vector<Tensor> masks;
  masks.reserve(inputs.size());
  for (const Tensor *&input : inputs) {
    if (input->dtype() != DType::I1)
      continue;
    // A tied mask is the call's own (donated or copied): normalised in place.
    if (std::count(tiedArgs.begin(), tiedArgs.end(), input)) {
      auto *bytes = const_cast<uint8_t *>(input->as<uint8_t>());
      for (int64_t e = 0; e < input->numElements(); ++e)
        bytes[e] = bytes[e] != 0;
      continue;
    }
    Tensor &mask = masks.emplace_back(DType::I1, input->shape());
    for (int64_t e = 0; e < mask.numElements(); ++e)
      mask.as<uint8_t>()[e] = input->as<uint8_t>()[e] != 0;
    input = &mask;
  }

  PackedCall packed(entry, inputs);
  KernelContext context;
  if (!invoke(entry, /*onDevice=*/false, packed.pointers, context, stats,
              outputs, error))
    return false;

  // A buffer the module allocated for one result only becomes that result's
  // tensor; the others are copied out first (two results may share a
  // buffer), then freed: once each, never an input buffer.
  std::set<void *> inputBuffers, toFree;
  for (const Tensor *input : inputs)
    inputBuffers.insert(const_cast<void *>(input->data()));
  std::vector<const int64_t *> descriptors =
      resultDescriptors(entry, packed.results);
  std::map<void *, int> uses;
  for (const int64_t *words : descriptors)
    if (words)
      ++uses[reinterpret_cast<void *>(words[0])];
  takeResults(entry, descriptors, outputs,
              [&](const TensorSpec &spec, const int64_t *words) {
                auto *allocated = reinterpret_cast<void *>(words[0]);
                bool owned = allocated && !inputBuffers.count(allocated);
                bool adoptable = owned && uses[allocated] == 1;
                if (owned && !adoptable)
                  toFree.insert(allocated);
                return takeResult(spec, words, adoptable);
              });
  for (void *buffer : toFree)
    std::free(buffer);
  return finishCall(entry, context, packed.argumentData(), tiedArgs, outputs,
                    error, stats);
}

bool Module::callOnDevice(const EntrySpec &entry,
                          std::vector<const Tensor *> inputs,
                          std::vector<Tensor *> donated,
                          std::vector<Tensor> &outputs, std::string &error,
                          RunStats *stats) const {
  if (!device_) {
    error = "'" + entry.name + "' of '" + path_ +
            "' runs on the CPU and takes host tensors only (device tensors "
            "need a module compiled with --target=cuda)";
    return false;
  }
  // Host inputs go over once; those copies are the call's own, so a tied
  // result may always take one.
  std::vector<Tensor> uploads;
  uploads.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]->isOnDevice())
      continue;
    Tensor &copy = uploads.emplace_back();
    if (!upload(*inputs[i], copy, error))
      return false;
    inputs[i] = &copy;
    donated[i] = &copy;
  }
  std::vector<Tensor *> tiedArgs;
  std::vector<Tensor> copies;
  auto duplicate = [&](const Tensor &from, Tensor &to, std::string &why) {
    return allocateOnDevice(from.dtype(), from.shape(), to, why) &&
           device_->copy(to.data(), from.data(), from.byteSize(), why);
  };
  if (!bindTiedArguments(entry, donated, inputs, tiedArgs, copies, duplicate,
                         error))
    return false;

  PackedCall packed(entry, inputs);
  KernelContext context;
  if (!invoke(entry, /*onDevice=*/true, packed.pointers, context, stats,
              outputs, error))
    return false;
  // Each result is a device buffer of its own (moa-gpu-host-boundary).
  std::vector<const int64_t *> descriptors =
      resultDescriptors(entry, packed.results);
  takeResults(
      entry, descriptors, outputs,
      [&](const TensorSpec &spec, const int64_t *words) {
        const size_t rank = spec.shape.size();
        auto *aligned = reinterpret_cast<uint8_t *>(words[1]);
        return Tensor::onDevice(
            spec.dtype, std::vector<int64_t>(words + 3, words + 3 + rank),
            aligned + words[2] * dtypeSize(spec.dtype),
            reinterpret_cast<void *>(words[0]),
            [device = device_](void *buffer) { device->release(buffer); });
      });
  return finishCall(entry, context, packed.argumentData(), tiedArgs, outputs,
                    error, stats);
}

bool Module::finishCall(const EntrySpec &entry, KernelContext &context,
                        std::vector<const void *> argumentData,
                        const std::vector<Tensor *> &tiedArgs,
                        std::vector<Tensor> &outputs, std::string &error,
                        RunStats *stats) const {
  if (stats) {
    stats->expertCounts = std::move(context.expertCounts);
    stats->argumentData = std::move(argumentData);
  }
  if (!context.error.empty()) {
    error = "'" + entry.name + "' failed: " + context.error;
    outputs.clear();
    return false;
  }
  for (size_t r = 0; r < entry.results.size(); ++r)
    if (tiedArgs[r])
      outputs[r] = std::move(*tiedArgs[r]);
  return true;
}

bool Module::allocateOnDevice(DType dtype, const std::vector<int64_t> &shape,
                              Tensor &tensor, std::string &error) const {
  std::optional<int64_t> elements = checkedNumElements(shape);
  if (!elements) {
    error = "cannot allocate a tensor of shape " + formatShape(shape);
    return false;
  }
  void *buffer = device_->allocate(*elements * dtypeSize(dtype), error);
  if (!buffer)
    return false;
  tensor = Tensor::onDevice(
      dtype, shape, buffer, buffer,
      [device = device_](void *data) { device->release(data); });
  return true;
}

bool Module::upload(const Tensor &host, Tensor &device,
                    std::string &error) const {
  if (!device_) {
    error = "'" + path_ + "' runs on the CPU: it has no device to copy to";
    return false;
  }
  if (host.isOnDevice()) {
    error = "upload of a tensor that is on the device already";
    return false;
  }
  if (!allocateOnDevice(host.dtype(), host.shape(), device, error))
    return false;
  if (host.dtype() != DType::I1)
    return device_->copy(device.data(), host.data(), host.byteSize(), error);
  Tensor mask(DType::I1, host.shape()); // bytes made 0 or 1, as on the host
  for (int64_t e = 0; e < mask.numElements(); ++e)
    mask.as<uint8_t>()[e] = host.as<uint8_t>()[e] != 0;
  return device_->copy(device.data(), mask.data(), mask.byteSize(), error);
}

bool Module::toDevice(Tensor &tensor, std::string &error) const {
  if (!device_ || tensor.isOnDevice())
    return true;
  Tensor moved;
  if (!upload(tensor, moved, error))
    return false;
  tensor = std::move(moved);
  return true;
}

bool Module::toHost(Tensor &tensor, std::string &error) const {
  if (!tensor.isOnDevice())
    return true;
  Tensor moved;
  if (!download(tensor, moved, error))
    return false;
  tensor = std::move(moved);
  return true;
}

bool Module::download(const Tensor &device, Tensor &host,
                      std::string &error) const {
  if (!device.isOnDevice()) {
    error = "download of a tensor that is not on the device";
    return false;
  }
  host = Tensor(device.dtype(), device.shape());
  return device_->copy(host.data(), device.data(), host.byteSize(), error);
}

} // namespace moa::runtime
