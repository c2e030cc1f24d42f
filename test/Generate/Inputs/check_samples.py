#!/usr/bin/env python3
"""Checks moa-generate's sampled ids (stdin, `generated ids:` lines) for
logits 2, 1, 0.5, 0, -1, -2 at temperature T after top-k K / top-p P: every
id is in the allowed set, and each allowed id's count is within 5 standard
deviations of its expected count. T K P."""
import math
import sys

temperature, top_k, top_p = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
logits = [2.0, 1.0, 0.5, 0.0, -1.0, -2.0]
weights = [math.exp(l / temperature) for l in logits]
if top_k:
    weights = weights[:top_k]
total, kept, allowed = sum(weights), 0.0, []
for w in weights:
    if allowed and kept >= top_p * total:
        break
    allowed.append(w)
    kept += w
probs = [w / kept for w in allowed]
ids = []
for line in sys.stdin:
    if line.startswith("generated ids:"):
        ids += [int(x) for x in line.split(":")[1].split(",")]
n = len(ids)
bad = [i for i in ids if i >= len(probs)]
print(f"{n} samples, allowed ids 0..{len(probs) - 1}, outside: {len(bad)}")
ok = not bad and n > 0
for i, p in enumerate(probs):
    count = ids.count(i)
    sigma = math.sqrt(n * p * (1 - p)) or 1.0
    within = abs(count - n * p) <= 5 * sigma
    ok = ok and within
    print(f"id {i}: {count} (expected {n * p:.1f}) {'ok' if within else 'OFF'}")
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
