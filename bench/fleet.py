#!/usr/bin/env python3
"""The fleet row (issue 14): N nodes read the same shard cold at the same time, through the site cache
or straight from the Hub, over one capped uplink.

Network namespaces (tests/integration/fleet_net.py): a "hub" host runs the simulator (API + CDN, the
CDN capped per connection at --conn-rate MB/s with a --delay-ms first byte), a "site" host runs the
shipped nginx site cache (deploy/site-cache/run), and node hosts each mount the repo with hffs (own
block cache). The hub's egress is capped in total with tbf at --uplink MB/s: that is the site's uplink,
shared by hub -> site and, when nodes read the Hub directly, hub -> nodes; the LAN from the site to
the nodes is not capped. For each N in --nodes, in two modes:

  site     hffs mount --endpoint SITE --endpoint HUB (a fresh, empty site cache each time)
  direct   hffs mount --endpoint HUB

every node (fresh mount, fresh block cache) reads the whole file front to back in 1 MiB reads, all
starting at once, hashing every byte; one wrong byte on any node aborts the bench (exit 1). Per
measurement: aggregate MB/s (bytes read by all nodes / time from the first open to the last byte),
the bytes the Hub sent (its simulator's count of API + CDN bodies, and the hub interface's tx
counter), the site cache's CPU (utime + stime of the nginx master and its workers, from /proc,
before/after) per GiB it served, the nodes' bytes from the hub endpoint and failovers (their hffs
metrics), how busy the machine's CPUs were. Runs interleave (each run measures every N in both modes;
the order of the modes alternates from run to run); the table gives medians. Before the runs, one
curl on a node reads from the CDN with the uplink uncapped, then capped: the cap is real.

A benchmark: it prints numbers, it judges nothing (targets are printed beside the numbers). Exit 1
on a wrong byte, 130 on Ctrl-C / SIGTERM (after cleaning up). Needs root, /dev/fuse, nginx, tc (tbf),
nsenter and curl.

    python3 bench/fleet.py [--nodes 1,2,4,8] [--size 2G] [--runs 3] [--uplink 200] [--conn-rate MB/s]
                           [--delay-ms 20] [--hffs BIN] [--no-prefault]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from fleet_net import Fleet  # noqa: E402
import site_cache  # noqa: E402

REPO = "bench/fleet"
FILE = "shard.bin"
HASHREAD = os.path.join(HERE, "lib", "hashread.py")
PREFIX, SUBNET = "hffsbench-", "10.232.0"
MODES = ("site", "direct")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[fleet {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_size(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)(?:i?b)?", s.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 512M, 2G)")
    return int(float(m[1]) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m[2]])


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ------------------------------------------------------------------ processes
def proc_cpu_s(pid):
    """utime + stime of one process, seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_times():
    """(busy, total) jiffies of all CPUs together (/proc/stat): busy excludes idle and iowait."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def busy_pct(t0, t1):
    return 100.0 * (t1[0] - t0[0]) / max(1, t1[1] - t0[1])


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def nginx_cpu_s(master):
    """CPU seconds of an nginx master and its workers (and cache manager / loader) so far. A worker
    that exited in between takes its CPU with it: nginx keeps its workers for its whole life."""
    return proc_cpu_s(master) + sum(proc_cpu_s(c) for c in children(master))


def prefault_gib(n, size):
    """GiB to touch before a measurement: what it fills (N block caches and the site cache) plus one,
    at most 8 (as bench/run.sh) and never closer than 3 GiB to what the machine has available."""
    with open("/proc/meminfo") as f:
        avail = int(f.read().split("MemAvailable:")[1].split()[0]) >> 20
    return max(0, min(-(-(n + 1) * size // 2**30) + 1, 8, avail - 3))


def prefault(gib, shm):
    """Touches `gib` GiB of free RAM once (bench/run.sh does the same before each cold row): on this
    VM the first touch of guest RAM the host took back costs ~2 s of system time per GiB, and
    whoever fills new page-cache pages first (block caches, the site cache) would pay it."""
    if gib <= 0:
        return
    path = os.path.join(shm, "prefault")
    with open(path, "wb") as out:
        subprocess.run(["head", "-c", f"{gib}G", "/dev/zero"], stdout=out, check=False)
    os.unlink(path)


# ------------------------------------------------------------------ hosts
class Hub:
    """The simulator in the hub host (Fleet.start_hub: its control requests go from sockets there)."""

    def __init__(self, fl, fixture, content, conn_rate, delay_ms):
        self.sim = fl.start_hub("--repos", fixture, "--cdn-rate", str(int(conn_rate * 1e6)),
                                "--cdn-delay-ms", str(delay_ms), cache_dir=content)
        self.endpoint = self.sim.endpoint
        files, _ = self.sim.files(REPO)
        self.sha256, self.size, self.blob = files[FILE]["sha256"], files[FILE]["size"], files[FILE].get("source")

    def stats(self):
        return self.sim.stats(log=False)

    def reset(self):
        self.sim.reset()

    def wait_cdn_idle(self):
        site_cache.wait_cdn_idle(self.sim, timeout=120)


def curl_rate(fl, hub, nbytes):
    """MB/s of one curl on node0 reading the first `nbytes` of the file straight from the CDN (one
    connection, no hffs): what the uplink lets one connection carry."""
    r = hub.sim.get(f"/{REPO}/resolve/main/{FILE}")
    url = r.h("Location")
    if r.status not in (302, 307) or not url:
        raise RuntimeError(f"resolve of {FILE} did not redirect to the CDN: {r}")
    c = fl.run("node0", ["curl", "-sS", "-o", "/dev/null", "-r", f"0-{nbytes - 1}", "-w",
                         "%{size_download} %{time_total}", url], capture_output=True, text=True, timeout=300)
    got, secs = c.stdout.split()
    if c.returncode != 0 or int(got) != nbytes:
        raise RuntimeError(f"curl from node0: {c.stdout} {c.stderr}")
    return nbytes / float(secs) / 1e6


def cap_check(fl, hub, uplink, nbytes):
    """One connection straight from the CDN, uplink uncapped then capped: the tbf is what limits."""
    fl.uncap_uplink()
    try:
        free = curl_rate(fl, hub, nbytes)
    finally:
        fl.cap_uplink(uplink)
    return free, curl_rate(fl, hub, nbytes)


def node_metrics(mount, hub_endpoint):
    """(file bytes the node's hffs got from the hub endpoint itself, requests it moved from one
    endpoint to another), from its metrics (hffs_endpoint_bytes_total, hffs_endpoint_failovers_total).
    Through the site cache, the first says how much a node fetched from the hub past the site; None
    from an hffs that does not count bytes per endpoint."""
    r = subprocess.run([harness.HFFS, "status", "--prometheus", mount.dir], capture_output=True, text=True,
                       timeout=60)
    from_hub, moved = None, 0.0
    for ln in r.stdout.splitlines():
        if ln.startswith("hffs_endpoint_bytes_total{"):
            from_hub = from_hub or 0.0
            if f'endpoint="{hub_endpoint}"' in ln:
                from_hub += float(ln.rsplit(None, 1)[1])
        elif ln.startswith("hffs_endpoint_failovers_total{"):
            moved += float(ln.rsplit(None, 1)[1])
    return from_hub, moved


def site_pid(site):
    with open(os.path.join(site.state, "nginx.pid")) as f:
        return int(f.read().strip())


# ------------------------------------------------------------------ one measurement
class WrongBytes(Exception):
    pass


class Interrupted(BaseException):
    """SIGTERM, raised like KeyboardInterrupt (not caught by `except Exception` on the way up)."""


def read_all(paths, deadline_s):
    """Every node's reader started at once; returns their JSON results. Readers still running after
    `deadline_s` are killed (a hang is reported, never waited out)."""
    procs = [subprocess.Popen([sys.executable, HASHREAD, p], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for p in paths]
    watchdog = threading.Timer(deadline_s, lambda: [p.kill() for p in procs if p.poll() is None])
    watchdog.start()
    try:
        for p in procs:  # each reader waits for its first line before its first open: release them together
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        for i, p in enumerate(procs):
            p.stdin.close()
            line = p.stdout.read()
            if p.wait() != 0 or not line:
                raise RuntimeError(f"reader of node{i} did not finish within {deadline_s:.0f} s (rc {p.returncode})")
            out.append(json.loads(line))
        return out
    finally:
        watchdog.cancel()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def measure(fl, hub, n, mode, uplink, prefault_gib, shm):
    prefault(prefault_gib, shm)
    site = None
    mounts = []
    try:
        if mode == "site":
            site = fl.start_site(hub.sim)  # a fresh state dir: an empty cache
            master = site_pid(site)
        for i in range(n):
            m = fl.mount(f"node{i}", hub.sim, site, REPO)  # its own home and block cache
            mounts.append(m)
            m.__enter__()
        hub.wait_cdn_idle()
        hub.reset()
        tx0 = fl.hub_tx_bytes()
        cpu0 = nginx_cpu_s(master) if site else 0.0
        la = loadavg()
        c0 = cpu_times()
        # 10 x the time the uplink alone would take, at least 5 minutes
        res = read_all([m.path(FILE) for m in mounts], max(300, 10 * n * hub.size / (uplink * 1e6)))
        busy = busy_pct(c0, cpu_times())
        hub.wait_cdn_idle()
        tx = fl.hub_tx_bytes() - tx0
        cpu = nginx_cpu_s(master) - cpu0 if site else None
        nm = [node_metrics(m, hub.endpoint) for m in mounts]
        st = hub.stats()
        sst = site.stats() if site else {}
        for i, r in enumerate(res):
            if r["error"] or r["sha256"] != hub.sha256 or r["bytes"] != hub.size:
                raise WrongBytes(f"node{i} ({mode}, N={n}): {r['bytes']} bytes, sha256 {r['sha256']} "
                                 f"(want {hub.size}, {hub.sha256}), error {r['error']}\n{mounts[i].log()}"
                                 + (site.log_text()[-3000:] if site else ""))
        wall = max(r["t1"] for r in res) - min(r["t0"] for r in res)
        read = sum(r["bytes"] for r in res)
        served = sst.get("bytes_sent", 0)
        return {"mbs": read / wall / 1e6, "wall": wall, "hub_sim": st["bytes_served"],
                "hub_cdn": st["bytes_by_host"]["cdn"], "hub_tx": tx, "read": read,
                "cpu_per_gib": cpu / (served / 2**30) if site and served else None,
                "hit": sst.get("hit_ratio"), "load": la, "busy": busy,
                "nodes_from_hub": None if any(x[0] is None for x in nm) else sum(x[0] for x in nm),
                "failovers": sum(x[1] for x in nm),
                "node_mbs": [r["bytes"] / (r["t1"] - r["t0"]) / 1e6 for r in res]}
    finally:
        for m in mounts:
            m.__exit__(None, None, None)  # unmounts, deletes its block cache
        if site:
            site.cleanup()  # stops nginx, deletes its cache


# ------------------------------------------------------------------ report
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mb(x):
    return None if x is None else x / 1e6


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def report(a, size, results, spent, cap, t_start, load_start):
    print(f"\n## Fleet: N nodes read one {size / 2**20:.0f} MiB shard cold at once "
          f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)\n")
    conn = ("above the uplink, so one connection alone is not the limit" if a.conn_rate > a.uplink
            else "NOT above the uplink: one connection alone may be the limit")
    print(f"Uplink (hub egress, tbf) {a.uplink:g} MB/s in total; CDN {a.conn_rate:g} MB/s per connection "
          f"({conn}), {a.delay_ms} ms first byte; "
          f"LAN site -> nodes uncapped. Medians of {a.runs} interleaved run(s). Machine: {os.cpu_count()} cores; "
          f"load average {load_start} at start, {loadavg()} at end; took {time.monotonic() - t_start:.0f} s.\n")
    print("| N | mode | aggregate MB/s | wall s | hub MB (sim) | hub / file | hub / read | hub MB per node | "
          "hub iface MB | hub egress MB/s | site CPU s/GiB | site hit % | nodes <- hub MB | failovers "
          "| CPU busy % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in a.nodes:
        for mode in MODES:
            rs = results[(n, mode)]
            if not rs:
                continue
            hub = med(r["hub_sim"] for r in rs)
            tx = med(r["hub_tx"] for r in rs)
            egress = med(r["hub_tx"] / r["wall"] / 1e6 for r in rs)
            hit = med(r["hit"] for r in rs)
            each = ", ".join(f"{r['mbs']:.0f}" for r in rs)
            print(f"| {n} | {mode} | {med(r['mbs'] for r in rs):.0f} ({each}) "
                  f"| {med(r['wall'] for r in rs):.1f} | {hub / 1e6:.0f} | {hub / size:.3f} "
                  f"| {med(r['hub_sim'] / r['read'] for r in rs):.3f} | {hub / n / 1e6:.0f} "
                  f"| {tx / 1e6:.0f} | {egress:.0f} | {fmt(med(r['cpu_per_gib'] for r in rs), '.2f')} "
                  f"| {fmt(None if hit is None else hit * 100, '.0f')} "
                  f"| {fmt(mb(med(r['nodes_from_hub'] for r in rs)), '.0f')} | {med(r['failovers'] for r in rs):.0f} "
                  f"| {med(r['busy'] for r in rs):.0f} |")
    print("""
