#!/usr/bin/python3
"""timed.py OUT -- CMD...: runs CMD, writes "<wall seconds> <cpu seconds of CMD and its children>" to OUT,
exits with CMD's status."""
import resource
import subprocess
import sys
import time

out, cmd = sys.argv[1], sys.argv[3:]
t0 = time.monotonic()
rc = subprocess.call(cmd)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write(f"{wall:.4f} {ru.ru_utime + ru.ru_stime:.4f}\n")
sys.exit(rc)
