// Sampling on a model whose logits are known (Inputs/known_logits.mlir with
// every row 2, 1, 0.5, 0, -1, -2): greedy picks id 0; top-k and top-p keep
// only the allowed ids, each drawn as often as its renormalised probability
// says (within 5 standard deviations); a seed reproduces a run.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/known_logits.mlir -o %t/known.so --pre-pipeline=moa-generate-decode
// RUN: %python %S/Inputs/write_table.py %t/table.safetensors
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompt-ids 3 --max-new-tokens 5 | FileCheck %s --check-prefix=GREEDY
// GREEDY: generated ids: 0,0,0,0,0
// GREEDY: cache: 0 bytes (the model has no attention layer)

// RUN: printf '1\n2\n3\n4\n5\n0\n1\n2\n' > %t/prompts.txt
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompts %t/prompts.txt --max-new-tokens 100 --temperature 1 --top-k 2 --seed 5 | %python %S/Inputs/check_samples.py 1 2 1 | FileCheck %s --check-prefix=TOPK
// TOPK: 800 samples, allowed ids 0..1, outside: 0
// TOPK: PASS
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompts %t/prompts.txt --max-new-tokens 100 --temperature 1 --top-p 0.8 --seed 5 | %python %S/Inputs/check_samples.py 1 0 0.8 | FileCheck %s --check-prefix=TOPP
// TOPP: 800 samples, allowed ids 0..2, outside: 0
// TOPP: PASS
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompts %t/prompts.txt --max-new-tokens 100 --temperature 2 --seed 5 | %python %S/Inputs/check_samples.py 2 0 1 | FileCheck %s --check-prefix=ALL
// ALL: 800 samples, allowed ids 0..5, outside: 0
// ALL: PASS

// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompts %t/prompts.txt --max-new-tokens 50 --temperature 1 --seed 9 | grep 'generated ids' > %t/a.txt
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompts %t/prompts.txt --max-new-tokens 50 --temperature 1 --seed 9 | grep 'generated ids' > %t/b.txt
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --prompts %t/prompts.txt --max-new-tokens 50 --temperature 1 --seed 10 | grep 'generated ids' > %t/c.txt
// RUN: cmp %t/a.txt %t/b.txt
// RUN: not cmp %t/a.txt %t/c.txt

// Text through a corpus's character table (its characters, sorted, are ids
// 0..5): greedy continues with 'a', id 0.
// RUN: printf 'fedcba\n' | tr -d '\n' > %t/corpus.txt
// RUN: moa-generate %t/known.so --checkpoint %t/table.safetensors --text %t/corpus.txt --prompt cab --max-new-tokens 4 | FileCheck %s --check-prefix=CHARS
// CHARS: generated: cab|aaaa
// RUN: not moa-generate %t/known.so --checkpoint %t/table.safetensors --text %t/corpus.txt --prompt xyz 2>&1 | FileCheck %s --check-prefix=NOCHAR
// NOCHAR: moa-generate: --prompt: the prompt's character 'x' is not in the corpus
