#!/usr/bin/python3
"""Plots of bench/run.sh's issue-15 rows: plots15.py RESULTS_RAW_TXT OUT_DIR writes one PNG per row
family that has numbers (small.png, random.png, uncapped.png, huge.png, loaders.png) with Debian's
gnuplot (gnuplot-nox, installed by bench/run.sh). RESULTS_RAW_TXT is the "key value" file run.sh
keeps next to its table (last-run.raw.txt)."""
import os
import subprocess
import sys

vals = {}
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split(" ", 2)
    if p[0] != "#" and len(p) >= 2 and p[1] not in ("", "nan"):
        vals[p[0]] = float(p[1])
out = sys.argv[2]
os.makedirs(out, exist_ok=True)
HEAD = 'set terminal pngcairo size 900,540 font "sans,10"\nset grid ytics\nset key top left\n'
BARS = HEAD + "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\nset yrange [0:*]\n"


def g(k):
    return vals.get(k)


def bars(name, title, ylabel, groups, series, logy=0):
    """groups: [(label, key prefix)], series: [(column label, key suffix)]; one cluster per group.
    logy: the bottom of a log y axis (0: linear), for rows where local disk is orders of magnitude
    above the network peers."""
    rows = [(lab, [g(f"{pre}{suf}") for _, suf in series]) for lab, pre in groups]
    rows = [(lab, v) for lab, v in rows if any(x is not None for x in v)]
    if not rows:
        return
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as f:
        for lab, v in rows:
            f.write(f'"{lab}" ' + " ".join("NaN" if x is None else f"{x:g}" for x in v) + "\n")
    plots = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{s}'" for i, (s, _) in enumerate(series))
    scale = f"set logscale y\nset yrange [{logy:g}:*]\n" if logy else ""
    run(f"{BARS}{scale}set output '{out}/{name}.png'\nset title '{title}'\nset ylabel '{ylabel}'\nplot {plots}\n", dat)


def run(script, *tmp):
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    for t in tmp:
        os.unlink(t)
    print(f"wrote {out}/{script.split(chr(39))[1].split('/')[-1]}" if "set output" in script else "")


bars("small", "1000 small files (1-64 KiB), 8 threads: files/s", "files/s",
     [("loopback", "small_lo."), ("first-byte delay, every leg", "small_rtt.")],
     [("hffs", "hffs"), ("curl -Z 8", "curl"), ("rclone mount", "rclone"), ("local disk", "local")], logy=1)
bars("random", "fio 4 x 1 MiB random reads, cold, 2 GiB shard: MB/s", "MB/s",
     [("buffered (direct=0)", "rand_d0."), ("direct=1", "rand_d1.")],
     [("hffs", "hffs.mbps"), ("rclone mount", "rclone.mbps"), ("local disk", "local.mbps")], logy=1)
# latency clusters: keys differ per peer in the middle, so build them by hand
lat = []
for lab, d, q in (("p50, buffered", 0, "p50"), ("p99, buffered", 0, "p99"), ("p50, direct=1", 1, "p50"), ("p99, direct=1", 1, "p99")):
    for peer in ("hffs", "rclone", "local"):
        if g(f"rand_d{d}.{peer}.{q}") is not None:
            vals[f"lat_{lab}.{peer}"] = g(f"rand_d{d}.{peer}.{q}")
    lat.append((lab, f"lat_{lab}."))
bars("random-latency", "fio 4 x 1 MiB random reads, cold: completion latency", "ms", lat,
     [("hffs", "hffs"), ("rclone mount", "rclone"), ("local disk", "local")], logy=0.1)
bars("uncapped", "cold sequential 2 GiB, no rate cap, no delay: MB/s", "MB/s",
     [("HTTP", "unc_http."), ("HTTPS", "unc_https.")], [("hffs", "hffs"), ("one curl stream", "curl"), ("curl | openssl sha256", "curlsha")])
bars("uncapped-cpu", "cold sequential 2 GiB, no rate cap: CPU seconds per GiB", "CPU s/GiB",
     [("HTTP", "unc_http."), ("HTTPS", "unc_https.")], [("hffs (daemon + reader)", "cpu_hffs"), ("curl", "cpu_curl"), ("curl | openssl sha256", "cpu_curlsha")])
bars("loaders", "8 loaders, one 256 MiB shard each, cold: aggregate MB/s", "MB/s",
     [("aggregate MB/s", "loaders.")],
     [("hffs", "hffs"), ("aria2c -j8", "aria2c"), ("curl x8", "curl"), ("local disk", "local")])

sizes = sorted({k.split(".")[0][5:] for k in vals if k.startswith("huge_")}, key=lambda s: g(f"huge_{s}.files") or 0)
if sizes:
    dat = os.path.join(out, "huge.dat")
    with open(dat, "w") as f:
        for s in sizes:
            k = f"huge_{s}"
            f.write(" ".join("NaN" if g(k + x) is None else f"{g(k + x):g}"
                             for x in (".files", ".ls", ".find", ".remount", ".rss", ".hwm")) + "\n")
    run(f"""{HEAD}set output '{out}/huge.png'
set multiplot layout 1,2 title 'huge repos, first-byte delay on the API'
set logscale x
set format x "%.0s%c"
set yrange [0:*]
set xlabel 'files in the dataset'
set ylabel 'seconds'
set key top left
plot '{dat}' using 1:2 with linespoints title 'mount to first ls', '' using 1:3 with linespoints title 'find over all', '' using 1:4 with linespoints title 'remount (kept view)'
set ylabel 'MiB'
plot '{dat}' using 1:5 with linespoints title 'daemon RSS after find', '' using 1:6 with linespoints title 'peak RSS (VmHWM)'
unset multiplot
""", dat)
