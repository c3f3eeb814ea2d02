"""Local security and operations: the token never stays in argv, the cache is private, a cache
that cannot keep files (removed, full, read-only) still serves every read, a wedged daemon can
be detached, a partition heals by itself, and `hffs status` is live."""
import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file, wait_for

SAMPLE = "hffs-test/tiny-model"


def cached_bytes(m, rel):
    return int(os.getxattr(m.path(rel), "user.hffs.cached_bytes").decode())


def metrics(mnt_dir):
    return os.getxattr(mnt_dir, "user.hffs.metrics").decode()


def full_log(m):
    with open(os.path.join(m.home, "hffs.log")) as f:
        return f.read()


def read_text(path):
    with open(path) as f:
        return f.read()


def as_nobody(*cmd):
    return subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", *cmd],
                          capture_output=True, text=True, timeout=30)


class TokenAndPrivacy(SimTestCase):
    def setUp(self):
        self.files, _ = self.sim.files(SAMPLE)
        # A world-traversable parent: only the cache's own modes may keep other users out.
        self.parent = tempfile.mkdtemp(prefix="hffs-cachepriv-")
        os.chmod(self.parent, 0o755)
        self.addCleanup(shutil.rmtree, self.parent, True)

    def test_token_scrubbed_from_cmdline_and_daemon_not_dumpable(self):
        token = self.sim.env["HUBSIM_TOKEN"]
        with Mount(self.sim, SAMPLE, "--token", token) as m:
            pid = wait_for(m.daemon_pid, what="daemon pid")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            self.assertIn(b"--token", cmdline)
            self.assertNotIn(token.encode(), cmdline)
            self.assertEqual(sha256_file(m.path("config.json")), self.files["config.json"]["sha256"])
            self.assertRegex(metrics(m.dir), r"hffs_process_dumpable\{[^}]*\} 0\n")
            log = full_log(m)
            self.assertNotIn(token, log)
            self.assertEqual(log.count("--token was visible to other local users"), 1, log)
        helptext = subprocess.run([HFFS, "mount", "--help"], capture_output=True, text=True).stdout
        self.assertIn("prefer HF_TOKEN or --token-file", helptext)

    def test_cache_is_private_to_its_owner(self):
        cache = os.path.join(self.parent, "cache")
        with Mount(self.sim, SAMPLE, "--no-prefetch", cache_dir=cache) as m:
            for p in ("config.json", "tokenizer.json", "data/exact_2MiB.bin"):
                self.assertEqual(sha256_file(m.path(p)), self.files[p]["sha256"], p)
            self.assertEqual(cached_bytes(m, "tokenizer.json"), self.files["tokenizer.json"]["size"])
            seen_files = seen_dirs = 0
            for d, dns, fns in os.walk(cache):
                self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700, d)
                seen_dirs += 1
                for fn in fns:
                    mode = stat.S_IMODE(os.stat(os.path.join(d, fn)).st_mode)
                    self.assertEqual(mode, 0o600, os.path.join(d, fn))
                    seen_files += 1
            self.assertGreaterEqual(seen_files, 6)  # format, usage, lock, data+map, view
            self.assertTrue(os.path.isdir(os.path.join(cache, "views")))
            oid = self.files["tokenizer.json"]["sha256"]  # an LFS file: its key is its sha256
            data = os.path.join(cache, "hffs-v1", "data", oid[:2], oid)
            self.assertTrue(os.path.exists(data), data)
            r = as_nobody("cat", data)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("Permission denied", r.stderr)
            r = as_nobody("ls", os.path.join(cache, "views"))
            self.assertIn("Permission denied", r.stderr)
            self.assertNotIn("wider than", full_log(m))

    def test_cache_group_shares_with_that_group_only(self):
        cache = os.path.join(self.parent, "cache")
        with Mount(self.sim, SAMPLE, "--no-prefetch", "--cache-group", "nogroup", cache_dir=cache) as m:
            self.assertEqual(sha256_file(m.path("tokenizer.json")), self.files["tokenizer.json"]["sha256"])
            gid = int(subprocess.run(["getent", "group", "nogroup"], capture_output=True, text=True)
                      .stdout.split(":")[2])
            for d, dns, fns in os.walk(cache):
                st = os.stat(d)
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o2770, gid), d)
                for fn in fns:
                    st = os.stat(os.path.join(d, fn))
                    self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o660, gid), os.path.join(d, fn))
            oid = self.files["tokenizer.json"]["sha256"]
            r = as_nobody("sha256sum", os.path.join(cache, "hffs-v1", "data", oid[:2], oid))
            self.assertEqual(r.returncode, 0, r.stderr)  # nobody's group is nogroup
            self.assertEqual(r.stdout.split()[0], self.files["tokenizer.json"]["sha256"])
        r = subprocess.run([HFFS, "mount", SAMPLE, self.parent, "--cache-group", "no-such-group-hffs"],
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, HF_ENDPOINT=self.sim.endpoint))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no group 'no-such-group-hffs'", r.stderr)

    def test_wider_existing_cache_is_warned_about(self):
        cache = os.path.join(self.parent, "cache")
        os.makedirs(os.path.join(cache, "hffs-v1"))
        os.chmod(os.path.join(cache, "hffs-v1"), 0o755)
        with Mount(self.sim, SAMPLE, cache_dir=cache) as m:
            self.assertEqual(sha256_file(m.path("config.json")), self.files["config.json"]["sha256"])
            log = full_log(m)
        self.assertEqual(len(re.findall(r"hffs-v1 has mode 0755, wider than 0700", log)), 1, log)


