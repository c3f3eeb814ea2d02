#!/usr/bin/python3
"""Renders bench/run.sh results (one "key value [partial_bytes]" line per measurement) as one
markdown table with the targets of issue 4 and hffs's ratio to each. Prints numbers; passes or fails
nothing."""
import sys

vals, partial, notes = {}, {}, []
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split(" ", 2)
    if p[0] == "#":
        notes.append(" ".join(p[1:]))
        continue
    if len(p) < 2 or p[1] in ("", "nan"):
        continue
    vals[p[0]] = float(p[1])
    if len(p) > 2 and p[2]:
        partial[p[0]] = p[2]


def g(k):
    return vals.get(k)


def fmt(k, digits=0, unit=""):
    v = g(k)
    if v is None:
        return "-"
    s = f"{v:,.{digits}f}{unit}"
    if k in partial:
        s += f"* ({partial[k]})"
    return s


def fio(k, tput):
    p50, p99, t = g(k + ".p50"), g(k + ".p99"), g(k + "." + tput)
    if p50 is None:
        return "-"
    unit = " IOPS" if tput == "iops" else " MB/s"
    return f"{p50:.2f}/{p99:.1f} ms, {t:,.0f}{unit}"


def ratio(a, b):
    va, vb = g(a), g(b)
    if va is None or vb is None or vb == 0:
        return None
    return va / vb


def rtxt(a, b, target, peer, higher=True):
    r = ratio(a, b)
    if r is None:
        return f"{peer}: -"
    ok = r >= target if higher else r <= target
    return f"{r:.2f}x {peer} ({'meets' if ok else 'MISSES'} {'>=' if higher else '<='} {target}x)"


def rinfo(a, b, peer):
    r = ratio(a, b)
    return f"{peer}: -" if r is None else f"{r:.2f}x {peer} (no target)"


COLS = ["hffs", "curl", "aria2c", "rclone", "httpdirfs", "local"]
HDR = "| row | hffs | curl (1 stream) | aria2c -x16 -s16 | rclone mount | httpdirfs | local disk | hffs vs target |"
rows = [HDR, "|" + "---|" * 8]


def add(name, cells, target):
    rows.append("| " + name + " | " + " | ".join(cells) + " | " + target + " |")


for proto in ("http", "https"):
    k = f"seq_{proto}"
    add(f"cold sequential 2 GiB shard, {proto.upper()} (MB/s; hffs, curl, aria2c: median of the runs)", [fmt(f"{k}.{c}") for c in COLS],
        "; ".join([rtxt(f"{k}.hffs", f"{k}.aria2c", 0.9, "aria2c"), rtxt(f"{k}.hffs", f"{k}.curl", 5, "curl"),
                   rtxt(f"{k}.hffs", f"{k}.rclone", 3, "rclone"), rtxt(f"{k}.hffs", f"{k}.httpdirfs", 3, "httpdirfs")]))
add("4 shards in parallel, 3.5 GiB, HTTP (MB/s, aggregate)", [fmt(f"par4.{c}") for c in COLS],
    "; ".join([rtxt("par4.hffs", "par4.aria2c", 0.9, "aria2c"), rinfo("par4.hffs", "par4.curl", "4 curl streams")]))
add("warm: hffs block cache, page cache dropped (MB/s)", [fmt("warm.hffs"), "", "", "", "", fmt("warm.local")],
    rtxt("warm.hffs", "warm.local", 0.7, "local"))
add("hot re-read, page cache warm (MB/s)", [fmt("hot.hffs"), "", "", "", "", fmt("hot.local")],
    rtxt("hot.hffs", "hot.local", 0.9, "hot local"))
add("time to first byte, config.json, cold (ms, median of 5)", [fmt("ttfb.hffs", 1), fmt("ttfb.curl", 1) + " (curl -L resolve)", "", "", "", ""],
    rtxt("ttfb.hffs", "ttfb.curl", 1.5, "curl", higher=False))
fs_req = g("findstat.requests")
add("find + stat, 10,002-file dataset (s)", [fmt("findstat.hffs", 2) + (f", {fmt('findstat.files')} files" if g("findstat.files") else ""), "", "", "", "", ""],
    "requests after mount: " + ("-" if fs_req is None else f"{fs_req:.0f} ({'meets' if fs_req == 0 else 'MISSES'} == 0)"))
for bs, tput in (("4k", "iops"), ("1m", "mbps")):
    k = f"fio{bs}"
    add(f"fio randread {bs.upper()}, {int(g(k + '.jobs') or 0)} jobs, {int(g(k + '.runtime') or 0)} s (p50/p99 latency, throughput)",
        [fio(f"{k}.hffs", tput), "", "", fio(f"{k}.rclone", tput), fio(f"{k}.httpdirfs", tput), fio(f"{k}.local", tput)],
        "no target (reported)")
add("numpy memmap load, every tensor in file order, cold (MB/s)", [fmt("numpy.hffs"), "", "", "", "", fmt("numpy.local")],
    rtxt("numpy.hffs", "seq_http.hffs", 0.8, "hffs cold cat"))
add("daemon peak RSS, cold 2 GiB read, HTTP (MiB, VmHWM)", [fmt("rss.hffs"), "", "", fmt("rss.rclone"), fmt("rss.httpdirfs"), ""],
    "" if g("rss.hffs") is None else f"{g('rss.hffs'):.0f} MiB ({'meets' if g('rss.hffs') <= 256 else 'MISSES'} <= 256 MiB)")
for proto in ("http", "https"):
    add(f"daemon CPU per GiB read, cold, {proto.upper()} (s/GiB, utime+stime)",
        [fmt(f"cpu_{proto}.hffs", 2), fmt(f"cpu_{proto}.curl", 2), fmt(f"cpu_{proto}.aria2c", 2), fmt(f"cpu_{proto}.rclone", 2), fmt(f"cpu_{proto}.httpdirfs", 2), ""],
        "no target (reported)")
print("\n".join(rows))
if partial:
    print("\n\\* stopped at the time cap; the figure is bytes read / time (amount read in brackets).")
for n in notes:
    print("- " + n)
