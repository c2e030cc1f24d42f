// Trains examples/tiny_lm.mlir with compiled code alone: the copy task must
// reach 95% held-out accuracy within 300 steps, in f32 and in mixed
// precision; a run stopped and resumed
// from its checkpoint ends bit-identical to an uninterrupted one; the report
// is well-formed SVG; bad checkpoints, options and modules are rejected with
// a message naming the problem.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/lm.so --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
// RUN: moa-train %t/lm.so --steps 300 --log-every 100 --min-accuracy 0.95 --report %t/report.svg | FileCheck %s
// RUN: python3 -c "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); sys.exit(0 if d.getElementsByTagName('rect') and d.getElementsByTagName('path') else 1)" %t/report.svg

// CHECK: step 100/300 | loss {{[0-9.]+}} | ce {{[0-9.]+}} | lb {{[0-9.]+}} | z {{[0-9.]+}} | acc {{[0-9.]+}} | {{[0-9]+}} tok/s | heads {{[0-9.]+}}/2.00 bits
// CHECK: step 300/300
// CHECK: trained steps 1..300
// CHECK: held-out accuracy {{0\.9[5-9][0-9]*|1\.0+}} on 8 batches

// Mixed precision (bf16 GEMMs and attention over f32 master weights,
// router and moments) learns the copy task as well; its state stays f32.
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/lm_bf16.so --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 mixed-precision=bf16}'
// RUN: moa-train %t/lm_bf16.so --steps 300 --log-every 100 --min-accuracy 0.95 --checkpoint %t/bf16.safetensors | FileCheck %s --check-prefix=BF16
// RUN: python3 %S/../Runtime/safetensors_check.py dump %t/bf16.safetensors | FileCheck %s --check-prefix=BF16-CKPT
// BF16: step 300/300
// BF16: held-out accuracy {{0\.9[5-9][0-9]*|1\.0+}} on 8 batches
// BF16-CKPT-DAG: p.w_query F32 [4, 32, 16]
// BF16-CKPT-DAG: m.w_query F32 [4, 32, 16]
// BF16-CKPT-DAG: v.w_vocab F32 [32, 64]

// Exact resume: 40 steps straight, or 20 + 20 from the checkpoint.
// RUN: moa-train %t/lm.so --steps 40 --checkpoint %t/straight.safetensors --eval-batches 0 > /dev/null
// RUN: moa-train %t/lm.so --steps 20 --checkpoint %t/resumed.safetensors --eval-batches 0 > /dev/null
// RUN: moa-train %t/lm.so --steps 40 --resume %t/resumed.safetensors --checkpoint %t/resumed.safetensors --eval-batches 0 | FileCheck %s --check-prefix=RESUME
// RUN: cmp %t/straight.safetensors %t/resumed.safetensors
// RESUME: trained steps 21..40

// The checkpoint holds parameters, both moments and the history.
// RUN: python3 %S/../Runtime/safetensors_check.py dump %t/straight.safetensors | FileCheck %s --check-prefix=CKPT
// CKPT-DAG: p.w_query F32 [4, 32, 16]
// CKPT-DAG: m.w_query F32 [4, 32, 16]
// CKPT-DAG: v.w_query F32 [4, 32, 16]
// CKPT-DAG: history.usage F32 [4, 4]

// The language-model demo runs on the project's own corpus.
// RUN: moa-train %t/lm.so --task text --text %moa_src_root/examples/data/corpus.txt --length 32 --steps 20 --log-every 10 | FileCheck %s --check-prefix=TEXT
// TEXT: step 20/20
// TEXT: held-out accuracy
// TEXT: held-out cross-entropy {{[0-9.]+}} nats, {{[0-9.]+}} bits per token

// A held-out corpus of its own (the last 2000 characters before the file's
// only newline, left out of the training text), evaluated every 10 steps;
// characters its training text lacks are refused.
// RUN: head -c -2001 %moa_src_root/examples/data/corpus.txt > %t/train.txt
// RUN: tail -c 2001 %moa_src_root/examples/data/corpus.txt | head -c 2000 > %t/held.txt
// RUN: moa-train %t/lm.so --task text --text %t/train.txt --held-out %t/held.txt --length 32 --steps 20 --log-every 10 --eval-every 10 --eval-batches 2 | FileCheck %s --check-prefix=HELD
// HELD: held-out at step 10: cross-entropy {{[0-9.]+}} nats, {{[0-9.]+}} bits per token | accuracy {{[0-9.]+}}
// HELD: held-out at step 20: cross-entropy
// HELD: held-out cross-entropy
// RUN: printf 'QQQ%%s' "$(head -c 100 %t/held.txt)" > %t/odd.txt
// RUN: not moa-train %t/lm.so --task text --text %t/train.txt --held-out %t/odd.txt --length 32 2>&1 | FileCheck %s --check-prefix=HELDCHAR
// HELDCHAR: moa-train: '{{.*}}odd.txt' holds the character 81, which its training corpus does not
// RUN: not moa-train %t/lm.so --held-out %t/held.txt 2>&1 | FileCheck %s --check-prefix=HELDCOPY
// HELDCOPY: moa-train: --held-out takes a text corpus (--task text)

