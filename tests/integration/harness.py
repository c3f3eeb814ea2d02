"""Shared helpers for hffs integration tests: start the Hub simulator, mount, compare, count.

Every test talks to the real `hffs` binary (HFFS_BIN) and a simulator on loopback started with
tests/hubsim/run in a state dir of its own, so test modules can run in parallel.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request
import ssl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HUBSIM = os.path.join(ROOT, "tests", "hubsim", "run")
HFFS = os.environ.get("HFFS_BIN") or os.path.join(ROOT, "build", "cli", "hffs")


def sha256_file(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class Simulator:
    """One running simulator (API + nginx CDN) in its own state dir."""

    def __init__(self, name, *args):
        self.state_dir = tempfile.mkdtemp(prefix=f"hffs-it-{name}-")
        self.args = list(args)
        self.env = {}

    def start(self):
        out = subprocess.run([HUBSIM, "start", "--state-dir", self.state_dir, *self.args],
                             check=True, capture_output=True, text=True, timeout=300).stdout
        for line in out.splitlines():
            if "=" in line and not line.startswith(" "):
                k, v = line.split("=", 1)
                self.env[k.strip()] = v.strip()
        assert "HF_ENDPOINT" in self.env, out
        with open(os.path.join(self.state_dir, "manifest.json")) as f:
            self.manifest = json.load(f)
        return self

    def stop(self):
        subprocess.run([HUBSIM, "stop", "--state-dir", self.state_dir], capture_output=True, timeout=60)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def endpoint(self):
        return self.env["HF_ENDPOINT"]

    def _ctx(self):
        ca = self.env.get("HUBSIM_CA_FILE")
        return ssl.create_default_context(cafile=ca) if ca else None

    def control(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30, context=self._ctx()) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def stats(self):
        return self.control("/_sim/stats")

    def reset(self):
        self.control("/_sim/reset", {})

    def configure(self, **knobs):
        self.control("/_sim/config", knobs)

    # --- manifest helpers -------------------------------------------------------------
    def repo(self, repo_id, repo_type="model"):
        for r in self.manifest["repos"]:
            if r["id"] == repo_id and r.get("type", "model") == repo_type:
                return r
        raise KeyError(repo_id)

    def files(self, repo_id, revision="main", repo_type="model"):
        """{path: file-dict} of the repo at a revision (branch, tag, ref or sha)."""
        r = self.repo(repo_id, repo_type)
        sha = r["refs"].get(revision, revision)
        return {f["path"]: f for f in r["commits"][sha]["files"]}, sha


class Mount:
    """`hffs mount` into a fresh directory, torn down with `hffs umount`."""

    def __init__(self, sim, repo, *extra, env=None, cache_dir=None, token=None):
        self.sim = sim
        self.dir = tempfile.mkdtemp(prefix="hffs-mnt-")
        self.home = tempfile.mkdtemp(prefix="hffs-home-")
        self.cache_dir = cache_dir or os.path.join(self.home, "cache")
        self.repo = repo
        self.extra = list(extra)
        self.env = dict(os.environ)
        self.env.pop("HF_TOKEN", None)
        self.env.update({"HF_ENDPOINT": sim.endpoint, "HF_HOME": self.home})
        if "HUBSIM_CA_FILE" in sim.env:
            self.env["SSL_CERT_FILE"] = sim.env["HUBSIM_CA_FILE"]
        if token:
            self.env["HF_TOKEN"] = token
        self.env.update(env or {})
        self.mounted = False
        self.result = None

    def run(self):
        self.result = subprocess.run(
            [HFFS, "mount", self.repo, self.dir, "--cache-dir", self.cache_dir,
             "--log-file", os.path.join(self.home, "hffs.log"), *self.extra],
            env=self.env, capture_output=True, text=True, timeout=120)
        self.mounted = self.result.returncode == 0
        return self.result

    def __enter__(self):
        try:
            r = self.run()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        if r.returncode != 0:
            log = self.log()
            self.__exit__(None, None, None)
            raise AssertionError(f"hffs mount failed ({r.returncode}): {r.stderr}\nlog: {log}")
        return self

    def log(self):
        try:
            with open(os.path.join(self.home, "hffs.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def umount(self):
        if self.mounted:
            r = subprocess.run([HFFS, "umount", self.dir], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                subprocess.run([HFFS, "umount", "--lazy", self.dir], capture_output=True, timeout=60)
            self.mounted = False

    def __exit__(self, *exc):
        self.umount()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def daemon_pid(self):
        out = subprocess.run(["pgrep", "-f", f"hffs mount .* {self.dir} "], capture_output=True, text=True).stdout
        pids = [int(p) for p in out.split()]
        return pids[0] if pids else None


def wait_for(cond, timeout=20.0, what="condition"):
    """Polls `cond` until it returns something truthy (returned), or fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def listing(root):
    """{relative path: size} for every file, and the set of directories, walking the mount."""
    files, dirs = {}, set()
    for d, dns, fns in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != ".":
            dirs.add(rel)
        for fn in fns:
            p = os.path.join(d, fn)
            files[os.path.relpath(p, root)] = os.stat(p).st_size
    return files, dirs


class SimTestCase(unittest.TestCase):
    """One simulator per test class (override SIM_ARGS)."""
    SIM_ARGS = ()

    @classmethod
    def setUpClass(cls):
        if not os.path.exists("/dev/fuse"):
            raise unittest.SkipTest("/dev/fuse is not available")
        cls.sim = Simulator(cls.__name__.lower(), *cls.SIM_ARGS)
        # Registered before start: even a failing setUpClass leaves no simulator running.
        cls.addClassCleanup(cls.sim.cleanup)
        cls.sim.start()

    def assert_tree_matches(self, mnt, files):
        got, _ = listing(mnt.dir)
        want = {p: f["size"] for p, f in files.items()}
        self.assertEqual(got, want)

    def assert_all_sha256(self, mnt, files):
        for p, f in files.items():
            self.assertEqual(sha256_file(mnt.path(p)), f["sha256"], p)
