#!/usr/bin/python3
"""Renders the issue-15 rows of bench/run.sh's results ("key value" lines) as markdown tables, with
issue 15's targets beside hffs's figures. Prints numbers; passes or fails nothing."""
import sys

vals = {}
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split(" ", 2)
    if p[0] != "#" and len(p) >= 2 and p[1] not in ("", "nan"):
        vals[p[0]] = float(p[1])


def g(k):
    return vals.get(k)


def f(k, digits=0, suffix=""):
    v = g(k)
    return "-" if v is None else f"{v:,.{digits}f}{suffix}"


def ratio(a, b):
    va, vb = g(a), g(b)
    return None if va is None or not vb else va / vb


def judged(r, target, higher=True):
    if r is None:
        return "-"
    ok = r >= target if higher else r <= target
    return f"{r:.2f}x ({'meets' if ok else 'MISSES'} {'>=' if higher else '<='} {target}x)"


def table(hdr, rows):
    out = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    print("\n".join(out) + "\n")


print("### Issue 15 rows (medians of the runs; every run in the notes below)\n")
if g("small_lo.hffs") is not None or g("small_rtt.hffs") is not None:
    n = int(g("small.files") or 0)
    print(f"**Small files**: {n:,} files of 1-64 KiB ({f('small.bytes')} bytes; half regular, half LFS), "
          "8 reader threads, whole files, cold (files/s)\n")
    rows = []
    for v, name in (("lo", "loopback, no delay, no rate cap"), ("rtt", "first-byte delay on every leg (API, resolve, CDN)")):
        if g(f"small_{v}.hffs") is None:
            continue
        rows.append([name, f(f"small_{v}.hffs"), f(f"small_{v}.curl"), f(f"small_{v}.rclone"), f(f"small_{v}.local"),
                     f(f"small_{v}.req_hffs", 2), f(f"small_{v}.req_curl", 2),
                     "-" if ratio(f"small_{v}.hffs", f"small_{v}.curl") is None else f"{ratio(f'small_{v}.hffs', f'small_{v}.curl'):.2f}x"])
    table(["CDN", "hffs", "curl -Z --parallel-max 8 -L", "rclone mount", "local disk", "requests/file hffs",
           "requests/file curl", "hffs / curl"], rows)

rows = []
for d in (0, 1):
    for peer in ("hffs", "rclone", "local"):
        k = f"rand_d{d}.{peer}"
        if g(k + ".mbps") is None:
            continue
        of = g(k + ".overfetch")
        rows.append([f"direct={d}", peer, f(k + ".mbps"), f(k + ".p50", 1), f(k + ".p99", 1), f(k + ".distinct", 2),
                     "-" if of is None else (judged(of, 1.1, higher=False) if peer == "hffs" else f"{of:.2f}x")])
if rows:
    print(f"**Random 1 MiB reads**: fio randread, 4 jobs x {f('rand.ios')} reads (at most {f('rand.runtime')} s), "
          "psync, cold, 2 GiB shard, "
          "CDN first-byte delay and per-connection cap as the default bench. Over-fetch = bytes the CDN "
          "(or the plain index) sent / distinct bytes fio read (the union of its 4 jobs' I/O logs; fio "
          "jobs may read one block twice, the distinct share is its own column)\n")
    table(["fio", "reader", "MB/s", "p50 ms", "p99 ms", "distinct / read", "over-fetch"], rows)

rows = []
for p in ("http", "https"):
    k = f"unc_{p}"
    if g(k + ".hffs") is None:
        continue
    rows.append([p.upper(), f(k + ".hffs"), f(k + ".curl"), judged(ratio(k + ".hffs", k + ".curl"), 0.9),
                 f(k + ".cpu_hffs", 2), f(k + ".cpu_curl", 2), judged(ratio(k + ".cpu_hffs", k + ".cpu_curl"), 1.2, higher=False),
                 f(k + ".curlsha"), f(k + ".cpu_curlsha", 2)])
if rows:
    print("**Uncapped cold sequential**: 2 GiB shard, CDN with no rate cap and no delay; CPU = utime + stime "
          "(hffs: daemon + reader process; curl: its process; `curl | openssl dgst -sha256`: both, the peer that checks every "
          "byte as hffs does, with the same OpenSSL SHA-256; coreutils sha256sum is 5x slower here)\n")
    table(["", "hffs MB/s", "curl MB/s", "hffs / curl", "hffs CPU s/GiB", "curl CPU s/GiB", "hffs / curl CPU",
           "curl | openssl sha256 MB/s", "its CPU s/GiB"], rows)

sizes = sorted({k.split(".")[0][5:] for k in vals if k.startswith("huge_")}, key=lambda s: g(f"huge_{s}.files") or 0)
if sizes:
    print("**Huge repos**: a dataset of N files (about 1000 per directory), API first-byte delay as the CDN's, "
          "fresh cache; then a remount of the same commit (by its sha) on the kept cache\n")
    rows = []
    for s in sizes:
        k = f"huge_{s}"
        pe = g(k + ".per_entry")
        rq = g(k + ".remount_req")
        rows.append([f"{int(g(k + '.files') or 0):,}", f(k + ".ls", 2), f(k + ".find", 2), f(k + ".rss"), f(k + ".hwm"),
                     "-" if pe is None else f"{pe:.0f} ({'meets' if pe <= 150 else 'MISSES'} <= 150)",
                     f(k + ".remount", 2), "-" if rq is None else f"{rq:.0f} ({'meets' if rq == 0 else 'MISSES'} == 0)"])
    table(["files", "mount to first `ls` s", "`find` s", "RSS after find MiB", "peak RSS MiB", "RSS B/entry",
           "remount s", "remount requests"], rows)

if g("loaders.hffs") is not None:
    print("**8 loaders**: 8 processes, each reads its own 256 MiB shard cold, all at once; CDN as the default "
          "bench. Fairness = slowest / fastest per-process rate\n")
    table(["", "hffs (one mount)", "aria2c -j8 -x1 -s1", "curl x8", "local disk", "hffs / aria2c"],
          [["aggregate MB/s", f("loaders.hffs"), f("loaders.aria2c"), f("loaders.curl"), f("loaders.local"),
            judged(ratio("loaders.hffs", "loaders.aria2c"), 0.9)],
           ["fairness", f("loaders.fair_hffs", 2), f("loaders.fair_aria2c", 2), f("loaders.fair_curl", 2),
            f("loaders.fair_local", 2), "-" if g("loaders.fair_hffs") is None else
            f"{g('loaders.fair_hffs'):.2f} ({'meets' if g('loaders.fair_hffs') >= 0.8 else 'MISSES'} >= 0.8)"]])

if "--notes" in sys.argv[2:]:
    for line in open(sys.argv[1]):
        if line.startswith("# "):
            print("- " + line[2:].rstrip("\n"))
