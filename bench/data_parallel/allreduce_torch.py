"""torch.distributed.all_reduce (gloo, the CPU backend of PyTorch's
DistributedDataParallel) of N float32 over 2 processes on this host:
prints the median milliseconds of 200 calls (rank 0's, after 20 warm-up
calls). usage: allreduce_torch.py N"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, n, port, queue):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    x = torch.rand(n)
    times = []
    for i in range(220):
        start = time.perf_counter()
        dist.all_reduce(x)
        if i >= 20:
            times.append(time.perf_counter() - start)
    dist.barrier()
    if rank == 0:
        queue.put(1e3 * sorted(times)[len(times) // 2])
    dist.destroy_process_group()


if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = 29500 + os.getpid() % 1000
    procs = [ctx.Process(target=worker, args=(r, n, port, queue)) for r in range(2)]
    for proc in procs:
        proc.start()
    result = queue.get(timeout=120)
    for proc in procs:
        proc.join()
    print(f"{result:.4f}")