// moa.init fan_in:<n>: uniform in +-1/sqrt(n), and a bad n is refused.
// RUN: sed 's/moa.param = "w_key", moa.init = "fan_in"/moa.param = "w_key", moa.init = "fan_in:10000"/' %moa_src_root/examples/tiny_lm.mlir > %t/fan_in.mlir
// RUN: moa-compile %t/fan_in.mlir -o %t/fan_in.so --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
// RUN: moa-train %t/fan_in.so --steps 1 --eval-batches 0 --checkpoint %t/fan_in.safetensors > /dev/null
// RUN: python3 %S/../Runtime/safetensors_check.py dump %t/fan_in.safetensors | python3 -c "import sys; values = [abs(float(v)) for l in sys.stdin if l.startswith('p.w_key ') for v in l.split(':')[1].split()]; sys.exit(0 if values and 0 < max(values) <= 0.0101 else 1)"
// RUN: sed 's/moa.init = "fan_in:10000"/moa.init = "fan_in:0"/' %t/fan_in.mlir > %t/fan_in0.mlir
// RUN: moa-compile %t/fan_in0.mlir -o %t/fan_in0.so --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
// RUN: not moa-train %t/fan_in0.so --steps 1 2>&1 | FileCheck %s --check-prefix=FANIN0
// FANIN0: moa-train: parameter 'w_key': bad init 'fan_in:0'

// Errors.
// RUN: not moa-train %t/lm.so --seed 7 --resume %t/resumed.safetensors 2>&1 | FileCheck %s --check-prefix=SEED
// SEED: moa-train: checkpoint '{{.*}}resumed.safetensors' is of seed 1 and task copy; resume with the same --seed and --task
// RUN: printf 'garbage' > %t/bad.safetensors
// RUN: not moa-train %t/lm.so --resume %t/bad.safetensors 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: moa-train: checkpoint '{{.*}}bad.safetensors':
// A history tensor of another type (same bytes) is refused, not misread.
// RUN: python3 %S/edit_checkpoint.py %t/resumed.safetensors %t/edited.safetensors history.loss I32
// RUN: not moa-train %t/lm.so --steps 50 --resume %t/edited.safetensors 2>&1 | FileCheck %s --check-prefix=EDITED
// EDITED: moa-train: checkpoint '{{.*}}edited.safetensors': its history.* tensors are not f32 with {{[0-9]+}} records each
// RUN: not moa-train %t/lm.so --task text 2>&1 | FileCheck %s --check-prefix=NOTEXT
// NOTEXT: moa-train: --task=text needs --text FILE
// RUN: not moa-train %t/lm.so --symbols 70 2>&1 | FileCheck %s --check-prefix=VOCAB
// VOCAB: moa-train: the data has 71 token ids, the model's vocabulary is 64
// RUN: not moa-train %t/lm.so --length 80 --steps 1 2>&1 | FileCheck %s --check-prefix=POS
// POS: moa-train: step 1: 'loss_train_step' failed: an embedding index (a token or a position id) is outside its table
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir -o %t/layer.so
// RUN: not moa-train %t/layer.so --entry moa_layer 2>&1 | FileCheck %s --check-prefix=NOSTEP
// NOSTEP: moa-train: module '{{.*}}layer.so' has no entry 'moa_layer_train_step' (compile it with --pre-pipeline='moa-generate-train-step{function=moa_layer}')

