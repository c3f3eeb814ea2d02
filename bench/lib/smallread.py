#!/usr/bin/python3
"""Small-file reader for bench/run.sh (issue 15): reads every file of LIST (one "relpath size" line
each) under ROOT whole, with --threads threads taking files from one shared queue (each read() loop
of 64 KiB until EOF). Prints one line: "<files> <bytes> <seconds> <errors>" (wall time from the
first open to the last close); a file that cannot be opened or whose length differs from the
list's size counts as an error."""
import argparse
import os
import threading
import time

from readloop import read_chunks

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=8)
ap.add_argument("root")
ap.add_argument("list")
a = ap.parse_args()
todo = []
with open(a.list) as f:
    for line in f:
        p, s = line.rstrip("\n").rsplit(" ", 1)
        todo.append((os.path.join(a.root, p), int(s)))
lock = threading.Lock()
state = {"next": 0, "files": 0, "bytes": 0, "errors": 0}


def run():
    buf = bytearray(64 << 10)
    mv = memoryview(buf)
    while True:
        with lock:
            i = state["next"]
            state["next"] += 1
        if i >= len(todo):
            return
        path, size = todo[i]
        n = 0
        try:
            for k in read_chunks(path, mv):
                n += k
        except OSError:
            n = -1
        with lock:
            state["files"] += 1
            state["bytes"] += max(n, 0)
            state["errors"] += n != size


t0 = time.monotonic()
ts = [threading.Thread(target=run) for _ in range(a.threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(state["files"], state["bytes"], f"{time.monotonic() - t0:.4f}", state["errors"])
