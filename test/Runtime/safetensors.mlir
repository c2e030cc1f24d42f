// safetensors checkpoints (runtime/SafeTensors.h): round trips, the errors
// of malformed files, and files checked by / written by an independent
// reader in Python (safetensors_check.py, standard library only).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-safetensors-test %t | FileCheck %s
// RUN: python3 %S/safetensors_check.py dump %t/fixed.safetensors | FileCheck %s --check-prefix=PY
// RUN: python3 %S/safetensors_check.py dump %t/round.safetensors | FileCheck %s --check-prefix=ROUND
// RUN: python3 %S/safetensors_check.py write %t/py.safetensors
// RUN: moa-safetensors-test --dump %t/py.safetensors | FileCheck %s --check-prefix=DUMP

// CHECK: round trip 0: 36 of 36 tensors identical, 4 metadata
// CHECK: round trip 1: 36 of 36 tensors identical, 4 metadata
// CHECK: missing: cannot open checkpoint 'missing.safetensors'
// CHECK: short: checkpoint 'short.safetensors': the file has 3 bytes, fewer than the 8 of the header size
// CHECK: truncated: checkpoint 'truncated.safetensors': tensor 'b' has data_offsets [8, 12] past the end of the data (10 bytes; is the file truncated?)
// CHECK: header-past-end: checkpoint 'header-past-end.safetensors': the header size 1000 runs past the end of the file (128 bytes)
// CHECK: header-huge: {{.*}}: the header size 9223372036854775808 runs past the end of the file
// CHECK: empty-header: {{.*}}: malformed header JSON at byte 0: unexpected end of the header
// CHECK: not-object: {{.*}}: the header is not a JSON object
// CHECK: bad-json-comma: {{.*}}: malformed header JSON at byte 8: expected a string key
// CHECK: bad-json-unterminated: {{.*}}: malformed header JSON at byte 18: unterminated string
// CHECK: bad-json-escape: {{.*}}: malformed header JSON at byte 4: bad escape '\q'
// CHECK: bad-json-float: {{.*}}: malformed header JSON at byte 30: expected an integer
// CHECK: bad-json-trailing: {{.*}}: malformed header JSON at byte 108: unexpected text after the header
// CHECK: bad-json-duplicate: {{.*}}: malformed header JSON at byte 57: duplicate key 'a'
// CHECK: bad-json-deep: {{.*}}: malformed header JSON at byte 33: nested too deeply
// CHECK: bad-json-surrogate: {{.*}}: malformed header JSON at byte 8: unpaired surrogate in a \u escape
// CHECK: bad-utf8: {{.*}}: the header is not valid UTF-8
// CHECK: unknown-dtype: checkpoint 'unknown-dtype.safetensors': tensor 'a' has dtype 'F64', which moa does not read (F32, F16, BF16, I32, BOOL)
// CHECK: no-dtype: {{.*}}: tensor 'a' has no string 'dtype'
// CHECK: negative-shape: {{.*}}: tensor 'a' has shape [2, -1], with a negative size or too many elements
// CHECK: huge-shape: {{.*}}: tensor 'a' has shape [1000000000, 1000000000], with a negative size or too many elements
// CHECK: offsets-past-end: {{.*}}: tensor 'b' has data_offsets [8, 408] past the end of the data (16 bytes; is the file truncated?)
// CHECK: offsets-reversed: {{.*}}: tensor 'a' has data_offsets [4, 0], which are not an interval
// CHECK: offsets-not-pair: {{.*}}: tensor 'a' has no 'data_offsets' pair of integers
// CHECK: size-mismatch: checkpoint 'size-mismatch.safetensors': tensor 'w_q' has 92 bytes, F32 shape [2, 3, 4] needs 96
// CHECK: overlap: checkpoint 'overlap.safetensors': tensors 'a' [0, 16] and 'b' [8, 24] overlap
// CHECK: hole: {{.*}}: bytes [4, 8] of the data belong to no tensor
// CHECK: trailing-data: {{.*}}: bytes [4, 12] of the data belong to no tensor
// CHECK: metadata-not-string: {{.*}}: metadata 'step' is not a string
// CHECK: bool-value: {{.*}}: BOOL tensor 'm' holds the byte 2 at element 2
// CHECK: write-duplicate: cannot write checkpoint 'dup.safetensors': tensor name 'x' is used twice
// CHECK: write-missing-dir: cannot write checkpoint 'no/such/dir/x.safetensors': No such file or directory
// CHECK: write-onto-dir: cannot write checkpoint 'dir.safetensors': it exists and is not a regular file
// CHECK: 0 failures

// bf16 257 rounds to even (256), 259 to 260.
// PY: metadata model = moa "tiny"
// PY-NEXT: metadata step = 7
// PY-NEXT: w_q F32 [2, 3, 4]: 0.5 1.5 2.5 3.5
// PY-NEXT: router.bias F16 [3]: -1 0 1
// PY-NEXT: embed BF16 [2, 2]: 256 256 258 260
// PY-NEXT: token_ids I32 [5]: -2 -1 0 1
// PY-NEXT: mask BOOL [2, 3]: 0 1 0 1
// PY-NEXT: empty F32 [0, 4]:

// ROUND: metadata  =
// ROUND: metadata format = pt
// ROUND: metadata quote"back\slash = line
// ROUND-NEXT: break{{.}}tab{{.}} €
// ROUND: metadata step = 1200
// ROUND: f32.0 F32 []:
// ROUND: f16.10 F16 [3, 5]:
// ROUND: bf16.16 BF16 [7]:
// ROUND: i32.26 I32 [0, 3]:
// ROUND: i1.34 BOOL [2, 1, 3, 2]:
// ROUND: layer "0"\w_q
// ROUND-NEXT: {{.}} é😀 F32 [4, 4]:

// DUMP: metadata format = pt
// DUMP-NEXT: metadata note = café "x"
// DUMP-NEXT: z.last i32 [2]: 7 -7
// DUMP-NEXT: a.first f32 [2, 2]: 0.25 0.5 1 2
// DUMP-NEXT: h f16 [3]: 1 -0.5 65504
// DUMP-NEXT: b bf16 [3]: 1.5 -2 3
// DUMP-NEXT: m i1 [4]: 1 0 0 1
