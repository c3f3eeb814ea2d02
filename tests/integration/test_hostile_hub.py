"""A hostile or broken Hub, and the mount's start (issue #11: 4, 7, 10, 11, 12a): the daemon dies
with its waiting parent, dot-segment revisions are refused, an https -> http redirect is refused
(and counted), a relative --ca-file works in daemon mode, and a combined fault storm is retried
until the deadline: every byte right, no EIO."""
import errno
import os
import signal
import subprocess
import tempfile
import shutil
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import HFFS, Mount, SimTestCase, sha256_file, wait_for

SAMPLE = "hffs-test/tiny-model"


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class MountStart(SimTestCase):
    def tearDown(self):
        self.sim.configure(clear_faults=True, sign_ttl=3600)

    def test_daemon_dies_with_the_waiting_parent(self):
        """The tree listing hangs (the Hub stalls it); the waiting `hffs mount` is killed: the forked
        daemon must go too instead of staying behind."""
        self.sim.configure(faults={"api": {"stall_every": 1, "path_regex": "/tree/"}})
        self.sim.reset()
        mnt = tempfile.mkdtemp(prefix="hffs-mnt-")
        home = tempfile.mkdtemp(prefix="hffs-home-")
        env = dict(os.environ, HF_ENDPOINT=self.sim.endpoint, HF_HOME=home)
        env.pop("HF_TOKEN", None)
        parent = subprocess.Popen([HFFS, "mount", SAMPLE, mnt, "--cache-dir", os.path.join(home, "cache"),
                                   "--log-file", os.path.join(home, "hffs.log")],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemon = None
        try:
            daemon = wait_for(lambda: (children(parent.pid) or [None])[0], 10, "the forked daemon")
            wait_for(lambda: self.sim.stats()["faults_injected"].get("api.stall", 0) >= 1, 15,
                     "the daemon to be stuck in the tree listing")
            parent.send_signal(signal.SIGKILL)
            parent.wait(10)
            wait_for(lambda: not alive(daemon), 5, "the daemon to die with its parent")
        finally:
            if daemon and alive(daemon):
                os.kill(daemon, signal.SIGKILL)
            if parent.poll() is None:
                parent.kill()
                parent.wait(10)
            subprocess.run([HFFS, "umount", mnt], capture_output=True, timeout=30)
            shutil.rmtree(mnt, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)

    def test_dot_segment_revisions_are_refused(self):
        for rev in ("..", ".", "refs/.."):
            m = Mount(self.sim, SAMPLE, "--revision", rev)
            try:
                r = m.run()
                self.assertEqual(r.returncode, 2, f"{rev}: {r.stderr}")
                self.assertIn("invalid revision", r.stderr)
            finally:
                m.__exit__(None, None, None)

    def test_dot_segment_revision_under_hub_is_not_main(self):
        """`@%2e%2e` decodes to "..": it must not reach libcurl (which would normalize the URL
        path and serve main under that name)."""
        files, _ = self.sim.files(SAMPLE)
        with Mount(self.sim, "--hub") as m:
            self.assertTrue(os.path.exists(m.path(SAMPLE + "/config.json")))
            for name in ("tiny-model@%2e%2e", "tiny-model@%2E", "tiny-model@refs%2F%2e%2e"):
                with self.assertRaises(OSError, msg=name) as cm:
                    os.stat(m.path("hffs-test/" + name + "/config.json"))
                self.assertIn(cm.exception.errno, (errno.ENOENT, errno.EINVAL), name)


class OverHttps(SimTestCase):
    SIM_ARGS = ("--tls",)

    def tearDown(self):
        self.sim.configure(cdn_scheme="")

    def metrics(self, m):
        return os.getxattr(m.dir, "user.hffs.metrics").decode()

    def counter(self, m):
        for line in self.metrics(m).splitlines():
            if line.startswith("hffs_http_downgrades_refused_total{"):
                return int(line.split()[-1])
        self.fail("no hffs_http_downgrades_refused_total in the metrics")

    def test_https_to_http_redirect_is_refused(self):
        files, _ = self.sim.files(SAMPLE)
        lfs = next(f for f in files.values() if f["lfs"])
        small = next(f for f in files.values() if not f["lfs"])
        with Mount(self.sim, SAMPLE, "--deadline", "20") as m:
            self.sim.configure(cdn_scheme="http")
            t0 = time.monotonic()
            with self.assertRaises(OSError) as cm:
                with open(m.path(lfs["path"]), "rb") as fh:
                    fh.read(4096)
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertLess(time.monotonic() - t0, 10, "a refusal is not retried")
            self.assertIn("from https to plain http", m.log())
            self.assertGreaterEqual(self.counter(m), 1)
            # What the Hub serves itself over https is unaffected.
            self.assertEqual(sha256_file(m.path(small["path"])), small["sha256"])

    def test_allow_http_redirect_follows_it(self):
        files, _ = self.sim.files(SAMPLE)
        lfs = next(f for f in files.values() if f["lfs"])
        with Mount(self.sim, SAMPLE, "--deadline", "5", "--allow-http-redirect") as m:
            self.sim.configure(cdn_scheme="http")
            # The simulator's CDN speaks only TLS, so the plain-http request fails, but it is sent.
            with self.assertRaises(OSError):
                with open(m.path(lfs["path"]), "rb") as fh:
                    fh.read(4096)
            self.assertNotIn("from https to plain http", m.log())
            self.assertEqual(self.counter(m), 0)

    def test_relative_ca_file_in_daemon_mode(self):
        files, _ = self.sim.files(SAMPLE)
        ca_dir, ca = os.path.split(self.sim.env["HUBSIM_CA_FILE"])
        # Run from the CA's directory with a bare file name (a "../.." path would still resolve
        # from "/", where the daemon runs).
        m = Mount(self.sim, SAMPLE, "--ca-file", ca, env={"SSL_CERT_FILE": "/nonexistent"})
        cwd = os.getcwd()
        os.chdir(ca_dir)
        try:
            m.__enter__()
        finally:
            os.chdir(cwd)
        try:
            lfs = next(f for f in files.values() if f["lfs"])
            self.assertEqual(sha256_file(m.path(lfs["path"])), lfs["sha256"])
        finally:
            m.__exit__(None, None, None)


class CombinedStorm(SimTestCase):
    """429 every 5th, 503 every 7th, a cut every 3rd response and 2 s signatures at once: every
    file of the sample repos reads right (retries last until --deadline, not a fixed count)."""
    # (repo, type, files read at most): many-files has 10,000 tiny files; 40 of them are enough.
    REPOS = (("hffs-test/tiny-model", "model", None), ("hffs-test/demo-space", "space", None),
             ("hffs-test/many-files", "dataset", 40))

    def tearDown(self):
        self.sim.configure(clear_faults=True, sign_ttl=3600)

    def test_every_file_under_the_storm(self):
        t0 = time.monotonic()
        total = 0
        for repo, rtype, cap in self.REPOS:
            files, _ = self.sim.files(repo, repo_type=rtype)
            files = dict(sorted(files.items())[:cap])
            prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[rtype]
            self.sim.configure(clear_faults=True, sign_ttl=3600)
            with Mount(self.sim, prefix + repo, "--deadline", "60") as m:
                self.sim.configure(ratelimit_every=5, retry_after=1, error_every=7, error_status=503,
                                   drop_every=3, sign_ttl=2)
                self.sim.reset()
                # Several readers at once, as a loader does: their requests interleave on the
                # simulator's counters, so one operation can meet several faults in a row.
                with ThreadPoolExecutor(6) as pool:
                    got = dict(zip(files, pool.map(lambda p: sha256_file(m.path(p)), files)))
                for p, f in files.items():
                    self.assertEqual(got[p], f["sha256"], f"{repo}: {p}")
                    total += 1
                st = self.sim.stats()
                self.assertGreaterEqual(sum(st["faults_injected"].values()), 3, st["faults_injected"])
                self.assertNotIn("gave up after", m.log())
            self.assertLess(time.monotonic() - t0, 600, "the storm run is bounded")
        self.assertGreater(total, 3)


if __name__ == "__main__":
    unittest.main()