hub MB: bytes of response bodies the simulator sent (API + CDN); hub / file: that over the file's size
(target through the site cache: 1.0-1.05 whatever N); hub / read: over the bytes all nodes read (N x
the file); hub iface MB: the hub's interface tx counter (headers included); hub egress MB/s: that over
the wall time (at most the uplink). Site CPU: nginx master + workers per GiB the site cache served to
the nodes. Nodes <- hub: file bytes the nodes' hffs got from the hub endpoint itself
(hffs_endpoint_bytes_total; through the site cache, what went past it); failovers: requests they
moved to another endpoint, all nodes. CPU busy: all the machine's cores during the reads (/proc/stat;
near 100, the row measures the CPU rather than the uplink).
""")
    print("Site / direct aggregate throughput (target at N = 4: >= 3):")
    for n in a.nodes:
        s, d = results[(n, "site")], results[(n, "direct")]
        if s and d:
            ratio = med(r["mbs"] for r in s) / med(r["mbs"] for r in d)
            print(f"  N = {n}: {ratio:.2f}")
    print("\nWall time per mode, all its measurements (prefault, mounts, site cache start/stop included): "
          + ", ".join(f"{m} {spent[m]:.0f} s" for m in MODES))
    print(f"\nCap check: the uplink is capped at {a.uplink:g} MB/s, one CDN connection at {a.conn_rate:g} MB/s.")
    if cap:
        print(f"  one curl on node0 straight from the CDN: {cap[0]:.0f} MB/s with the uplink uncapped, "
              f"{cap[1]:.0f} MB/s capped")
    one = results.get((1, "direct"))
    if one:
        print(f"  hffs, direct, N = 1: {med(r['mbs'] for r in one):.0f} MB/s; hub egress during it "
              f"{med(r['hub_tx'] / r['wall'] / 1e6 for r in one):.0f} MB/s")


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", default="1,2,4,8", help="comma list of fleet sizes")
    ap.add_argument("--size", default="2G", help="size of the shard (e.g. 512M, 2G)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--uplink", type=float, default=200, help="MB/s of the hub's egress in total (tbf)")
    ap.add_argument("--conn-rate", type=float, default=None,
                    help="MB/s per CDN connection (default 1.25 x --uplink: one connection alone is not the limit)")
    ap.add_argument("--delay-ms", type=int, default=20, help="first-byte delay of every CDN response")
    ap.add_argument("--hffs", default=None, help="hffs binary (default build/cli/hffs)")
    ap.add_argument("--no-prefault", action="store_true", help="skip touching free RAM before each measurement")
    a = ap.parse_args()
    a.nodes = sorted({int(x) for x in a.nodes.split(",") if x})
    a.conn_rate = a.conn_rate or 1.25 * a.uplink
    size = parse_size(a.size)
    if a.hffs:
        harness.HFFS = os.path.abspath(a.hffs)
    if os.geteuid() != 0:
        sys.exit("bench/fleet.py needs root (network namespaces, tc, mounts)")
    if not os.path.exists("/dev/fuse"):
        sys.exit("bench/fleet.py needs /dev/fuse")
    for tool in ("nginx", "tc", "nsenter", "curl"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"bench/fleet.py needs {tool}")
    def on_term(*_):
        raise Interrupted("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)  # unwinds like Ctrl-C: every finally and the Fleet's cleanup run
    t_start, load_start = time.monotonic(), loadavg()
    shm = tempfile.mkdtemp(prefix="bench-fleet-", dir="/dev/shm")
    results = {(n, m): [] for n in a.nodes for m in MODES}
    spent = dict.fromkeys(MODES, 0.0)  # wall time of each mode's measurements, setup and teardown included
    code = 0
    cap = None
    try:
        log(f"namespaces: hub, site, {max(a.nodes)} nodes ({PREFIX}*, {SUBNET}.0/24); uplink {a.uplink:g} MB/s")
        # Everything on disk (fixture, content, simulator and site cache state, mounts, block caches)
        # is in the fleet's work dir, removed with it.
        with Fleet(max(a.nodes), prefix=PREFIX, subnet=SUBNET, uplink_mbytes=a.uplink) as fl:
            fixture = os.path.join(fl.workdir, "fleet.json")
            with open(fixture, "w") as f:
                json.dump({"format": "hubsim-fixture/1", "repos": [{"type": "model", "id": REPO, "commits": [
                    {"name": "c1", "date": "2024-05-01T00:00:00.000Z", "title": "fleet",
                     "files": {FILE: {"random": {"size": size, "seed": 14}}}}]}]}, f)
            log(f"starting the simulator in the hub namespace ({size} bytes of content to generate)")
            hub = Hub(fl, fixture, os.path.join(fl.workdir, "content"), a.conn_rate, a.delay_ms)
            if hub.blob:
                subprocess.run(["cat", hub.blob], stdout=subprocess.DEVNULL, check=False)  # the CDN from RAM
            n_cap = min(size, 256 << 20)
            cap = cap_check(fl, hub, a.uplink, n_cap)
            log(f"one curl from node0 straight from the CDN ({n_cap >> 20} MiB): {cap[0]:.0f} MB/s with the "
                f"uplink uncapped, {cap[1]:.0f} MB/s capped at {a.uplink:g} MB/s")
            for run in range(a.runs):
                for n in a.nodes:
                    order = MODES if run % 2 == 0 else MODES[::-1]
                    for mode in order:
                        pf = 0 if a.no_prefault else prefault_gib(n, size)
                        t0 = time.monotonic()
                        r = measure(fl, hub, n, mode, a.uplink, pf, shm)
                        spent[mode] += time.monotonic() - t0
                        results[(n, mode)].append(r)
                        log(f"run {run + 1} N={n} {mode}: {r['mbs']:.0f} MB/s aggregate in {r['wall']:.1f} s, "
                            f"hub {r['hub_sim'] / 1e6:.0f} MB (x{r['hub_sim'] / size:.3f} of the file), "
                            f"iface {r['hub_tx'] / 1e6:.0f} MB, site CPU "
                            f"{fmt(r['cpu_per_gib'], '.2f')} s/GiB, per node "
                            f"{' '.join(f'{x:.0f}' for x in r['node_mbs'])} MB/s, nodes <- hub endpoint "
                            f"{fmt(mb(r['nodes_from_hub']), '.0f')} MB, {r['failovers']:.0f} failovers, "
                            f"CPU busy {r['busy']:.0f}%, load {r['load']}, sha256 ok")
    except WrongBytes as e:
        print(f"WRONG BYTES: {e}", file=sys.stderr)
        code = 1
    except (KeyboardInterrupt, Interrupted) as e:
        log(f"interrupted ({type(e).__name__} {e}); what was measured so far follows")
        code = 130
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    if any(results.values()):
        report(a, size, results, spent, cap, t_start, load_start)
    sys.exit(code)


if __name__ == "__main__":
    main()
