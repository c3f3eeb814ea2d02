"""Never a wrong byte: a CDN (or a Hub) that serves bytes of the right length that do not hash to the
tree's oid. Small files are verified before their first byte is served, a large file's stream fails
the read that completes it, strict mode serves nothing unverified, bad bytes are fetched again from a
fresh location, and the kernel's page cache never keeps them."""
import errno
import os
import re
import subprocess
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file, wait_for

SAMPLE = "hffs-test/tiny-model"


def read_whole(path, chunk=1 << 16):
    with open(path, "rb") as f:
        return b"".join(iter(lambda: f.read(chunk), b""))


class Integrity(SimTestCase):
    def setUp(self):
        self.sim.configure(clear_faults=True, sign_ttl=3600)
        self.sim.reset()
        self.files, _ = self.sim.files(SAMPLE)
        lfs = {p: f for p, f in self.files.items() if f["lfs"]}
        self.small = min((p for p, f in lfs.items() if f["size"] > 4096), key=lambda p: lfs[p]["size"])
        self.large = next(p for p in lfs if p.endswith("exact_2MiB.bin"))

    def tearDown(self):
        self.sim.configure(clear_faults=True, sign_ttl=3600)

    def corrupt(self, path, count=0):
        """Every answer carrying `path`'s bytes (the first `count` only, if set) is wrong."""
        f = self.files[path]
        rx = {"cdn": f["sha256"], "resolve": re.escape(path.split("/")[-1])}
        self.sim.configure(faults={leg: {"corrupt_every": 1, "corrupt_count": count, "path_regex": rx[leg]}
                                   for leg in rx})
        self.sim.reset()

    def injected(self):
        st = self.sim.stats()["faults_injected"]
        return sum(v for k, v in st.items() if k.endswith("corrupt"))

    def test_small_file_with_wrong_bytes_is_never_served(self):
        with Mount(self.sim, SAMPLE) as m:
            self.corrupt(self.small)
            with self.assertRaises(OSError) as cm:
                read_whole(m.path(self.small))
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertEqual(self.injected(), 2, "fetched once more from a fresh location, then EIO")
            log = m.log()
            self.assertIn("after a fetch from a fresh location too", log)
            self.assertIn(self.small, log)
            self.assertRegex(log, r"served by https?://")
            metrics = os.getxattr(m.dir, "user.hffs.metrics").decode()
            self.assertRegex(metrics, r'hffs_verify_total\{[^}]*result="failed"\} 1\n')
            self.assertRegex(metrics, r'hffs_verify_total\{[^}]*result="mismatch"\} 2\n')

    def test_small_file_bad_once_is_fetched_again_and_served_right(self):
        with Mount(self.sim, SAMPLE) as m:
            self.corrupt(self.small, count=1)
            self.assertEqual(sha256_file(m.path(self.small)), self.files[self.small]["sha256"])
            self.assertEqual(self.injected(), 1)

    def test_large_file_stream_fails_then_a_new_open_reads_it_right(self):
        # 1 MiB threshold: the 2 MiB file is hashed as it streams in.
        with Mount(self.sim, SAMPLE, "--verify-whole-max", "1M") as m:
            self.corrupt(self.large)
            with self.assertRaises(OSError) as cm:
                read_whole(m.path(self.large))
            self.assertEqual(cm.exception.errno, errno.EIO, "a front-to-back reader never ends with bad bytes")
            self.sim.configure(clear_faults=True)
            # The bad bytes read into the kernel's page cache are gone, and the file is fetched
            # whole and verified before it is served again. A read-ahead part the Hub served bad
            # before the faults were cleared may still land and fail the file once more (a second
            # mismatch answers EIO for 30 s, by design): each new open must give EIO or the right
            # bytes, never others, and the right bytes within that time.
            want = self.files[self.large]["sha256"]

            def reads_right():
                try:
                    got = sha256_file(m.path(self.large))
                except OSError as e:
                    self.assertEqual(e.errno, errno.EIO)
                    return False
                self.assertEqual(got, want, "a wrong byte was served")
                return True

            wait_for(reads_right, 45, "the large file to read right once the Hub is honest", interval=0.5)

    def test_open_that_read_bad_bytes_keeps_failing(self):
        with Mount(self.sim, SAMPLE, "--verify-whole-max", "1M", "--no-prefetch") as m:
            self.corrupt(self.large)
            with open(m.path(self.large), "rb", buffering=0) as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_RANDOM)  # no kernel read-ahead
                first = f.read(4096)
                self.assertEqual(len(first), 4096)  # streamed, not yet judged
                self.sim.configure(clear_faults=True)
                with self.assertRaises(OSError):
                    f.seek(0)
                    while f.read(1 << 20):
                        pass
                with self.assertRaises(OSError) as cm:  # this open saw bad bytes: it never reads again
                    os.pread(f.fileno(), 4096, 1 << 20)
                self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertEqual(sha256_file(m.path(self.large)), self.files[self.large]["sha256"])

    def test_strict_serves_nothing_before_the_whole_file_is_verified(self):
        with Mount(self.sim, SAMPLE, "--verify", "strict") as m:
            self.corrupt(self.large)
            with open(m.path(self.large), "rb") as f:
                with self.assertRaises(OSError) as cm:
                    f.read(4096)
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertGreaterEqual(self.injected(), 2)

    def test_strict_reads_a_good_file_whole_first(self):
        with Mount(self.sim, SAMPLE, "--verify", "strict") as m:
            with open(m.path(self.large), "rb") as f:
                f.seek(12345)
                got = f.read(100)
            with open(self.files[self.large]["source"], "rb") as b:
                b.seek(12345)
                self.assertEqual(got, b.read(100))
            cached = int(os.getxattr(m.path(self.large), "user.hffs.cached_bytes"))
            self.assertEqual(cached, self.files[self.large]["size"])

    def test_cache_that_keeps_nothing_fetches_each_byte_once(self):
        """A cache too small to keep a run serves it from one fetch of what was asked: no
        read-ahead fetched for nothing, no whole blocks for a read that straddles two."""
        with Mount(self.sim, SAMPLE, "--cache-size", "512K", "--verify-whole-max", "64K") as m:
            self.sim.reset()
            self.assertEqual(sha256_file(m.path(self.large)), self.files[self.large]["sha256"])
            sent = self.sim.stats()["bytes_by_host"]["cdn"]
        self.assertLessEqual(sent, 1.1 * self.files[self.large]["size"], "bytes the CDN sent for one read")

    def test_cache_verify_reports_unverified_bytes_and_completes_them(self):
        with Mount(self.sim, SAMPLE, "--verify-whole-max", "1M", "--no-prefetch") as m:
            self.corrupt(self.large, count=1)
            with open(m.path(self.large), "rb", buffering=0) as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_RANDOM)  # no kernel read-ahead
                self.assertEqual(len(f.read(4096)), 4096)  # one bad block kept, file incomplete
            cache_dir, env = m.cache_dir, m.env
            m.umount()
            self.sim.configure(clear_faults=True)
            r = subprocess.run([HFFS, "cache", "verify", "--cache-dir", cache_dir], env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"incomplete: 1 \(skipped: 1(\.0)? MiB.* cached but unverified")
            r = subprocess.run([HFFS, "cache", "verify", "--complete", "--cache-dir", cache_dir], env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("completed: 1", r.stdout)
            self.assertRegex(r.stdout, r"corrupt: 1 ")


if __name__ == "__main__":
    unittest.main()
