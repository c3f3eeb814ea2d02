#!/usr/bin/python3
"""Sequential reader for bench/run.sh: read() loops of 1 MiB (what `dd bs=1M` does), one thread per
file, all files at once. Stops at EOF or after --cap seconds. Prints one line: "<bytes> <seconds>"
(wall time from the first open to the last byte)."""
import argparse
import os
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--cap", type=float, default=0, help="stop after this many seconds (0 = read to EOF)")
ap.add_argument("--bs", type=int, default=1 << 20)
ap.add_argument("files", nargs="+")
a = ap.parse_args()
total = [0] * len(a.files)
t0 = time.monotonic()
deadline = t0 + a.cap if a.cap > 0 else None


def run(i, path):
    buf = bytearray(a.bs)
    mv = memoryview(buf)
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [mv])
            if n <= 0:
                break
            total[i] += n
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        os.close(fd)


ts = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(a.files)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(total), f"{time.monotonic() - t0:.4f}")
