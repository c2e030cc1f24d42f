// moa-generate end to end: tiny_lm trained on the copy task continues each
// prompt (symbols, then the separator 12) with the same symbols, greedily,
// whatever else is in the batch; the checkpoint is left as it was.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/train.so --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/gen.so --pre-pipeline='moa-generate-decode{max-length=64}'
// RUN: moa-train %t/train.so --task copy --steps 300 --checkpoint %t/copy.safetensors --min-accuracy 0.95 > %t/train.log
// RUN: cp %t/copy.safetensors %t/before.safetensors
// RUN: printf '3,1,4,1,5,9,2,6,12\n7,7,0,11,2,10,8,5,12\n4,4\n' > %t/prompts.txt
// RUN: moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompts %t/prompts.txt --max-new-tokens 8 | FileCheck %s --check-prefix=COPY
// RUN: moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt-ids 3,1,4,1,5,9,2,6,12 --max-new-tokens 8 | FileCheck %s --check-prefix=ONE
// RUN: cmp %t/copy.safetensors %t/before.safetensors
// COPY: generated ids: 3,1,4,1,5,9,2,6
// COPY-NEXT: generated ids: 7,7,0,11,2,10,8,5
// COPY-NEXT: generated ids: {{[0-9]+(,[0-9]+){7}$}}
// COPY-NEXT: prefill: 20 tokens in {{.*}} tokens/s)
// COPY-NEXT: decode: 18 tokens in {{.*}} tokens/s; the first step, a warm-up, not counted)
// One shared key/value head of h=16 f32 values each: 2 x 16 x 4 bytes a token.
// COPY-NEXT: cache: 24576 bytes (128 per token of 64 rows x 3 sequences)
// ONE: generated ids: 3,1,4,1,5,9,2,6

// The same decoder compiled for the GPU (run by the emulator) continues the
// prompts the same way, greedily and when sampling with the same seed.
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/gen-gpu.so --target=cuda --emulate-gpu --pre-pipeline='moa-generate-decode{max-length=64}'
// RUN: moa-generate %t/gen-gpu.so --checkpoint %t/copy.safetensors --prompts %t/prompts.txt --max-new-tokens 8 | FileCheck %s --check-prefix=COPY
// RUN: moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompts %t/prompts.txt --max-new-tokens 8 --temperature 1.5 --seed 4 | grep ids > %t/sampled-cpu.txt
// RUN: moa-generate %t/gen-gpu.so --checkpoint %t/copy.safetensors --prompts %t/prompts.txt --max-new-tokens 8 --temperature 1.5 --seed 4 | grep ids > %t/sampled-gpu.txt
// RUN: diff %t/sampled-cpu.txt %t/sampled-gpu.txt

// Bad inputs: located messages, nothing written.
// RUN: not moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt-ids 3,64 2>&1 | FileCheck %s --check-prefix=VOCAB
// VOCAB: moa-generate: prompt 1: id 64 is outside the vocabulary [0, 64)
// RUN: not moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60 --max-new-tokens 8 2>&1 | FileCheck %s --check-prefix=LONG
// RUN: moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57 --max-new-tokens 8 | FileCheck %s --check-prefix=FULL
// FULL: generated ids: {{[0-9]+(,[0-9]+){7}$}}
// LONG: moa-generate: prompt 1: 60 tokens and 8 new ones need 67 cache rows, the caches hold 64 (compile with moa-generate-decode{max-length=N})
// RUN: not moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt-ids '' 2>&1 | FileCheck %s --check-prefix=EMPTY
// EMPTY: moa-generate: bad value for --prompt-ids (an empty prompt)
// RUN: printf '1,2\n\n' > %t/empty.txt
// RUN: not moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompts %t/empty.txt 2>&1 | FileCheck %s --check-prefix=EMPTYLINE
// EMPTYLINE: moa-generate: prompt 2 is empty
// RUN: not moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt-ids 1,x 2>&1 | FileCheck %s --check-prefix=IDS
// IDS: moa-generate: --prompt-ids: '1,x' is not a list of token ids
// RUN: not moa-generate %t/gen.so --checkpoint %t/copy.safetensors --prompt abc 2>&1 | FileCheck %s --check-prefix=TEXT
// TEXT: moa-generate: --prompt needs --text CORPUS
// RUN: not moa-generate %t/train.so --checkpoint %t/copy.safetensors --prompt-ids 1 2>&1 | FileCheck %s --check-prefix=ENTRIES
// ENTRIES: moa-generate: the module has no entries 'loss_prefill' and 'loss_decode' (compile it with --pre-pipeline='moa-generate-decode{function=loss}')
// RUN: %python %S/Inputs/write_table.py %t/table.safetensors
// RUN: not moa-generate %t/gen.so --checkpoint %t/table.safetensors --prompt-ids 1 2>&1 | FileCheck %s --check-prefix=OTHER
// OTHER: moa-generate: checkpoint '{{.*}}table.safetensors' has no tensor 'p.tok_emb': it is not a checkpoint of this model
// RUN: not moa-generate %t/gen.so --checkpoint %t/missing.safetensors --prompt-ids 1 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: moa-generate: {{.*}}missing.safetensors
// RUN: cmp %t/copy.safetensors %t/before.safetensors
