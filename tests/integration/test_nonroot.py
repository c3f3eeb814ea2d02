"""A mount by a normal user (issue 16): a user made for the test mounts a repo from the simulator with
fusermount3 (no sudo), reads every byte (sha256), sees read-only files of its own with the right
modes (EROFS on write), runs `hffs status`, and unmounts with `hffs umount`; nothing stays mounted.
What needs root degrades with one log line each (passthrough, the kernel read-ahead), the cache goes
under the user's home, and `-o allow_other` without `user_allow_other` is refused in one line.

Needs root (to make the user) and useradd/userdel, setpriv and a setuid fusermount3; skipped with
the reason otherwise. The user and its home are removed in cleanups that run even on failure."""
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest
import uuid

from harness import HFFS, SimTestCase, wait_exit, wait_for

REPO = "hffs-test/tiny-model"
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

# Run as the user inside the mount: the owner is the only one who may look into it (no allow_other).
PROBE = r"""
import errno, hashlib, json, os, stat, sys
root = sys.argv[1]
out = {"files": {}, "modes": {}, "write_errors": {}}
for d, dns, fns in os.walk(root):
    for n in dns + fns:
        p = os.path.join(d, n)
        st = os.lstat(p)
        out["modes"][os.path.relpath(p, root)] = [stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode), st.st_uid, st.st_gid]
    for n in fns:
        p = os.path.join(d, n)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        out["files"][os.path.relpath(p, root)] = h.hexdigest()
first = sorted(out["files"])[0]
for what, op in (("write", lambda: open(os.path.join(root, first), "r+b")),
                 ("create", lambda: open(os.path.join(root, "new.txt"), "wb")),
                 ("mkdir", lambda: os.mkdir(os.path.join(root, "newdir"))),
                 ("unlink", lambda: os.unlink(os.path.join(root, first))),
                 ("chmod", lambda: os.chmod(os.path.join(root, first), 0o644))):
    try:
        op()
        out["write_errors"][what] = 0
    except OSError as e:
        out["write_errors"][what] = e.errno
print(json.dumps(out))
"""


