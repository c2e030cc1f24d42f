# examples/python/train_copy.py: a PyTorch model with the moa layer, trained
# with AdamW, copies held-out sequences (>= 95% of the copied tokens right).
# REQUIRES: torch
# RUN: rm -rf %t && MOA_CACHE_DIR=%t %python %moa_src_root/examples/python/train_copy.py --steps 400 | FileCheck %s
# CHECK: step   400
# CHECK: final held-out copy accuracy {{0\.9[5-9][0-9]*|1\.0+}}{{$}}
