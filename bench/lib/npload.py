#!/usr/bin/python3
"""numpy memmap load of every tensor of a safetensors file, in file order (bench/run.sh).

The file is mapped once (np.memmap, read-only); each tensor's bytes are copied out of the mapping in
64 MiB slices into one reused buffer, so every page is faulted in through the mapping exactly as a
loader that copies tensors would, without timing 2 GiB of fresh anonymous memory as well.
Prints "<bytes> <seconds> <tensors>". Run with /usr/bin/python3 (it has numpy)."""
import json
import struct
import sys
import time

import numpy as np

path = sys.argv[1]
t0 = time.monotonic()
with open(path, "rb") as f:
    (hlen,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(hlen))
header.pop("__metadata__", None)
base = 8 + hlen
mm = np.memmap(path, dtype=np.uint8, mode="r")
chunk = 64 << 20
buf = np.empty(chunk, dtype=np.uint8)
total = 0
for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    a, b = t["data_offsets"]
    view = mm[base + a: base + b]
    for off in range(0, b - a, chunk):
        part = view[off: off + chunk]
        np.copyto(buf[: len(part)], part)
    total += b - a
dt = time.monotonic() - t0
del mm
print(total, f"{dt:.4f}", len(header))
