#!/usr/bin/python3
"""Small files, one run: THREADS (8) threads read every file of a repo through an hffs mount (fresh
cache), or `curl -L -Z` fetches them from /resolve. Prints files/s, the requests the simulator saw by
kind, the daemon's CPU seconds, and the number of files whose sha256 is wrong (must be 0).
A probe for one question at a time, not the bench (bench/run.sh); e.g.
  tests/hubsim/run start --repos small-files --state-dir /tmp/x-sim
  bench/probe/small_files.py /tmp/x-sim hffs-test/small-files hffs build/cli/hffs /tmp/x-work
  bench/probe/small_files.py /tmp/x-sim hffs-test/small-files curl /tmp/x-work
A first-byte delay: POST {"faults":{"api":{"delay_ms":20},"resolve":{"delay_ms":20}},"cdn_delay_ms":20}
to $HF_ENDPOINT/_sim/config first.
Time each run with a work dir of its own: on an ext4 without a journal, inode allocation skips, one
by one, inodes freed in the last minute or so (fs/ext4/ialloc.c recently_deleted), so the rmtree of
the previous run's 2000 cache files makes every file this run creates scan them: the daemon spent
~3x the CPU (1.1-1.4 s instead of 0.4 s for 1000 files, most of it in recently_deleted) on this
machine's / (ext4, no journal) when the same work dir was reused back to back.
"""
import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

state, repo, mode = sys.argv[1:4]
env = {}
for line in open(os.path.join(state, "env")):
    k, _, v = line.strip().partition("=")
    env[k] = v.strip("'")
ep = env["HF_ENDPOINT"]
ca = env.get("HUBSIM_CA_FILE")
man = json.load(open(env["HUBSIM_MANIFEST"]))
r = [x for x in man["repos"] if x["id"] == repo][0]
head = r["branches"][r["default_branch"]]
files = [f for f in r["commits"][head]["files"] if f["path"] not in ("README.md", ".gitattributes")]
THREADS = int(os.environ.get("THREADS", "8"))


def sim(path, data=None):
    req = urllib.request.Request(ep + path, data=data, method="POST" if data is not None else "GET")
    import ssl
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    return json.load(urllib.request.urlopen(req, context=ctx))


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(pred, secs=60):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


if mode == "hffs":
    hffs, work = sys.argv[4:6]
    extra = sys.argv[6:]
    mnt, cache = os.path.join(work, "mnt"), os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    args = [hffs, "mount", repo, mnt, "--cache-dir", cache, "--foreground", "--log-file",
            os.path.join(work, "hffs.log"), "--log-level", "warn"] + (["--ca-file", ca] if ca else []) + extra
    e = dict(os.environ, HF_ENDPOINT=ep, HF_HOME=os.path.join(work, "hfhome"))
    p = subprocess.Popen(args, env=e)
    if not wait_for(lambda: os.path.ismount(mnt) or p.poll() is not None) or not os.path.ismount(mnt):
        sys.exit("mount failed")
    sim("/_sim/reset", b"")
    cpu0 = cpu_of(p.pid)
    base = mnt
else:
    work = sys.argv[4]
    sim("/_sim/reset", b"")
    base = None

t0 = time.time()
bad = []
if mode == "hffs":
    def one(f):
        with open(os.path.join(base, f["path"]), "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != f["sha256"]:
            bad.append(f["path"])
    with cf.ThreadPoolExecutor(THREADS) as ex:
        list(ex.map(one, files))
else:
    cfg = os.path.join(work, "curl.cfg")
    outd = os.path.join(work, "curl-out")
    shutil.rmtree(outd, ignore_errors=True)
    os.makedirs(outd)
    with open(cfg, "w") as c:
        for i, f in enumerate(files):
            c.write(f'url = "{ep}/{repo}/resolve/main/{f["path"]}"\noutput = "{outd}/{i}"\n')
    cmd = ["curl", "-sS", "-L", "-Z", "--parallel-max", str(THREADS), "-K", cfg] + (["--cacert", ca] if ca else [])
    subprocess.run(cmd, check=True)
    for i, f in enumerate(files):
        if hashlib.sha256(open(f"{outd}/{i}", "rb").read()).hexdigest() != f["sha256"]:
            bad.append(f["path"])
el = time.time() - t0
st = sim("/_sim/stats?log=0")
res = {"mode": mode, "files": len(files), "secs": round(el, 3), "files_per_s": round(len(files) / el, 1),
       "bad": len(bad), "requests": st["total_requests"], "by_kind": st["by_kind"]}
if mode == "hffs":
    res["daemon_cpu_s"] = round(cpu_of(p.pid) - cpu0, 2)
    subprocess.run(["fusermount3", "-u", mnt])
    p.wait(30)
print(json.dumps(res))
