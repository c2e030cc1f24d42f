// The fidelity benchmark's plumbing (bench/fidelity, --quick): the King
// James Bible split by book with no held-out verse in the training text, a
// small MHA and MoA model compiled with their training steps, trained with
// moa-train on the training books and evaluated on the held-out ones (bits
// per character), a run interrupted halfway and resumed from its checkpoint
// ending exactly where the straight run did, and the table and SVG written.
// It checks the plumbing, not the paper's claim (bench/RESULTS.md has that).
// REQUIRES: bible-kjv
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %moa_src_root/bench/fidelity/make_corpus.py %t/corpus | FileCheck %s --check-prefix=SPLIT
// RUN: %python %moa_src_root/bench/fidelity/make_corpus.py --check %t/corpus | FileCheck %s --check-prefix=CHECKED
// RUN: %python %moa_src_root/bench/fidelity/fidelity.py --bin %moa_tools --work %t/work --corpus %t/corpus --quick | FileCheck %s
// RUN: FileCheck %s --check-prefix=SVG < %t/work/fidelity.svg

// SPLIT: held-out books: Ruth Neh Jer Jonah Mat Gal Titus 3Jn
// SPLIT: 66 books; {{[0-9]+}} training verses, {{[0-9]+}} held-out verses
// CHECKED: held-out lines {{[1-9][0-9]*}}, also in training 0, characters training lacks 0
// CHECK: MHA H=2 h=16 seed 1: held-out {{[0-9.]+}} bits/char
// CHECK: MoA E=4 k=2 h=16 seed 2: held-out {{[0-9.]+}} bits/char
// CHECK: resumed run equals the straight run: True
// CHECK: | model | params | MACs/token |
// CHECK: | MHA H=2 h=16 | {{[0-9,]+}} | {{[0-9,]+}} | {{[0-9.]+}} |
// CHECK: | MoA E=4 k=2 h=16 | {{[0-9,]+}} | {{[0-9,]+}} | {{[0-9.]+}} |
// SVG: <svg
// SVG: <polyline
// SVG: MoA E=4 k=2 h=16
