/*===- moa_runtime.h - C interface of the moa runtime -------------*- C -*-===*\
|*                                                                            *|
|* Load a module compiled by moa-compile, list its entry points, and run one  *|
|* on host tensors (used in place, not copied): the runtime's own or the      *|
|* caller's memory (moa_tensor_wrap); a GPU module also on device tensors     *|
|* (moa_tensor_upload). Functions that can fail                               *|
|* return 0 or NULL and leave a message for moa_last_error() (per thread).    *|
|* Module and tensor handles must be valid (not NULL) where one is taken.     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOA_RUNTIME_MOA_RUNTIME_H
#define MOA_RUNTIME_MOA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct moa_module moa_module;
typedef struct moa_tensor moa_tensor;
typedef struct moa_run_stats moa_run_stats;

typedef enum {
  MOA_F32 = 0,
  MOA_F16 = 1,
  MOA_BF16 = 2,
  MOA_I32 = 3,
  MOA_I1 = 4
} moa_dtype;

const char *moa_last_error(void);

moa_module *moa_module_load(const char *path);
void moa_module_destroy(moa_module *module);
size_t moa_module_num_entries(const moa_module *module);
const char *moa_module_entry_name(const moa_module *module, size_t i);
size_t moa_module_entry_num_arguments(const moa_module *module, size_t i);
size_t moa_module_entry_num_results(const moa_module *module, size_t i);
/// The module's manifest: every entry's argument and result dtypes, shapes
/// and names, in the text format of runtime/Manifest.h.
const char *moa_module_manifest(const moa_module *module);

/// A zero-filled tensor; its bytes are at moa_tensor_data.
moa_tensor *moa_tensor_create(moa_dtype dtype, const int64_t *shape,
                              size_t rank);
/// A tensor over the caller's `data` (dense, row-major), neither copied nor
/// freed: it must stay valid until the tensor is destroyed.
moa_tensor *moa_tensor_wrap(moa_dtype dtype, const int64_t *shape, size_t rank,
                            void *data);
void moa_tensor_destroy(moa_tensor *tensor);
void *moa_tensor_data(moa_tensor *tensor);
moa_dtype moa_tensor_dtype(const moa_tensor *tensor);
size_t moa_tensor_rank(const moa_tensor *tensor);
const int64_t *moa_tensor_shape(const moa_tensor *tensor);

/// Device tensors, for a module compiled for the GPU (--target=cuda): its
/// entries take host and device tensors; given any device tensor, an entry
/// runs on the tensors where they are (host ones copied over once) and its
/// results are device tensors, so that weights and state stay on the GPU
/// from call to call. moa_tensor_data of a device tensor is a device
/// address. A device tensor may outlive its module.
/// Whether the module runs on a GPU (1) or on the CPU (0).
int moa_module_has_device(const moa_module *module);
/// A new device tensor of the module's GPU holding a copy of `host`, or
/// NULL (a CPU module, a tensor on the device already, no memory).
moa_tensor *moa_tensor_upload(const moa_module *module, const moa_tensor *host);
/// A new host tensor holding a copy of the device tensor `device`, or NULL.
moa_tensor *moa_tensor_download(const moa_module *module,
                                const moa_tensor *device);
int moa_tensor_is_on_device(const moa_tensor *tensor);

/// Runs `entry`; on success stores num_outputs new tensors (the caller
/// destroys them) in outputs, which must have room for the entry's results.
int moa_module_run(const moa_module *module, const char *entry,
                   moa_tensor *const *inputs, size_t num_inputs,
                   moa_tensor **outputs, size_t max_outputs,
                   size_t *num_outputs);

/// What a call observed (filled by moa_module_run_with_stats): per moa.route
/// executed, the (token, slot) pairs routed to each expert; per argument,
/// the address the compiled entry read it from (the caller's bytes, or a
/// copy for masks).
moa_run_stats *moa_run_stats_create(void);
void moa_run_stats_destroy(moa_run_stats *stats);
size_t moa_run_stats_num_routes(const moa_run_stats *stats);
size_t moa_run_stats_num_experts(const moa_run_stats *stats, size_t route);
const int64_t *moa_run_stats_expert_counts(const moa_run_stats *stats,
                                           size_t route);
size_t moa_run_stats_num_arguments(const moa_run_stats *stats);
const void *moa_run_stats_argument_data(const moa_run_stats *stats, size_t i);

/// moa_module_run that also fills `stats` (not NULL).
int moa_module_run_with_stats(const moa_module *module, const char *entry,
                              moa_tensor *const *inputs, size_t num_inputs,
                              moa_tensor **outputs, size_t max_outputs,
                              size_t *num_outputs, moa_run_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* MOA_RUNTIME_MOA_RUNTIME_H */
