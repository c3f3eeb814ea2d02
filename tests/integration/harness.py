"""Shared helpers for hffs integration tests: start the Hub simulator, mount, compare, count.

Every test talks to the real `hffs` binary (HFFS_BIN) and a simulator on loopback started with
tests/hubsim/run in a state dir of its own, so test modules can run in parallel. The simulator's
launcher and client (tests/hubsim/hubsim/launch.py) are the ones its own tests use.
"""
import hashlib
import os
import shutil
import select
import subprocess
import sys
import tempfile
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "hubsim"))
from hubsim import launch  # noqa: E402
from hubsim.launch import wait_for  # noqa: E402,F401  (re-exported for the test modules)

HUBSIM = launch.RUN
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


class BackgroundRead:
    """Reads a file front to back in 1 MiB reads on a thread of its own: `progress` counts the bytes
    read so far; at the end `sha256` holds the digest of every byte, or `error` the OSError."""

    def __init__(self, path):
        self.path = path
        self.progress = 0
        self.sha256 = None
        self.error = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        h = hashlib.sha256()
        try:
            with open(self.path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                    self.progress += len(chunk)
            self.sha256 = h.hexdigest()
        except OSError as e:
            self.error = e

    def alive(self):
        return self.thread.is_alive()

    def join(self, timeout):
        self.thread.join(timeout)


class Simulator(launch.Simulator):
    """One running simulator (API + nginx CDN) in its own state dir (hubsim/launch.py)."""

    def __init__(self, name, *args):
        super().__init__(*args, name=name, prefix="hffs-it-")


class Mount:
    """`hffs mount` into a fresh directory, torn down with `hffs umount`. ``netns``: `hffs mount` runs
    in that network namespace only (launch.netns_argv), its mount seen from everywhere; ``root``:
    where the mountpoint and home dirs are made (default: the temp dir)."""

    def __init__(self, sim, repo, *extra, env=None, cache_dir=None, token=None, netns=None, root=None):
        self.sim = sim
        self.netns = netns
        self.dir = tempfile.mkdtemp(prefix="hffs-mnt-", dir=root)
        self.home = tempfile.mkdtemp(prefix="hffs-home-", dir=root)
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
            [*launch.netns_argv(self.netns), HFFS, "mount", self.repo, self.dir, "--cache-dir", self.cache_dir,
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


def wait_exit(pid, timeout=20.0, what=None):
    """Returns once process ``pid`` (any process, not only a child) has exited: its pidfd becomes
    readable at that moment, so this waits on the event itself."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or f'pid {pid} to exit'}")
    finally:
        os.close(fd)


def mount_metrics(mnt_dir):
    """The mount's Prometheus text (the root's user.hffs.metrics) as {"name{labels}": value}."""
    vals = {}
    for line in os.getxattr(mnt_dir, "user.hffs.metrics").decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


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
