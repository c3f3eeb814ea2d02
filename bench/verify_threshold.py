#!/usr/bin/env python3
"""What fetching a small file whole (to verify it before its first byte) costs a reader that wants
only a small part of it: the footer of a parquet file, the header of a safetensors file.

For files of 1..64 MiB it times a cold read of the last 64 KiB (a parquet footer) with
--verify-whole-max below the file's size (the file is streamed: only the blocks asked for come)
and above it (the whole file comes and is hashed first), over a simulated link: one CDN connection
capped at --rate MB/s with a first-byte delay of --delay-ms. Prints one row per size, the median of
--repeat interleaved runs. A benchmark, not a test: it prints numbers, it judges nothing.

    python3 bench/verify_threshold.py [--rate 100] [--delay-ms 20] [--repeat 3]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import Mount, Simulator  # noqa: E402

SIZES_MIB = [1, 2, 4, 8, 16, 32, 64]
REPO = "bench/sizes"
FOOTER = 64 * 1024


def fixture(path):
    files = {f"size_{m}M.parquet": {"random": {"size": m << 20, "seed": m}} for m in SIZES_MIB}
    fx = {"format": "hubsim-fixture/1", "lfs": {"threshold": 1024},
          "repos": [{"type": "model", "id": REPO,
                     "commits": [{"name": "c1", "date": "2024-05-01T00:00:00.000Z", "title": "sizes",
                                  "files": files}]}]}
    with open(path, "w") as f:
        json.dump(fx, f)


def footer_ms(sim, name, size, whole_max):
    with Mount(sim, REPO, "--verify-whole-max", whole_max, "--no-prefetch") as m:
        t = time.perf_counter()
        with open(m.path(name), "rb", buffering=0) as f:
            f.seek(size - FOOTER)
            got = f.read(FOOTER)
        ms = (time.perf_counter() - t) * 1000
        assert len(got) == FOOTER
        return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=100, help="MB/s of one CDN connection")
    ap.add_argument("--delay-ms", type=int, default=20, help="first-byte delay of every CDN answer")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hffs-vt-") as tmp:
        fx = os.path.join(tmp, "sizes.json")
        fixture(fx)
        sim = Simulator("verify-threshold", "--repos", fx, "--cdn-rate", str(int(a.rate * 1e6)),
                        "--cdn-delay-ms", str(a.delay_ms))
        try:
            sim.start()
            print(f"# cold read of the last 64 KiB; one CDN connection at {a.rate:g} MB/s, "
                  f"{a.delay_ms} ms first-byte delay; median of {a.repeat}")
            print("| file | streamed (only the blocks asked) | fetched whole + verified first | extra |")
            print("|---|---|---|---|")
            for m in SIZES_MIB:
                name, size = f"size_{m}M.parquet", m << 20
                streamed, whole = [], []
                for _ in range(a.repeat):
                    streamed.append(footer_ms(sim, name, size, "512K"))
                    whole.append(footer_ms(sim, name, size, "1G"))
                s, w = statistics.median(streamed), statistics.median(whole)
                print(f"| {m} MiB | {s:.0f} ms | {w:.0f} ms | +{w - s:.0f} ms ({w / s:.1f}x) |", flush=True)
        finally:
            sim.cleanup()


if __name__ == "__main__":
    main()
