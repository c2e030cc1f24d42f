// The emulator's producer/consumer synchronisation (Inputs/handoff.mlir):
// mbarrier.arrive (expected arrivals completing a phase), phase parities
// over a ring of two slots reused four times, and bar.sync with a barrier
// id and a thread count (the consumers' 64 of the block's 96 threads).
// Right against float64 sums; a named barrier declared for more threads
// than reach it (with one row, so that only the consumers wait) and an
// mbarrier expecting more arrivals than it gets both hang a GPU and are
// reported here (in the second, the producer waiting on `empty` and the
// consumers on the `full` phase it never loads both hang; whichever waiter
// the host's scheduling lets time out first reports).
// RUN: rm -rf %t && mkdir -p %t/out
// RUN: %python %S/Inputs/handoff_check.py make %t/x.npy
// RUN: moa-compile %S/Inputs/handoff.mlir --target=cuda --emulate-gpu -o %t/handoff.so
// RUN: moa-run %t/handoff.so handoff %t/x.npy -o %t/out > /dev/null
// RUN: %python %S/Inputs/handoff_check.py check %t/x.npy %t/out/out0.npy | FileCheck %s --check-prefix=RIGHT

// RUN: sed -e 's/%consumers = arith.constant 64/%consumers = arith.constant 96/' -e 's/to %c8 step/to %c1 step/g' %S/Inputs/handoff.mlir > %t/count.mlir
// RUN: moa-compile %t/count.mlir --target=cuda --emulate-gpu -o %t/count.so
// RUN: env MOA_EMU_HANG_SECONDS=2 not --crash moa-run %t/count.so handoff %t/x.npy -o %t/out 2>&1 | FileCheck %s --check-prefix=BARRIER

// RUN: sed 's/%empty\[%c\([01]\)\], %c2/%empty[%c\1], %c8/' %S/Inputs/handoff.mlir > %t/arrivals.mlir
// RUN: moa-compile %t/arrivals.mlir --target=cuda --emulate-gpu -o %t/arrivals.so
// RUN: env MOA_EMU_HANG_SECONDS=2 not --crash moa-run %t/arrivals.so handoff %t/x.npy -o %t/out 2>&1 | FileCheck %s --check-prefix=ARRIVALS

// RIGHT: handoff: 64 column sums, max relative error {{.*}}: ok
// BARRIER: moa GPU emulator: thread {{[0-9]+}} waits at a barrier that never completes (64 of its 96 threads arrived)
// ARRIVALS: moa GPU emulator: thread {{[0-9]+}} waits on an mbarrier phase that never completes (parity {{[01]}})
