#!/usr/bin/python3
"""hffs soak (issue #11): N readers over every repo of a `--hub` mount for --minutes, every byte
verified, while the Hub simulator injects ~1% of every fault kind on every leg and restarts every few
minutes. One line a minute (elapsed, GiB read, wrong bytes, EIO, other errors, daemon RSS and fds,
requests per GiB), a summary at the end; exit 1 on any wrong byte, 2 when setup fails.
Not a ctest. Usage: bench/soak.py [--minutes 30] [--readers 8] [--corrupt] (see --help)."""
import argparse
import errno
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
CHUNKS = (4096, 65536, 131072, 1 << 20)


WHOLE_MAX = 4 << 20  # hffs --verify-whole-max default


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30, help="run length (default 30)")
    ap.add_argument("--readers", type=int, default=8, help="reader threads (default 8)")
    ap.add_argument("--prob", type=float, default=0.01, help="probability of each fault kind per request (0.01)")
    ap.add_argument("--corrupt", action="store_true", help="also serve wrong bytes of the right length (corrupt_prob)")
    ap.add_argument("--stall-ms", type=int, default=2000, help="length of an injected stall (2000)")
    ap.add_argument("--sign-ttl", type=int, default=20, help="lifetime of signed CDN URLs, s (20)")
    ap.add_argument("--restart-every", type=float, default=180, help="Hub restart period, s (180; 0 = never)")
    ap.add_argument("--down-seconds", type=float, default=3, help="how long a restart keeps the Hub down (3)")
    ap.add_argument("--cache-size", default="8M", help="hffs --cache-size (8M, below the ~30 MiB read: evicts)")
    ap.add_argument("--deadline", type=int, default=60, help="hffs --deadline, s (60)")
    ap.add_argument("--interval", type=float, default=60, help="seconds between report lines (60)")
    ap.add_argument("--uncached", type=float, default=0.5,
                    help="share of reads that first drop the file's kernel page cache (fadvise DONTNEED) so the "
                         "daemon serves them (0.5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verify", choices=("auto", "strict"), default="auto",
                    help="hffs --verify (auto: a pread of a file above 4 MiB may get bytes not yet verified; with "
                         "--corrupt those are counted as 'unverified partial reads', not as wrong bytes)")
    ap.add_argument("--hffs", default=harness.HFFS, help="hffs binary (default: build/cli/hffs or $HFFS_BIN)")
    a = ap.parse_args()
    if a.minutes <= 0 or a.readers < 1 or not 0 <= a.prob <= 0.1 or a.interval <= 0:
        ap.error("need --minutes > 0, --readers >= 1, 0 <= --prob <= 0.1, --interval > 0")
    if not os.access(a.hffs, os.X_OK):
        ap.error(f"hffs binary {a.hffs} not found or not executable: build it (cmake --build build --target hffs)")
    return a


def fault_knobs(a):
    kinds = ["ratelimit", "error", "drop", "stall", "ignore_range", "expire"] + (["corrupt"] if a.corrupt else [])
    k = {f"{x}_prob": a.prob for x in kinds}
    k.update(error_status=[500, 502, 503, 504], stall_ms=a.stall_ms, retry_after=1, sign_ttl=a.sign_ttl)
    return k


def file_list(sim):
    """(mount-relative path, size, sha256, source) for every readable file: every repo's default
    branch, plus every other ref of repos that have some (tags, PR refs) as <name>@<rev>."""
    out = []
    for r in sim.manifest["repos"]:
        if r.get("disabled"):
            continue
        revs = [(r["default_branch"], "")] + [(x, "@" + x.replace("/", "%2F")) for x in r["refs"]
                                               if x != r["default_branch"]]
        for rev, suffix in revs:
            base = PREFIX[r["type"]] + r["id"] + suffix
            for f in r["commits"][r["refs"][rev]]["files"]:
                out.append((f"{base}/{f['path']}", f["size"], f["sha256"], f["source"]))
    return out


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.bytes = self.wrong = self.eio = self.ops = self.whole = self.preads = self.short = 0
        self.unverified = 0  # wrong bytes of partial reads that --verify auto serves unverified (files > 4 MiB)
        self.other = {}
        self.notes = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def error(self, e, path):
        with self.lock:
            if e.errno == errno.EIO:
                self.eio += 1
            else:
                name = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
                self.other[name] = self.other.get(name, 0) + 1
            self.notes += 1
            if self.notes <= 20:
                print(f"  [{time.strftime('%H:%M:%S')}] {path}: {e}", file=sys.stderr, flush=True)


def diff_count(got, want):
    """Bytes of `got` that differ from `want` (the first len(got) bytes of it), plus any excess."""
    if got == want[:len(got)]:
        return 0
    return sum(1 for i in range(min(len(got), len(want))) if got[i] != want[i]) + max(0, len(got) - len(want))