class CacheLoss(SimTestCase):
    """The cache directory removed, its filesystem full or read-only under a running mount."""

    def setUp(self):
        self.files, _ = self.sim.files(SAMPLE)

    def read_ok(self, m, rel):
        self.assertEqual(sha256_file(m.path(rel)), self.files[rel]["sha256"], rel)

    def test_cache_dir_removed_under_a_running_mount(self):
        with Mount(self.sim, SAMPLE, "--no-prefetch") as m:
            self.read_ok(m, "config.json")
            self.assertEqual(cached_bytes(m, "config.json"), self.files["config.json"]["size"])
            shutil.rmtree(m.cache_dir)
            for rel in ("tokenizer.json", "vocab.txt", "data/one_MiB_plus_1.bin", "onnx/model.onnx"):
                self.read_ok(m, rel)
            # The layout is back and what is read now is kept again, and counted where it is kept.
            self.assertTrue(os.path.isfile(os.path.join(m.cache_dir, "hffs-v1", "format")))
            for d in (m.cache_dir, os.path.join(m.cache_dir, "hffs-v1"), os.path.join(m.cache_dir, "hffs-v1", "data")):
                self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700, d)
            self.cache_stats(m)
            self.read_ok(m, "pytorch_model.bin")
            self.assertEqual(cached_bytes(m, "pytorch_model.bin"), self.files["pytorch_model.bin"]["size"])
            self.assertNotIn("drifted", self.cache_stats(m))
            self.read_ok(m, "config.json")
            self.assertEqual(full_log(m).count("recreated the layout"), 1, full_log(m))

    def cache_stats(self, m):
        r = subprocess.run([HFFS, "cache", "stats", "--cache-dir", m.cache_dir], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout


class TmpfsCache(SimTestCase):
    """The cache on a small tmpfs of its own: filled up, then read-only."""

    def setUp(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("mounting a tmpfs needs root")
        self.files, _ = self.sim.files(SAMPLE)
        self.fsdir = tempfile.mkdtemp(prefix="hffs-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.fsdir], check=True)
        self.addCleanup(shutil.rmtree, self.fsdir, True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.fsdir])

    def read_ok(self, m, rel):
        self.assertEqual(sha256_file(m.path(rel)), self.files[rel]["sha256"], rel)

    def fill(self):
        path = os.path.join(self.fsdir, "filler")
        chunk = b"\0" * (1 << 20)
        with open(path, "wb") as f:
            for _ in range(64):  # bounded: the filesystem is 24 MiB
                try:
                    f.write(chunk)
                    f.flush()
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC)
                    break
        # Whatever the page cache still holds gets its ENOSPC at close: fill to the last byte.
        try:
            with open(path, "ab") as f:
                for _ in range(4096):
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOSPC)
        self.assertLess(os.statvfs(self.fsdir).f_bavail, 16)
        return path

    def unkept_warnings(self, m):
        return [l for l in full_log(m).splitlines() if "cannot keep" in l or "uncached" in l or "without keeping" in l]

    def test_full_then_freed(self):
        with Mount(self.sim, SAMPLE, "--no-prefetch", cache_dir=os.path.join(self.fsdir, "cache")) as m:
            self.read_ok(m, "config.json")
            filler = self.fill()
            for rel in ("tokenizer.json", "vocab.txt", "onnx/model.onnx", "data/one_MiB_plus_1.bin",
                        "pytorch_model.bin"):
                self.read_ok(m, rel)
            self.assertLess(cached_bytes(m, "data/one_MiB_plus_1.bin"), self.files["data/one_MiB_plus_1.bin"]["size"])
            self.assertLessEqual(len(self.unkept_warnings(m)), 1, full_log(m))
            os.unlink(filler)
            self.read_ok(m, "data/exact_2MiB.bin")
            self.assertEqual(cached_bytes(m, "data/exact_2MiB.bin"), self.files["data/exact_2MiB.bin"]["size"])

    def test_read_only_then_writable(self):
        """Linux refuses `remount,ro` while the daemon holds files open for writing (as it does), so
        the part of the cache where new files go becomes a read-only filesystem of its own: what a
        filesystem that turned read-only on an error (errors=remount-ro) looks like to the daemon."""
        with Mount(self.sim, SAMPLE, "--no-prefetch", cache_dir=os.path.join(self.fsdir, "cache")) as m:
            self.read_ok(m, "config.json")
            data = os.path.join(m.cache_dir, "hffs-v1", "data")
            subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=8m", "tmpfs", data], check=True)
            self.addCleanup(subprocess.run, ["umount", "-l", data])
            try:
                for rel in ("tokenizer.json", "vocab.txt", "onnx/model.onnx"):
                    self.read_ok(m, rel)
                self.assertEqual(cached_bytes(m, "vocab.txt"), 0)
            finally:
                subprocess.run(["mount", "-o", "remount,rw", data], check=True)
            self.assertLessEqual(len(self.unkept_warnings(m)), 1, full_log(m))
            self.read_ok(m, "data/exact_2MiB.bin")
            self.assertEqual(cached_bytes(m, "data/exact_2MiB.bin"), self.files["data/exact_2MiB.bin"]["size"])
            self.assertIn("keeping fetched files", full_log(m))


