#!/usr/bin/python3
"""Cold sequential read of one big file, one run: hffs (fresh cache, `dd bs=1M` as the reader) or
`curl -o /dev/null` on its CDN URL. Prints MB/s and CPU seconds per GiB (daemon + reader for hffs;
curl's own for curl), and with CHECK=1 whether hffs served the right sha256. E.g.
  tests/hubsim/run start --repos big [--tls] --state-dir /tmp/x-big
  bench/probe/seq_cpu.py /tmp/x-big hffs-test/big-model model-00001-of-00004.safetensors hffs build/cli/hffs /tmp/x-w
  bench/probe/seq_cpu.py /tmp/x-big hffs-test/big-model model-00001-of-00004.safetensors curl
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time

state, repo, path, mode = sys.argv[1:5]
env = {}
for line in open(os.path.join(state, "env")):
    k, _, v = line.strip().partition("=")
    env[k] = v.strip("'")
ep = env["HF_ENDPOINT"]
ca = env.get("HUBSIM_CA_FILE")
man = json.load(open(env["HUBSIM_MANIFEST"]))
r = [x for x in man["repos"] if x["id"] == repo][0]
f = [x for x in r["commits"][r["branches"][r["default_branch"]]]["files"] if x["path"] == path][0]
with open(f["source"], "rb") as b:  # the CDN serves from RAM
    while b.read(8 << 20):
        pass


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as fh:
        parts = fh.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def run_child(cmd, **kw):
    t0 = time.time()
    p = subprocess.Popen(cmd, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.returncode}")
    return time.time() - t0, ru.ru_utime + ru.ru_stime


gib = f["size"] / (1 << 30)
if mode == "hffs":
    hffs, work = sys.argv[5:7]
    mnt, cache = os.path.join(work, "mnt"), os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    args = [hffs, "mount", repo, mnt, "--cache-dir", cache, "--foreground", "--log-file",
            os.path.join(work, "hffs.log"), "--log-level", "warn"] + (["--ca-file", ca] if ca else []) + sys.argv[7:]
    p = subprocess.Popen(args, env=dict(os.environ, HF_ENDPOINT=ep, HF_HOME=os.path.join(work, "hfhome")))
    end = time.time() + 60
    while not os.path.ismount(mnt) and p.poll() is None and time.time() < end:
        time.sleep(0.05)
    if not os.path.ismount(mnt):
        sys.exit("mount failed")
    os.stat(os.path.join(mnt, path))
    c0 = cpu_of(p.pid)
    secs, rcpu = run_child(["dd", f"if={os.path.join(mnt, path)}", "of=/dev/null", "bs=1M", "status=none"])
    dcpu = cpu_of(p.pid) - c0
    ok = None
    if os.environ.get("CHECK"):
        import hashlib
        h = hashlib.sha256()
        with open(os.path.join(mnt, path), "rb") as fh:
            while True:
                b = fh.read(8 << 20)
                if not b:
                    break
                h.update(b)
        ok = h.hexdigest() == f["sha256"]
    subprocess.run(["fusermount3", "-u", mnt])
    p.wait(60)
    shutil.rmtree(cache, ignore_errors=True)
    res = {"mode": "hffs", "MBps": round(f["size"] / secs / 1e6), "cpu_per_gib": round((dcpu + rcpu) / gib, 2),
           "daemon_cpu_per_gib": round(dcpu / gib, 2), "reader_cpu_per_gib": round(rcpu / gib, 2), "sha_ok": ok}
else:
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{redirect_url}"] + (["--cacert", ca] if ca else [])
                         + [f"{ep}/{repo}/resolve/main/{path}"], capture_output=True, text=True, check=True).stdout
    secs, cpu = run_child(["curl", "-sS", "-o", "/dev/null"] + (["--cacert", ca] if ca else []) + [out])
    res = {"mode": "curl", "MBps": round(f["size"] / secs / 1e6), "cpu_per_gib": round(cpu / gib, 2)}
res["load"] = os.getloadavg()[0]
print(json.dumps(res))
