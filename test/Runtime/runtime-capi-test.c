/*===- runtime-capi-test.c - The runtime's C interface from plain C -------===*\
|* usage: moa-runtime-capi-test MODULE [GPU_MODULE] *|
|* MODULE is examples/moa_layer.mlir compiled for the CPU, GPU_MODULE the     *|
|* same for the GPU (on the emulator): run on device tensors, it must give    *|
|* the CPU's result.                                                          *|
\*===----------------------------------------------------------------------===*/

#include "runtime/moa_runtime.h"

#include <stdio.h>
#include <string.h>

static moa_tensor *filled(moa_dtype dtype, const int64_t *shape, size_t rank) {
  moa_tensor *t = moa_tensor_create(dtype, shape, rank);
  float *data = (float *)moa_tensor_data(t);
  size_t n = 1;
  for (size_t i = 0; i < rank; ++i)
    n *= (size_t)shape[i];
  for (size_t i = 0; i < n; ++i)
    data[i] = (float)((i * 7919u) % 1000u) / 1000.0f - 0.5f;
  return t;
}

/// The layer on device tensors of `gpu`: its result, downloaded, against
/// `expected` (the CPU module's).
static void onDevice(const char *path, moa_tensor *const *in,
                     const moa_tensor *expected) {
  moa_module *gpu = moa_module_load(path);
  if (!gpu) {
    printf("%s\n", moa_last_error());
    return;
  }
  moa_tensor *device[6];
  for (int i = 0; i < 6; ++i)
    device[i] = moa_tensor_upload(gpu, in[i]);
  moa_tensor *out[1] = {NULL};
  size_t count = 0;
  if (!moa_module_run(gpu, "moa_layer", device, 6, out, 1, &count)) {
    printf("device run: %s\n", moa_last_error());
    return;
  }
  moa_tensor *host = moa_tensor_download(gpu, out[0]);
  const float *got = (const float *)moa_tensor_data(host);
  const float *want = (const float *)moa_tensor_data((moa_tensor *)expected);
  float worst = 0;
  for (size_t i = 0; i < 2 * 3 * 256; ++i) {
    float d = got[i] > want[i] ? got[i] - want[i] : want[i] - got[i];
    worst = d > worst ? d : worst;
  }
  printf("device: has device %d, result on device %d, max |gpu - cpu| %s\n",
         moa_module_has_device(gpu), moa_tensor_is_on_device(out[0]),
         worst < 1e-4f ? "below 1e-4" : "TOO LARGE");
  if (!moa_tensor_download(gpu, host))
    printf("download error: %s\n", moa_last_error());
  moa_tensor_destroy(host);
  moa_tensor_destroy(out[0]);
  for (int i = 0; i < 6; ++i)
    moa_tensor_destroy(device[i]);
  moa_module_destroy(gpu);
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3)
    return 2;
  if (moa_module_load("/nonexistent/module.so") == NULL)
    printf("load error: %s\n", moa_last_error());
  moa_module *module = moa_module_load(argv[1]);
  if (!module) {
    printf("%s\n", moa_last_error());
    return 1;
  }
  for (size_t i = 0; i < moa_module_num_entries(module); ++i)
    printf("entry: %s\n", moa_module_entry_name(module, i));

  const int64_t x[] = {2, 3, 256}, wg[] = {256, 8}, wq[] = {8, 256, 64},
                wk[] = {256, 64}, wo[] = {8, 64, 256};
  moa_tensor *in[6] = {filled(MOA_F32, x, 3),  filled(MOA_F32, wg, 2),
                       filled(MOA_F32, wq, 3), filled(MOA_F32, wk, 2),
                       filled(MOA_F32, wk, 2), filled(MOA_F32, wo, 3)};
  moa_tensor *out[1] = {NULL};
  size_t count = 0;
  if (!moa_module_run(module, "moa_layer", in, 6, out, 1, &count)) {
    printf("run failed: %s\n", moa_last_error());
    return 1;
  }
  const int64_t *shape = moa_tensor_shape(out[0]);
  printf("result: rank %zu shape [%lld, %lld, %lld]\n", moa_tensor_rank(out[0]),
         (long long)shape[0], (long long)shape[1], (long long)shape[2]);
  moa_tensor_destroy(out[0]);

  if (!moa_module_run(module, "nope", in, 6, out, 1, &count))
    printf("entry error: %s\n", moa_last_error());
  moa_tensor *wrong = moa_tensor_create(MOA_F16, x, 3);
  moa_tensor *swapped[6] = {wrong, in[1], in[2], in[3], in[4], in[5]};
  if (!moa_module_run(module, "moa_layer", swapped, 6, out, 1, &count))
    printf("dtype error: %s\n", moa_last_error());
  if (!moa_module_run(module, "moa_layer", in, 6, out, 0, &count))
    printf("room error: %s\n", moa_last_error());

  /* The caller's own buffer, wrapped: the entry reads it in place. */
  static float caller[2 * 3 * 256];
  for (size_t i = 0; i < sizeof(caller) / sizeof(float); ++i)
    caller[i] = ((const float *)moa_tensor_data(in[0]))[i];
  moa_tensor *wrapped = moa_tensor_wrap(MOA_F32, x, 3, caller);
  moa_tensor *borrowed[6] = {wrapped, in[1], in[2], in[3], in[4], in[5]};
  moa_run_stats *stats = moa_run_stats_create();
  if (!moa_module_run_with_stats(module, "moa_layer", borrowed, 6, out, 1,
                                 &count, stats)) {
    printf("run failed: %s\n", moa_last_error());
    return 1;
  }
  printf("wrapped input read in place: %s\n",
         moa_run_stats_argument_data(stats, 0) == (const void *)caller ? "yes"
                                                                       : "no");
  printf("owned input read in place: %s\n",
         moa_run_stats_argument_data(stats, 1) == moa_tensor_data(in[1])
             ? "yes"
             : "no");
  int64_t routed = 0;
  for (size_t e = 0; e < moa_run_stats_num_experts(stats, 0); ++e)
    routed += moa_run_stats_expert_counts(stats, 0)[e];
  printf("routes %zu, experts %zu, pairs routed %lld\n",
         moa_run_stats_num_routes(stats), moa_run_stats_num_experts(stats, 0),
         (long long)routed);
  if (argc == 3)
    onDevice(argv[2], in, out[0]);
  if (!moa_tensor_upload(module, in[0]))
    printf("upload error: %s\n", moa_last_error());
  printf("has device: %d\n", moa_module_has_device(module));
  moa_tensor_destroy(out[0]);
  moa_run_stats_destroy(stats);
  moa_tensor_destroy(wrapped);
  if (!moa_tensor_wrap(MOA_F32, x, 3, NULL))
    printf("wrap error: %s\n", moa_last_error());
  const int64_t negative[] = {2, -3};
  if (!moa_tensor_wrap(MOA_F32, negative, 2, caller))
    printf("shape error: %s\n", moa_last_error());
  printf("manifest: %.40s\n", moa_module_manifest(module));

  moa_tensor_destroy(wrong);
  for (int i = 0; i < 6; ++i)
    moa_tensor_destroy(in[i]);
  moa_module_destroy(module);
  return 0;
}