def fuse_mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class NonRootMount(SimTestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to create a user for the test")
        for tool in ("useradd", "userdel", "setpriv", "fusermount3"):
            if not shutil.which(tool, path=PATH):
                raise unittest.SkipTest(f"{tool} is not installed")
        fm = os.stat(shutil.which("fusermount3", path=PATH))
        if not (fm.st_mode & stat.S_ISUID and fm.st_uid == 0):
            raise unittest.SkipTest("fusermount3 is not setuid root: a normal user cannot mount FUSE here")
        super().setUpClass()

    def setUp(self):
        # Everything the user touches lives under a directory of its own, readable by the user: the
        # checkout (and its build dir) may not be, so the binary is copied there.
        self.base = tempfile.mkdtemp(prefix="creds-nonroot-")
        self.addCleanup(shutil.rmtree, self.base, True)
        os.chmod(self.base, 0o755)
        self.user = "hffsnr" + uuid.uuid4().hex[:10]
        self.home = os.path.join(self.base, "home")
        r = subprocess.run(["useradd", "--create-home", "--home-dir", self.home, "--user-group",
                            "--shell", "/bin/sh", self.user], capture_output=True, text=True, env={"PATH": PATH})
        if r.returncode != 0:
            self.skipTest(f"useradd failed: {r.stderr.strip()}")
        self.addCleanup(self._remove_user)
        pw = subprocess.run(["id", "-u", self.user], capture_output=True, text=True, check=True)
        self.uid = int(pw.stdout)
        self.gid = int(subprocess.run(["id", "-g", self.user], capture_output=True, text=True, check=True).stdout)
        self.bin = os.path.join(self.base, "bin", "hffs")
        os.makedirs(os.path.dirname(self.bin))
        shutil.copy2(HFFS, self.bin)
        os.chmod(os.path.dirname(self.bin), 0o755)
        os.chmod(self.bin, 0o755)
        self.mnt = os.path.join(self.base, "mnt")
        os.mkdir(self.mnt)
        os.chown(self.mnt, self.uid, self.gid)
        self.log = os.path.join(self.home, "hffs.log")
        self.addCleanup(self._unmount_leftover)

    def _remove_user(self):
        # The daemon (if a failure left one) dies with its mount; then the user goes, home included.
        subprocess.run(["userdel", "--remove", self.user], capture_output=True, env={"PATH": PATH})

    def _unmount_leftover(self):
        # After a failure: detach the mount and stop its daemon (userdel refuses a user with processes).
        if fuse_mounted(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        pid = self.daemon_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            try:
                wait_exit(pid, 10, "the user's daemon to stop")
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
                wait_exit(pid, 10, "the user's daemon to die")

    def as_user(self, *argv, timeout=120):
        env = {"HOME": self.home, "USER": self.user, "LOGNAME": self.user, "PATH": PATH,
               "HF_ENDPOINT": self.sim.endpoint}
        if "HUBSIM_CA_FILE" in self.sim.env:
            env["SSL_CERT_FILE"] = self.sim.env["HUBSIM_CA_FILE"]
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--",
                               *argv], env=env, cwd=self.home, capture_output=True, text=True, timeout=timeout)

    def daemon_pid(self):
        out = subprocess.run(["pgrep", "-u", str(self.uid), "-f", f"hffs mount .* {self.mnt} "],
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else None

    def open_fuse_device(self):
        """/dev/fuse as udev makes it (0666: fusermount3 opens it as the user) for the test, its
        mode restored afterwards. A machine without udev (a VM, some containers) leaves it 0600:
        then hffs must say so in one line first."""
        mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
        if mode & 0o006 == 0o006:
            return
        r = self.as_user(self.bin, "mount", REPO, self.mnt, "--log-file", self.log)
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertIn("/dev/fuse readable and writable", r.stderr)
        self.assertIn("chmod 0666 /dev/fuse", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertFalse(fuse_mounted(self.mnt))
        self.addCleanup(os.chmod, "/dev/fuse", mode)
        os.chmod("/dev/fuse", 0o666)

    def test_mount_read_status_umount(self):
        files, _ = self.sim.files(REPO)
        self.open_fuse_device()
        r = self.as_user(self.bin, "mount", REPO, self.mnt, "--log-file", self.log)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(fuse_mounted(self.mnt))
        pid = self.daemon_pid()
        self.assertIsNotNone(pid)
        self.assertEqual(os.stat(f"/proc/{pid}").st_uid, self.uid)  # the daemon runs as the user

        probe = self.as_user("python3", "-c", PROBE, self.mnt)
        self.assertEqual(probe.returncode, 0, probe.stderr)
        got = json.loads(probe.stdout)
        self.assertEqual(got["files"], {p: f["sha256"] for p, f in files.items()})
        for p, (mode, is_dir, uid, gid) in got["modes"].items():
            self.assertEqual(mode, 0o555 if is_dir else 0o444, p)
            self.assertEqual((uid, gid), (self.uid, self.gid), p)
        self.assertEqual(got["write_errors"], {k: 30 for k in ("write", "create", "mkdir", "unlink", "chmod")})  # EROFS

        # Another user (root included) may not look into it: no allow_other.
        with self.assertRaises(PermissionError):
            os.listdir(self.mnt)

        st = self.as_user(self.bin, "status", self.mnt)
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertIn(self.mnt, st.stdout)
        self.assertIn(REPO, st.stdout)
        # Every mount: this one, and others' (root's, without allow_other) named as such, not failures.
        every = self.as_user(self.bin, "status")
        self.assertEqual(every.returncode, 0, every.stdout + every.stderr)
        self.assertIn(REPO, every.stdout)
        self.assertNotIn("not an hffs mount", every.stdout)
        # Root may not look into the user's mount either: listed, `hffs status` over every mount still succeeds.
        mine = subprocess.run([self.bin, "status"], capture_output=True, text=True, timeout=60)
        self.assertIn(f"{self.mnt}: another user's mount (not mounted with allow_other)", mine.stdout)

        # The cache went under the user's home, private to the user.
        cache = os.path.join(self.home, ".cache", "huggingface", "hffs")
        cst = os.stat(cache)
        self.assertEqual((cst.st_uid, stat.S_IMODE(cst.st_mode)), (self.uid, 0o700))

        u = self.as_user(self.bin, "umount", self.mnt)
        self.assertEqual(u.returncode, 0, u.stderr)
        wait_exit(pid, 20, "the user's daemon to exit after hffs umount")
        self.assertFalse(fuse_mounted(self.mnt))

        with open(self.log) as f:
            log = f.read()
        self.assertEqual(log.count("FUSE passthrough off: it needs CAP_SYS_ADMIN"), 1, log)
        self.assertEqual(log.count("kernel read-ahead left at its default"), 1, log)
        self.assertNotIn("[error]", log)

    def test_allow_other_needs_user_allow_other(self):
        with open("/etc/fuse.conf") as f:
            if any(line.strip() == "user_allow_other" for line in f):
                self.skipTest("/etc/fuse.conf has user_allow_other on this machine")
        self.open_fuse_device()
        r = self.as_user(self.bin, "mount", REPO, self.mnt, "-o", "allow_other", "--log-file", self.log)
        self.assertEqual(r.returncode, 7, r.stderr)  # kExitMountpoint: before the daemon is started
        self.assertIn("user_allow_other", r.stderr)
        self.assertIn("/etc/fuse.conf", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertFalse(fuse_mounted(self.mnt))
        wait_for(lambda: self.daemon_pid() is None, 5, "no daemon left")


if __name__ == "__main__":
    unittest.main()
