#!/usr/bin/env python3
"""Random reads and parallel loaders over a real RTT: hffs binaries side by side, interleaved runs.

Two shapes of work from issue 15, each through a fresh mount and cache per run, over the
simulator's CDN (per-connection cap --rate MB/s, --delay-ms first-byte delay):

  rand:    fio, --jobs jobs of 1 MiB random reads of one 2 GiB file (as bench/run.sh), each job
           --fio-mib MiB in a region of its own with fio's random map on: no block is read twice,
           so every read is cold. MB/s, p50 and p99 latency, over-fetch = bytes the CDN sent /
           bytes fio read, and the read-ahead parts hffs issued.
  loaders: 8 processes, each reading its own 256 MiB shard front to back: aggregate MB/s, the
           slowest/fastest process rate, CDN bytes / bytes read, CDN requests, and the CPU seconds
           per GiB of the fetcher (the hffs daemon; aria2c). With --aria2c the same 8 files fetched
           by `aria2c -j8` (one connection per file) in the same rounds.

Prints each run and the median of each binary. A benchmark: it prints numbers, it judges nothing.

    python3 bench/randload.py HFFS [HFFS...] [--rows rand,loaders] [--runs 3] [--aria2c]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

REPO = "bench/randload"
BIG = "weights.bin"
SHARDS = [f"shard-{i}.bin" for i in range(8)]


def fixture(path, big_mib, shard_mib):
    files = {BIG: {"random": {"size": big_mib << 20, "seed": 11}}}
    for i, s in enumerate(SHARDS):
        files[s] = {"random": {"size": shard_mib << 20, "seed": 100 + i}}
    with open(path, "w") as f:
        json.dump({"format": "hubsim-fixture/1", "repos": [{"type": "model", "id": REPO, "commits": [
            {"name": "c1", "date": "2024-05-01T00:00:00.000Z", "title": "randload", "files": files}]}]}, f)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def drop_caches():
    subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], check=False)


def cdn_bytes(sim):
    return sim.stats(log=False)["bytes_by_host"]["cdn"]


def cdn_gets(sim):
    return sim.stats(log=False)["by_kind"].get("cdn", 0)


def reset(sim):
    sim.reset()


def fio_rand(sim, binary, jobs, big_mib, per_job, tmp):
    region = big_mib // jobs
    harness.HFFS = binary
    with harness.Mount(sim, REPO, root=tmp) as m:
        drop_caches()
        reset(sim)
        out = os.path.join(tmp, "fio.json")
        subprocess.run(["fio", "--name=r", f"--filename={m.path(BIG)}", "--readonly", "--rw=randread", "--bs=1m",
                        "--ioengine=psync", f"--numjobs={jobs}", f"--size={region}m", f"--offset_increment={region}m",
                        f"--io_size={per_job}m",
                        "--group_reporting", "--randrepeat=0", "--invalidate=0",
                        "--output-format=json", f"--output={out}"], check=True, capture_output=True, timeout=600)
        j = json.load(open(out))["jobs"][0]["read"]
        served = cdn_bytes(sim)
        parts = prefetch_parts(m.dir)
    pc = j["clat_ns"]["percentile"]
    return {"mbps": j["bw_bytes"] / 1e6, "p50": pc["50.000000"] / 1e6, "p99": pc["99.000000"] / 1e6,
            "over": served / max(1, j["io_bytes"]), "parts": parts}


def prefetch_parts(mnt):
    """Read-ahead parts the daemon issued (its metrics, on the root's xattr)."""
    text = os.getxattr(mnt, "user.hffs.metrics").decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("hffs_prefetch_parts_total") and 'result="issued"' in line)


READER = r"""
import sys, time
t = time.perf_counter(); n = 0
with open(sys.argv[1], "rb", buffering=0) as f:
    while True:
        b = f.read(1 << 20)
        if not b: break
        n += len(b)
print(n, time.perf_counter() - t)
"""


