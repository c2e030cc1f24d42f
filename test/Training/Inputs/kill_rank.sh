#!/usr/bin/env bash
# Starts a 2-rank data-parallel moa-train job that saves a checkpoint every
# 10 steps, kills rank 1 once the first checkpoint exists, and reports how
# long the job took to end and with which status. Then it checks that the
# checkpoint is whole: a one-process run resumes from it for 5 more steps.
#
# usage: kill_rank.sh "MPIRUN" MOA_TRAIN TWO_RANK_MODULE ONE_RANK_MODULE DIR
set -u
mpirun_cmd=$1 train=$2 two=$3 one=$4 dir=$5
checkpoint=$dir/killed.safetensors
rm -f "$checkpoint"
OMP_NUM_THREADS=1 $mpirun_cmd -np 2 "$train" "$two" --steps 100000 --batch 16 \
  --save-every 10 --log-every 100000 --checkpoint "$checkpoint" \
  --eval-batches 0 >"$dir/killed.log" 2>&1 &
job=$!
for _ in $(seq 300); do [ -f "$checkpoint" ] && break; sleep 0.1; done
[ -f "$checkpoint" ] || { echo "no checkpoint was written"; kill -9 $job; exit 1; }
victim=""
# The ranks are mpirun's children (read from /proc: no procps needed).
for pid in $(awk -v parent=$job '$4 == parent { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do
  if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
    victim=$pid
  fi
done
[ -n "$victim" ] || { echo "rank 1 not found"; kill -9 $job; exit 1; }
start=$(date +%s.%N)
kill -9 "$victim"
for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
if kill -0 $job 2>/dev/null; then
  echo "the job still runs 30 s after rank 1 was killed"
  kill -9 $job
  exit 1
fi
wait $job
status=$?
seconds=$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $start }")
echo "rank 1 killed: the job ended with status $status after $seconds s"
step=$(/usr/bin/env python3 -c "
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
size = struct.unpack('<Q', data[:8])[0]
print(json.loads(data[8:8 + size])['__metadata__']['step'])" "$checkpoint")
echo "last checkpoint at step $step"
OMP_NUM_THREADS=1 "$train" "$one" --resume "$checkpoint" --steps $((step + 5)) \
  --batch 16 --eval-batches 0 --log-every 5