def reader(idx, a, mnt, files, big, tot, stop):
    rng = random.Random(a.seed * 1000 + idx)
    while not stop.is_set():
        path, size, sha, source = rng.choice(big if rng.random() < 0.5 else files)
        full = os.path.join(mnt, path)
        src = os.open(source, os.O_RDONLY)
        try:
            drop = rng.random() < a.uncached
            if size == 0 or rng.random() < 0.4:
                whole_file(full, size, sha, src, rng, tot, stop, drop)
            else:
                off = rng.randrange(size)
                n = min(rng.choice(CHUNKS + (1, 4097)), size - off)
                fd = os.open(full, os.O_RDONLY)
                try:
                    if drop:
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    got = os.pread(fd, n, off)
                finally:
                    os.close(fd)
                w = diff_count(got, os.pread(src, n, off))
                # --verify auto hashes a file above 4 MiB as it streams: a partial read of it may be
                # served before the file could be verified (only the read completing it must fail)
                partial_ok = a.verify == "auto" and size > WHOLE_MAX
                # a short pread (fewer bytes than asked, before EOF) is legal but noted; its bytes are checked
                tot.add(bytes=len(got), wrong=0 if partial_ok else w, unverified=w if partial_ok else 0, ops=1,
                        preads=1, short=int(len(got) < n))
                if w and not partial_ok:
                    print(f"  WRONG: pread {path} @{off}+{n}: {w} bytes", file=sys.stderr, flush=True)
        except OSError as e:
            tot.add(ops=1)
            tot.error(e, path)
        finally:
            os.close(src)


def whole_file(full, size, sha, src, rng, tot, stop, drop):
    h, off, wrong = hashlib.sha256(), 0, 0
    with open(full, "rb", buffering=0) as f:
        if drop:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while off <= size and not stop.is_set():
            b = f.read(rng.choice(CHUNKS))
            if not b:
                break
            h.update(b)
            wrong += diff_count(b, os.pread(src, len(b), off))
            off += len(b)
            tot.add(bytes=len(b))
    if stop.is_set() and off < size:
        return  # interrupted by the end of the run, not a short file
    if off != size or h.hexdigest() != sha:
        wrong += max(0, size - off)
        wrong = wrong or 1  # a hash mismatch with no byte counted (cannot happen): still a failure
        print(f"  WRONG: {full}: read {off} of {size} bytes, sha256 {h.hexdigest()[:12]} != {sha[:12]}, "
              f"{wrong} bytes", file=sys.stderr, flush=True)
    tot.add(wrong=wrong, ops=1, whole=1)


def proc_sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")) / 1024
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None, None


class SimCounter:
    """Requests and injected faults, summed over the simulator's resets and restarts (its log is reset
    every sample so it stays small over a long run)."""

    def __init__(self, sim, a):
        self.sim, self.a = sim, a
        self.requests, self.faults, self.k, self.hosts = 0, {}, 0, {}

    def pull(self):
        try:
            st = self.sim.control("/_sim/stats?log=0")
            self.sim.control("/_sim/reset", {})
            self.k += 1
            self.sim.control("/_sim/config", {"seed": self.a.seed + self.k})
        except Exception:
            return False  # down (restarting): counted at the next sample
        self.requests += st["total_requests"]
        for k, v in st["faults_injected"].items():
            self.faults[k] = self.faults.get(k, 0) + v
        for k, v in st["by_host"].items():
            self.hosts[k] = self.hosts.get(k, 0) + v
        return True