def loaders(sim, binary, tmp):
    harness.HFFS = binary
    with harness.Mount(sim, REPO, root=tmp) as m:
        for s in SHARDS:  # lookups and opens are not what this measures
            os.stat(m.path(s))
        drop_caches()
        reset(sim)
        pid = m.daemon_pid()
        c0 = cpu_seconds(pid)
        t = time.perf_counter()
        ps = [subprocess.Popen([sys.executable, "-c", READER, m.path(s)], stdout=subprocess.PIPE, text=True)
              for s in SHARDS]
        outs = [p.communicate(timeout=600)[0].split() for p in ps]
        wall = time.perf_counter() - t
        cpu = cpu_seconds(pid) - c0
        served, gets = cdn_bytes(sim), cdn_gets(sim)
    total = sum(int(o[0]) for o in outs)
    rates = [int(o[0]) / float(o[1]) for o in outs]
    return {"mbps": total / wall / 1e6, "fair": min(rates) / max(rates), "over": served / total, "gets": gets,
            "cpu/GiB": cpu / (total / (1 << 30))}


def aria2c(sim, tmp):
    d = os.path.join(tmp, "aria")
    os.makedirs(d, exist_ok=True)
    urls = os.path.join(tmp, "urls")
    with open(urls, "w") as f:
        for s in SHARDS:
            f.write(f"{sim.endpoint}/{REPO}/resolve/main/{s}\n  out={s}\n")
    reset(sim)
    c0 = children_cpu()
    t = time.perf_counter()
    subprocess.run(["aria2c", "-q", "-j8", "-x1", "-s1", "--allow-overwrite=true", "--file-allocation=none",
                    "-d", d, "-i", urls], check=True, timeout=600)
    wall = time.perf_counter() - t
    cpu = children_cpu() - c0
    total = sum(os.path.getsize(os.path.join(d, s)) for s in SHARDS)
    for s in SHARDS:
        os.unlink(os.path.join(d, s))
    return {"mbps": total / wall / 1e6, "fair": 1.0, "over": cdn_bytes(sim) / total, "gets": cdn_gets(sim),
            "cpu/GiB": cpu / (total / (1 << 30))}


def show(tag, r):
    return f"{tag}: " + ", ".join(f"{k} {v:.3g}" for k, v in r.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rows", default="rand,loaders")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--fio-mib", type=int, default=256, help="MiB each fio job reads")
    ap.add_argument("--big-mib", type=int, default=2048)
    ap.add_argument("--shard-mib", type=int, default=256)
    ap.add_argument("--aria2c", action="store_true")
    a = ap.parse_args()
    rows = a.rows.split(",")
    os.makedirs("/tmp/rand15-bench", exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rand15-bench-", dir="/tmp") as tmp:
        fx = os.path.join(tmp, "randload.json")
        fixture(fx, a.big_mib, a.shard_mib)
        # Generated content is kept between runs of the script (keyed by spec by the simulator).
        sim = harness.launch.Simulator("--repos", fx, "--cdn-rate", str(int(a.rate * 1e6)), "--cdn-delay-ms",
                                       str(a.delay_ms), name="randload", prefix="rand15-", state_root=tmp,
                                       cache_dir="/tmp/rand15-bench/blobs")
        res = {}
        try:
            sim.start()
            print(f"load average {open('/proc/loadavg').read().split()[:3]}", flush=True)
            for r in range(a.runs):
                for row in rows:
                    tags = [(f"{row} {i}:{os.path.basename(os.path.dirname(os.path.dirname(b)))}", b)
                            for i, b in enumerate(a.binaries)]
                    if row == "loaders" and a.aria2c:
                        tags.append((f"{row} aria2c", None))
                    for tag, b in tags:
                        if row == "rand":
                            out = fio_rand(sim, b, a.jobs, a.big_mib, a.fio_mib, tmp)
                        elif b is None:
                            out = aria2c(sim, tmp)
                        else:
                            out = loaders(sim, b, tmp)
                        res.setdefault(tag, []).append(out)
                        print(f"run {r + 1} " + show(tag, out), flush=True)
            print(f"load average {open('/proc/loadavg').read().split()[:3]}")
            for tag, outs in res.items():
                print(show(f"median {tag}", {k: statistics.median(o[k] for o in outs) for k in outs[0]}))
        finally:
            sim.cleanup()


if __name__ == "__main__":
    main()