READER = "import sys\ntry:\n    open(sys.argv[1], 'rb').read()\nexcept OSError as e:\n    print(e.errno)\n    sys.exit(3)\n"


class Wedged(SimTestCase):
    def test_umount_force_detaches_a_stopped_daemon(self):
        files, _ = self.sim.files(SAMPLE)
        m = Mount(self.sim, SAMPLE, "--no-prefetch")
        with m:
            pid = wait_for(m.daemon_pid, what="daemon pid")
            os.kill(pid, signal.SIGSTOP)
            try:
                reader = subprocess.Popen([sys.executable, "-c", READER, m.path("tokenizer.json")],
                                          stdout=subprocess.PIPE, text=True)
                # The reader is blocked inside FUSE (waiting for the stopped daemon).
                wait_for(lambda: read_text(f"/proc/{reader.pid}/wchan") == "request_wait_answer",
                         what="the reader to block in FUSE")
                self.assertIsNone(reader.poll())
                t0 = time.monotonic()
                r = subprocess.run([HFFS, "umount", "--force", m.dir], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                m.mounted = False
                out, _ = reader.communicate(timeout=10)
                self.assertLess(time.monotonic() - t0, 10)
                self.assertEqual(reader.returncode, 3)
                self.assertIn(int(out.strip()), (errno.ENOTCONN, errno.ECONNABORTED))
                with open("/proc/mounts") as f:
                    self.assertNotIn(m.dir, f.read())
            finally:
                os.kill(pid, signal.SIGCONT)
            # Its connection gone, the daemon ends by itself; make sure.
            try:
                wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                         read_text(f"/proc/{pid}/stat").split(") ")[1][0] == "Z", timeout=10, what="daemon exit")
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
                raise