// A checkpoint that cannot be written is refused before any training when
// the path shows it (a directory, a device, a missing directory, a dangling
// link); a link to a checkpoint is resumed from and written through, and
// the link stays; a disk that fills up mid-write (a file size limit stands
// in for it) fails the run and leaves the old checkpoint as it was.
// RUN: rm -rf %t/out && mkdir -p %t/out/dir.safetensors
// RUN: not moa-train %t/lm.so --checkpoint %t/out/dir.safetensors 2>&1 | FileCheck %s --check-prefix=CKDIR
// RUN: not moa-train %t/lm.so --checkpoint /dev/full 2>&1 | FileCheck %s --check-prefix=CKDEV
// RUN: not moa-train %t/lm.so --checkpoint %t/out/missing/c.safetensors 2>&1 | FileCheck %s --check-prefix=CKMISSING
// RUN: not moa-train %t/lm.so --report %t/out/missing/r.svg 2>&1 | FileCheck %s --check-prefix=CKMISSING
// CKDIR: moa-train: cannot write '{{.*}}dir.safetensors': it exists and is not a regular file
// CKDEV: moa-train: cannot write '/dev/full': it exists and is not a regular file
// CKMISSING: moa-train: cannot write '{{.*}}missing/{{.*}}': output directory '{{.*}}missing': No such file or directory
// CKMISSING-NOT: step
// RUN: cp %t/straight.safetensors %t/out/c.safetensors && cp %t/straight.safetensors %t/out/c.orig
// RUN: ln -s c.safetensors %t/out/link.safetensors
// RUN: moa-train %t/lm.so --steps 42 --resume %t/out/link.safetensors --checkpoint %t/out/link.safetensors --eval-batches 0 | FileCheck %s --check-prefix=CKLINK
// RUN: test -L %t/out/link.safetensors
// RUN: not cmp %t/out/c.safetensors %t/out/c.orig
// CKLINK: trained steps 41..42
// RUN: cp %t/out/c.safetensors %t/out/c.orig
// RUN: not %python %S/../lib/limit.py file-size 100000 moa-train %t/lm.so --steps 44 --resume %t/out/c.safetensors --checkpoint %t/out/c.safetensors --eval-batches 0 2>&1 | FileCheck %s --check-prefix=CKFULL
// RUN: cmp %t/out/c.safetensors %t/out/c.orig
// CKFULL: moa-train: cannot write checkpoint '{{.*}}c.safetensors': File too large

// The gradient of the whole model, compiled, against finite differences of
// its compiled forward pass, one parameter tensor at a time.
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/lm_grad.so --pre-pipeline='moa-generate-gradients{functions=loss}'
// RUN: mkdir -p %t/fd && %python %S/model_fd_check.py %moa_tools/moa-run %t/lm_grad.so %t/fd | FileCheck %s --check-prefix=FD
// FD-NOT: FAIL
// FD: 16 parameters, 0 failed

// A resumed run must see the same data; a checkpoint past --steps trains
// nothing; --min-accuracy needs an evaluation.
// RUN: not moa-train %t/lm.so --batch 4 --resume %t/resumed.safetensors 2>&1 | FileCheck %s --check-prefix=DATA
// DATA: moa-train: checkpoint '{{.*}}resumed.safetensors' was trained on batch 16 length 16 symbols 12, not batch 4 length 16 symbols 12; resume with the same --batch, --length and data
// RUN: moa-train %t/lm.so --steps 30 --resume %t/resumed.safetensors --eval-batches 0 | FileCheck %s --check-prefix=DONE
// DONE: nothing to train: at step 40 of --steps 30
// DONE-NOT: trained steps
// RUN: not moa-train %t/lm.so --steps 2 --eval-batches 0 --min-accuracy 0.5 2>&1 | FileCheck %s --check-prefix=NOEVAL
// NOEVAL: moa-train: --min-accuracy needs an evaluation: --eval-batches > 0 and a 'logits' result of 'loss'
// Numbers that are not numbers: nan would switch the accuracy check off, a
// step count past int64 would saturate.
// RUN: not moa-train %t/lm.so --min-accuracy nan 2>&1 | FileCheck %s --check-prefix=NANACC
// RUN: not moa-train %t/lm.so --steps 99999999999999999999 2>&1 | FileCheck %s --check-prefix=BIGSTEPS
// NANACC: moa-train: bad value for --min-accuracy
// BIGSTEPS: moa-train: bad value for --steps

// Arguments are matched by name, whatever their order.
// RUN: moa-compile %S/Inputs/data_first.mlir -o %t/bigram.so --pre-pipeline='moa-generate-train-step{lr=1e-2 warmup-steps=0}'
// RUN: moa-train %t/bigram.so --steps 20 --log-every 10 | FileCheck %s --check-prefix=BIGRAM
// BIGRAM: step 20/20 | loss
// BIGRAM: held-out accuracy {{[0-9.]+}} on 8 batches

// Any stream of token ids (an i32 .npy) is a dataset too.
// RUN: %python -c "import numpy as n, sys; n.save(sys.argv[1], (n.arange(3000) * 7 % 50).astype(n.int32))" %t/ids.npy
// RUN: moa-train %t/lm.so --task tokens --text %t/ids.npy --length 24 --steps 10 --log-every 10 | FileCheck %s --check-prefix=IDS
// IDS: step 10/10
// RUN: %python -c "import numpy as n, sys; n.save(sys.argv[1], n.zeros(30, n.float32))" %t/f.npy
// RUN: not moa-train %t/lm.so --task tokens --text %t/f.npy 2>&1 | FileCheck %s --check-prefix=IDTYPE
// IDTYPE: moa-train: token file '{{.*}}f.npy' must hold a 1-D i32 array, not f32[30]