def run(a, sim, mnt, stop, t_end):
    files = file_list(sim)
    big = sorted(files, key=lambda f: -f[1])[:max(1, len(files) // 100)] or files
    tot = Totals()
    counter = SimCounter(sim, a)
    pid = mnt.daemon_pid()
    threads = [threading.Thread(target=reader, args=(i, a, mnt.dir, files, big, tot, stop), daemon=True)
               for i in range(a.readers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    samples, restarts = [], 0
    next_line, next_restart = t0 + a.interval, t0 + (a.restart_every or float("inf"))
    print(f"soak: {len(files)} files ({sum(f[1] for f in files) / 2**20:.1f} MiB) in "
          f"{len(sim.manifest['repos'])} repos, {a.readers} readers, {a.minutes:g} min, faults {fault_knobs(a)}, "
          f"restart every {a.restart_every:g}s (0 = never; down {a.down_seconds:g}s), "
          f"{a.uncached:.0%} of reads page-cache-dropped first, daemon pid {pid}", flush=True)
    print(f"{'min':>5} {'GiB':>7} {'wrong':>6} {'EIO':>5} {'other':>6} {'RSS MiB':>8} {'fds':>5} "
          f"{'req/GiB':>8} {'ops':>8} {'restarts':>8}", flush=True)
    while not stop.is_set():
        now = time.monotonic()
        if now >= t_end:
            break
        if now >= next_restart:
            counter.pull()
            r = subprocess.run([harness.HUBSIM, "restart", "--state-dir", sim.state_dir, "--down-seconds",
                                str(a.down_seconds)], capture_output=True, text=True, timeout=120)
            restarts += r.returncode == 0
            if r.returncode != 0:
                print(f"  restart failed: {r.stderr.strip()[-300:]}", file=sys.stderr, flush=True)
            next_restart = time.monotonic() + a.restart_every
        if now >= next_line:
            samples.append(line(now - t0, tot, counter, pid, restarts))
            next_line += a.interval
        stop.wait(min(1.0, max(0.05, min(next_line, next_restart, t_end) - time.monotonic())))
    stop.set()
    for t in threads:
        t.join(timeout=max(10, a.deadline + 15))
    stuck = sum(t.is_alive() for t in threads)
    _, _, rss, fds = line(time.monotonic() - t0, tot, counter, pid, restarts, "end")
    summary(a, tot, counter, samples, (rss, fds), restarts, stuck, time.monotonic() - t0)
    return 1 if tot.wrong else 0


def line(secs, tot, counter, pid, restarts, label=None):
    """One report line; returns the sample (minutes, GiB, RSS, fds)."""
    counter.pull()
    rss, fds = proc_sample(pid)
    gib = tot.bytes / 2**30
    print(f"{label or format(secs / 60, '.1f'):>5} {gib:7.2f} {tot.wrong:6d} {tot.eio:5d} {sum(tot.other.values()):6d} "
          f"{rss or 0:8.1f} {fds or 0:5d} {counter.requests / gib if gib else 0:8.0f} {tot.ops:8d} {restarts:8d}",
          flush=True)
    return secs / 60, gib, rss, fds


def summary(a, tot, counter, samples, end, restarts, stuck, secs):
    gib = tot.bytes / 2**30
    print(f"\nsummary: {secs / 60:.1f} min, {gib:.2f} GiB read ({gib * 1024 / secs:.1f} MiB/s), {tot.ops} reads "
          f"({tot.whole} whole files, {tot.preads} preads, {tot.short} short preads), wrong bytes {tot.wrong}, "
          f"EIO {tot.eio}, "
          f"other errors {tot.other or 0}, readers stuck at the end {stuck}"
          + (f", unverified partial-read bytes (auto mode, files > 4 MiB) {tot.unverified}" if a.corrupt else ""))
    print(f"summary: simulator requests {counter.requests} ({counter.requests / gib if gib else 0:.0f} per GiB), "
          f"by host {counter.hosts}, Hub restarts {restarts}, faults injected {dict(sorted(counter.faults.items()))}")
    base = next((s for s in samples if s[0] >= 2), samples[0] if samples else None)
    if base and end[0] is not None and base[2] is not None:
        print(f"summary: daemon RSS {base[2]:.1f} MiB at minute {base[0]:.1f} -> {end[0]:.1f} MiB at the end "
              f"({end[0] - base[2]:+.1f}); fds {base[3]} -> {end[1]} ({end[1] - base[3]:+d})")
    else:
        print(f"summary: daemon RSS {end[0]} MiB, fds {end[1]} at the end (no sample at minute 2)")
    print("summary: " + ("FAIL: wrong bytes reached a reader" if tot.wrong else "OK: no wrong byte"), flush=True)


def main():
    a = parse_args()
    stop = threading.Event()
    t_end = time.monotonic() + a.minutes * 60
    hard = a.minutes * 60 + a.deadline * 3 + 300  # watchdog: the whole run, teardown included

    def on_signal(signum, _frame):
        print(f"\nsoak: signal {signum}: stopping", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    threading.Timer(hard, lambda: os._exit(3)).start()  # a wedged run still ends (exit 3)
    sim, mnt, rc = None, None, 2
    try:
        sim = harness.Simulator("soak", "--sign-ttl", str(a.sign_ttl)).start()
        sim.control("/_sim/config", dict(fault_knobs(a), seed=a.seed))
        harness.HFFS = a.hffs
        mnt = harness.Mount(sim, "--hub", "--cache-size", a.cache_size, "--deadline", str(a.deadline), "--verify", a.verify,
                            token=sim.env.get("HUBSIM_TOKEN"))
        mnt.__enter__()
        rc = run(a, sim, mnt, stop, t_end)
    except Exception as e:
        print(f"soak: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        rc = max(rc, 2)
    finally:
        stop.set()
        try:
            if mnt is not None:
                try:
                    keep = os.path.join(tempfile.gettempdir(), "hffs-soak-last.log")
                    shutil.copyfile(os.path.join(mnt.home, "hffs.log"), keep)
                    print(f"soak: the daemon log is kept in {keep}", flush=True)
                except OSError:
                    pass
                mnt.__exit__(None, None, None)
        finally:
            if sim is not None:
                sim.cleanup()
            os._exit(rc)  # the watchdog timer and any reader stuck in a read must not keep us alive


if __name__ == "__main__":
    main()
