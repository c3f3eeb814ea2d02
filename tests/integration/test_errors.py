"""Bad input gets one clear line and the right exit code: missing repo/revision, gated and private
with and without a token, an invalid token, mountpoint problems; umount of a dead daemon."""
import os
import signal
import subprocess
import tempfile
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file, wait_exit

EXIT_USAGE, EXIT_REPO, EXIT_REV, EXIT_ACCESS, EXIT_NET, EXIT_MP = 2, 3, 4, 5, 6, 7


class Errors(SimTestCase):
    def expect_fail(self, code, needles, repo, *extra, token=None, env=None):
        m = Mount(self.sim, repo, *extra, token=token, env=env)
        try:
            r = m.run()
            self.assertEqual(r.returncode, code, r.stderr)
            line = r.stderr.strip()
            self.assertEqual(len(line.splitlines()), 1, line)
            for n in needles:
                self.assertIn(n, line)
            if token:
                self.assertNotIn(token, line)
                self.assertNotIn(token, m.log())
            self.assertFalse(os.path.ismount(m.dir))
        finally:
            m.__exit__(None, None, None)

    def test_missing_repo(self):
        self.expect_fail(EXIT_REPO, ["hffs-test/nope", "not found", "private"], "hffs-test/nope")

    def test_missing_revision(self):
        self.expect_fail(EXIT_REV, ["no-such-branch", "not found"], "hffs-test/tiny-model", "--revision",
                         "no-such-branch")

    def test_invalid_repo_id(self):
        self.expect_fail(EXIT_USAGE, ["invalid repository"], "bad--id/x..y")

    def test_private_without_and_with_token(self):
        self.expect_fail(EXIT_REPO, ["not found", "log in"], "hffs-test/private-model")
        files, _ = self.sim.files("hffs-test/private-model")
        with Mount(self.sim, "hffs-test/private-model", token=self.sim.env["HUBSIM_TOKEN"]) as m:
            self.assert_all_sha256(m, files)

    def test_gated_without_token_not_approved_and_approved(self):
        self.expect_fail(EXIT_ACCESS, ["gated", "request access", "/hffs-test/gated-model"],
                         "hffs-test/gated-model")
        self.expect_fail(EXIT_ACCESS, ["gated", "not yet authorized"], "hffs-test/gated-model",
                         token=self.sim.env["HUBSIM_TOKEN_NOT_APPROVED"])
        files, _ = self.sim.files("hffs-test/gated-model")
        with Mount(self.sim, "hffs-test/gated-model", token=self.sim.env["HUBSIM_TOKEN"]) as m:
            self.assert_all_sha256(m, files)
        st = self.sim.stats()
        self.assertEqual(st["cdn_auth_requests"], 0, st)

    def test_invalid_token(self):
        self.expect_fail(EXIT_ACCESS, ["rejected the token"], "hffs-test/tiny-model", token="hf_definitely_invalid")

    def test_token_from_file(self):
        files, _ = self.sim.files("hffs-test/private-model")
        m = Mount(self.sim, "hffs-test/private-model")
        with open(os.path.join(m.home, "token"), "w") as f:
            f.write(self.sim.env["HUBSIM_TOKEN"] + "\n")
        with m:
            self.assert_all_sha256(m, files)

    def test_hub_unreachable(self):
        self.expect_fail(EXIT_NET, ["Hub unreachable", "127.0.0.1:9"], "hffs-test/tiny-model",
                         env={"HF_ENDPOINT": "http://127.0.0.1:9"})

    def test_mountpoint_missing_and_busy(self):
        r = subprocess.run([HFFS, "mount", "hffs-test/tiny-model", "/nonexistent/mnt"], capture_output=True,
                           text=True, env={**os.environ, "HF_ENDPOINT": self.sim.endpoint})
        self.assertEqual(r.returncode, EXIT_MP)
        self.assertIn("does not exist", r.stderr)
        with Mount(self.sim, "hffs-test/tiny-model") as m:
            r = subprocess.run([HFFS, "mount", "hffs-test/tiny-model", m.dir], capture_output=True, text=True,
                               env=m.env)
            self.assertEqual(r.returncode, EXIT_MP)
            self.assertIn("busy", r.stderr)

    def test_umount_after_kill9_and_sigterm(self):
        for sig in (signal.SIGKILL, signal.SIGTERM):
            m = Mount(self.sim, "hffs-test/tiny-model")
            with m:
                pid = m.daemon_pid()
                self.assertIsNotNone(pid)
                os.kill(pid, sig)
                wait_exit(pid, 20, "the daemon to exit")
                r = subprocess.run([HFFS, "umount", m.dir], capture_output=True, text=True)
                if sig == signal.SIGTERM:
                    # SIGTERM unmounts cleanly by itself; umount then says "not mounted".
                    self.assertFalse(os.path.ismount(m.dir), r.stderr)
                else:
                    self.assertEqual(r.returncode, 0, r.stderr)
                self.assertFalse(os.path.ismount(m.dir))
                os.listdir(m.dir)  # no "Transport endpoint is not connected"
                m.mounted = False

    def test_umount_busy_names_process(self):
        with Mount(self.sim, "hffs-test/tiny-model") as m:
            # A process whose working directory keeps the mount busy (killed below; not a wait).
            p = subprocess.Popen(["sleep", "60"], cwd=m.dir)
            try:
                r = subprocess.run([HFFS, "umount", m.dir], capture_output=True, text=True)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("busy", r.stderr)
                self.assertIn(f"pid {p.pid}", r.stderr)
                r = subprocess.run([HFFS, "umount", "--lazy", m.dir], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                m.mounted = False
            finally:
                p.kill()
                p.wait()


if __name__ == "__main__":
    unittest.main()
