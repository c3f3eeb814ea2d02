#!/usr/bin/python3
"""Reader of one node for bench/fleet.py: reads FILE front to back in 1 MiB reads (what `dd bs=1M`
does), hashing every byte. Waits for a line on stdin before the first open, so that every node of a
fleet starts at once. Prints one JSON line: bytes, sha256, t0 (first open) and t1 (last byte) on
CLOCK_MONOTONIC (system-wide, so comparable between the readers), or error."""
import hashlib
import json
import sys
import time

from readloop import read_chunks

path = sys.argv[1]
sys.stdin.readline()
h = hashlib.sha256()
buf = bytearray(1 << 20)
mv = memoryview(buf)
n = 0
t0 = None
err = None
try:
    t0 = time.monotonic()
    for k in read_chunks(path, mv):
        h.update(mv[:k])
        n += k
except OSError as e:
    err = repr(e)
t1 = time.monotonic()
print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "t0": t0, "t1": t1, "error": err}), flush=True)
