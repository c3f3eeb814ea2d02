#!/usr/bin/python3
"""Parallel loaders for bench/run.sh (issue 15): one process per FILE, each reads its file front to
back in 1 MiB reads; all are released at once (a barrier after every process is up). Prints one
line: "<bytes> <seconds> <slowest/fastest rate>" where seconds run from the first open to the last
byte of any process and a process's rate is its bytes over its own open-to-last-byte time."""
import multiprocessing as mp
import sys
import time

from readloop import read_chunks


def load(path, barrier, q):
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    barrier.wait()
    t0 = time.monotonic()
    n = 0
    try:
        for k in read_chunks(path, mv):
            n += k
    except OSError:
        pass
    q.put((n, t0, time.monotonic()))


files = sys.argv[1:]
barrier = mp.Barrier(len(files))
q = mp.Queue()
ps = [mp.Process(target=load, args=(f, barrier, q)) for f in files]
for p in ps:
    p.start()
res = [q.get() for _ in ps]
for p in ps:
    p.join()
total = sum(r[0] for r in res)
wall = max(r[2] for r in res) - min(r[1] for r in res)
rates = [r[0] / (r[2] - r[1]) for r in res]
print(total, f"{wall:.4f}", f"{min(rates) / max(rates) if max(rates) > 0 else 0:.3f}")
