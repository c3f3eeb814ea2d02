#!/usr/bin/env python3
"""Failover under load: the preferred endpoint dies in the middle of a large sequential read.

Two simulators serve the same fixture (one file of --size-mib), each with its own CDN capped per
connection (--rate MB/s, --delay-ms first-byte delay). hffs mounts with `--endpoint A --endpoint B`;
a reader reads the file front to back in 1 MiB reads; once a third of it has been read, A's whole
process group is killed (SIGKILL: connections cut mid-body, new ones refused). Prints, per run:

  kill -> B's first request   time from the kill to the first request B receives (the decision)
  reader stall                the longest wait of the reader for one 1 MiB read after the kill
  throughput                  MB/s over the whole read, beside the same read with no kill
  sha256                      of every byte read, against the manifest

A benchmark: it prints numbers, it judges nothing (the sha256 line says "MISMATCH" if it must).

    python3 bench/failover.py [--size-mib 2048] [--runs 3] [--rate 100] [--delay-ms 20] [--hffs BIN]
"""
import argparse
import hashlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
from harness import launch  # noqa: E402

REPO = "bench/failover"


def read_all(path, kill_at=None, on_kill=None):
    """Reads `path` in 1 MiB reads; calls on_kill() once `kill_at` bytes are in. Returns
    (seconds, sha256, [(t_done, bytes)] per read, t_kill)."""
    h = hashlib.sha256()
    marks = []
    t_kill = None
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
            marks.append((time.perf_counter(), n))
            if kill_at is not None and t_kill is None and n >= kill_at:
                t_kill = time.perf_counter()
                on_kill()
    return time.perf_counter() - t0, h.hexdigest(), marks, t_kill


def kill_group(sim):
    os.killpg(int(sim.env["HUBSIM_PID"]), signal.SIGKILL)


def first_request_time(sim):
    log = sim.stats()["log"]
    return min((e["t"] for e in log), default=None)


def one_run(sims, size, want_sha, kill):
    a, b = sims
    args = ["--endpoint", a.endpoint, "--endpoint", b.endpoint, "--stall-timeout", "5"]
    with harness.Mount(a, REPO, *args) as m:
        os.system("echo 3 > /proc/sys/vm/drop_caches")
        b.reset()
        wall_kill = []

        def do_kill():
            wall_kill.append(time.time())
            kill_group(a)

        dt, sha, marks, t_kill = read_all(m.path("weights.bin"), size // 3 if kill else None, do_kill)
        res = {"mbs": size / dt / 1e6, "sha_ok": sha == want_sha}
        if kill:
            first_b = first_request_time(b)
            res["decision_s"] = (first_b - wall_kill[0]) if first_b else float("nan")
            after = [t for t, _ in marks if t >= t_kill]
            gaps = [y - x for x, y in zip([t_kill] + after, after)]
            res["stall_s"] = max(gaps) if gaps else float("nan")
    return res


def start_pair(fx, rate, delay_ms, cache_dir):
    """Two endpoints on their own loopback addresses, each with its CDN, sharing the content."""
    return launch.start_endpoints(2, "--repos", fx, "--cdn-rate", str(int(rate * 1e6)), "--cdn-delay-ms",
                                  str(delay_ms), cache_dir=cache_dir, name="bench-fo", prefix="hffs-bench-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100, help="MB/s per CDN connection")
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--hffs", default=None)
    a = ap.parse_args()
    if a.hffs:
        harness.HFFS = a.hffs
    size = a.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="hffs-fo-") as tmp:
        fx = os.path.join(tmp, "fo.json")
        with open(fx, "w") as f:
            json.dump({"format": "hubsim-fixture/1", "repos": [{"type": "model", "id": REPO, "commits": [
                {"name": "c1", "date": "2024-05-01T00:00:00.000Z", "title": "fo",
                 "files": {"weights.bin": {"random": {"size": size, "seed": 9}}}}]}]}, f)
        results = {"no kill": [], "kill": []}
        for r in range(a.runs):
            for mode in ("no kill", "kill"):
                sims = start_pair(fx, a.rate, a.delay_ms, os.path.join(tmp, "content"))
                try:
                    want = sims[0].files(REPO)[0]["weights.bin"]["sha256"]
                    res = one_run(sims, size, want, mode == "kill")
                finally:
                    for s in sims:
                        s.cleanup()
                results[mode].append(res)
                extra = (f", kill -> B's first request {res['decision_s'] * 1000:.0f} ms, "
                         f"reader stall {res['stall_s'] * 1000:.0f} ms") if mode == "kill" else ""
                print(f"run {r + 1} {mode}: {res['mbs']:.0f} MB/s{extra}, sha256 "
                      f"{'ok' if res['sha_ok'] else 'MISMATCH'}", flush=True)
        print(f"\n{a.size_mib} MiB sequential, 2 endpoints, CDN {a.rate:.0f} MB/s per connection, "
              f"{a.delay_ms} ms first byte; medians of {a.runs} interleaved runs:")
        for mode in ("no kill", "kill"):
            rs = results[mode]
            line = f"  {mode:8s} {statistics.median(x['mbs'] for x in rs):6.0f} MB/s"
            if mode == "kill":
                line += (f"   kill -> B's first request {statistics.median(x['decision_s'] for x in rs) * 1000:.0f} ms"
                         f"   reader stall {statistics.median(x['stall_s'] for x in rs) * 1000:.0f} ms")
            line += f"   sha256 {'ok' if all(x['sha_ok'] for x in rs) else 'MISMATCH'}"
            print(line)


if __name__ == "__main__":
    main()
