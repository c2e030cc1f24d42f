"""Checks from two recording-mock logs of moa-train (STEPS_A and STEPS_B
steps, not logged in between) what crosses the bus per training step: the
difference of the runs is STEPS_B - STEPS_A plain steps. Per step, host to
device: the batch (tokens, positions, targets: 3 * BATCH * LENGTH i32) and
the f32 step number; device to host: the f32 loss and the i32 error word.
The rest of the host-to-device bytes is the state (parameters, m and v,
from the entry's signature in `moa-run --list`), uploaded once.

usage: transfer_bytes.py LIST LOG_A STEPS_A LOG_B STEPS_B BATCH LENGTH
"""
import re
import sys


def totals(path):
    sums = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"memcpy (H2D|D2H|D2D) (\d+) bytes", line)
            if m:
                sums[m.group(1)] = sums.get(m.group(1), 0) + int(m.group(2))
    return sums


def state_bytes(listing):
    with open(listing) as f:
        for line in f:
            if line.startswith("loss_train_step("):
                args = line[len("loss_train_step("):line.index(") ->")]
                shapes = re.findall(r"f32\[([0-9, ]*)\]", args)
                params = shapes[:(len(shapes) - 1) // 3 * 3]  # p, m, v
                total = 0
                for s in params:
                    n = 1
                    for d in s.split(","):
                        n *= int(d) if d.strip() else 1
                    total += 4 * n
                return total
    sys.exit("no loss_train_step in the listing")


listing, log_a, steps_a, log_b, steps_b, batch, length = sys.argv[1:]
steps_a, steps_b = int(steps_a), int(steps_b)
a, b = totals(log_a), totals(log_b)
steps = steps_b - steps_a
h2d = (b["H2D"] - a["H2D"]) / steps
d2h = (b["D2H"] - a["D2H"]) / steps
batch_bytes = 3 * int(batch) * int(length) * 4
print(f"per step: H2D {h2d:g} bytes (batch {batch_bytes} + step number 4), "
      f"D2H {d2h:g} bytes (loss 4 + error word 4)")
once = b["H2D"] - steps_b * h2d
print(f"uploaded once: {once:g} bytes (state {state_bytes(listing)})")
ok = (h2d == batch_bytes + 4 and d2h == 8 and once == state_bytes(listing))
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