class Partition(SimTestCase):
    def test_reads_resume_when_the_network_is_back(self):
        files, _ = self.sim.files(SAMPLE)
        deadline = 3
        api_port = self.sim.endpoint.rsplit(":", 1)[1]
        cdn_port = self.sim.env["HUBSIM_CDN"].rsplit(":", 1)[1]
        with Mount(self.sim, SAMPLE, "--deadline", str(deadline), "--no-prefetch") as m:
            self.assertEqual(sha256_file(m.path("config.json")), files["config.json"]["sha256"])
            self.sim.stop()
            try:
                self.assertEqual(sha256_file(m.path("config.json")), files["config.json"]["sha256"])
                t0 = time.monotonic()
                with self.assertRaises(OSError) as cm:
                    sha256_file(m.path("tokenizer.json"))
                self.assertEqual(cm.exception.errno, errno.EIO)
                self.assertLess(time.monotonic() - t0, deadline + 3)
            finally:
                self.sim.args += ["--api-port", api_port, "--cdn-port", cdn_port]
                self.sim.start()

            def healed():
                try:
                    return sha256_file(m.path("tokenizer.json")) == files["tokenizer.json"]["sha256"]
                except OSError as e:
                    self.assertEqual(e.errno, errno.EIO)
                    return False
            wait_for(healed, timeout=30, what="reads to resume without a remount")
            self.assertEqual(sha256_file(m.path("vocab.txt")), files["vocab.txt"]["sha256"])


class LiveStatus(SimTestCase):
    def status_requests(self, mnt_dir):
        out = subprocess.run([HFFS, "status", mnt_dir], capture_output=True, text=True, timeout=30).stdout
        line = [l for l in out.splitlines() if "requests:" in l]
        self.assertEqual(len(line), 1, out)
        return {k: float(v) for k, v in re.findall(r"(api|resolve|data) ([0-9.]+)", line[0])}

    def test_status_counts_the_first_read_at_once(self):
        files, _ = self.sim.files(SAMPLE)
        with Mount(self.sim, SAMPLE, "--no-prefetch") as m:
            self.assertEqual(sha256_file(m.path("tokenizer.json")), files["tokenizer.json"]["sha256"])
            self.assertGreaterEqual(self.status_requests(m.dir)["data"], 1)

    def test_status_of_every_mount_finds_one_with_a_space_in_its_path(self):
        files, _ = self.sim.files(SAMPLE)
        m = Mount(self.sim, SAMPLE, "--no-prefetch")
        os.rmdir(m.dir)
        m.dir = tempfile.mkdtemp(prefix="hffs mnt ")
        with m:
            self.assertEqual(sha256_file(m.path("tokenizer.json")), files["tokenizer.json"]["sha256"])
            out = subprocess.run([HFFS, "status"], capture_output=True, text=True, timeout=30).stdout
            block = out.split(m.dir + "\n", 1)
            self.assertEqual(len(block), 2, out)
            req = re.search(r"requests: +api ([0-9.]+), resolve ([0-9.]+), data ([0-9.]+)", block[1])
            self.assertIsNotNone(req, out)
            self.assertGreaterEqual(float(req.group(3)), 1, out)

    def test_status_of_a_hub_mount(self):
        files, _ = self.sim.files(SAMPLE)
        with Mount(self.sim, "--hub", "--no-prefetch") as m:
            self.assertEqual(sha256_file(m.path(SAMPLE + "/tokenizer.json")), files["tokenizer.json"]["sha256"])
            req = self.status_requests(m.dir)
            self.assertGreaterEqual(req["data"], 1, req)
            self.assertGreaterEqual(req["api"], 1, req)


if __name__ == "__main__":
    unittest.main()
