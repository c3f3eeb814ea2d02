#!/usr/bin/env python3
"""A/B of the cold sequential read: two hffs binaries, interleaved runs, the median of each.

Reads one file (default 1 GiB) front to back through a fresh mount and cache with each binary in
turn, over the simulator's CDN (per-connection cap --rate MB/s, --delay-ms first-byte delay), and
prints MB/s and the daemon's CPU seconds per GiB for each. A benchmark: it prints numbers, it
judges nothing. Used to price a change of the read path (e.g. hashing as data arrives).

    python3 bench/ab_cold.py OLD_HFFS NEW_HFFS [--size-mib 1024] [--runs 5] [--rate 100] [--delay-ms 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

REPO = "bench/ab"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(sim, binary, size):
    harness.HFFS = binary
    with harness.Mount(sim, REPO) as m:
        pid = m.daemon_pid()
        subprocess.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"], check=False)
        c0 = cpu_seconds(pid)
        t = time.perf_counter()
        n = 0
        with open(m.path("weights.bin"), "rb", buffering=0) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                n += len(b)
        dt = time.perf_counter() - t
        cpu = cpu_seconds(pid) - c0
        assert n == size
        return size / dt / 1e6, cpu / (size / (1 << 30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--delay-ms", type=int, default=20)
    a = ap.parse_args()
    size = a.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="hffs-ab-") as tmp:
        fx = os.path.join(tmp, "ab.json")
        with open(fx, "w") as f:
            json.dump({"format": "hubsim-fixture/1", "repos": [{"type": "model", "id": REPO, "commits": [
                {"name": "c1", "date": "2024-05-01T00:00:00.000Z", "title": "ab",
                 "files": {"weights.bin": {"random": {"size": size, "seed": 7}}}}]}]}, f)
        sim = harness.Simulator("ab", "--repos", fx, "--cdn-rate", str(int(a.rate * 1e6)),
                                "--cdn-delay-ms", str(a.delay_ms))
        try:
            sim.start()
            res = {"old": [], "new": []}
            for r in range(a.runs):
                for which in ("old", "new"):
                    mbs, cpu = one_run(sim, getattr(a, which), size)
                    res[which].append((mbs, cpu))
                    print(f"run {r + 1} {which}: {mbs:.0f} MB/s, {cpu:.2f} s CPU/GiB", flush=True)
            for which in ("old", "new"):
                print(f"{which}: median {statistics.median(x[0] for x in res[which]):.0f} MB/s, "
                      f"{statistics.median(x[1] for x in res[which]):.2f} s CPU/GiB")
        finally:
            sim.cleanup()


if __name__ == "__main__":
    main()
