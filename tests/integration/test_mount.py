"""End to end over plain HTTP: listing, content, random reads, no network for metadata, EROFS,
no Authorization at the CDN, xattrs, mmap, and real loaders (numpy, torch)."""
import errno
import json
import mmap
import os
import random
import struct
import subprocess
import unittest

from harness import HFFS, Mount, SimTestCase, listing, sha256_file

SAMPLE = "hffs-test/tiny-model"


class MountSample(SimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.files, cls.sha = cls.sim.files(SAMPLE)
        cls.mnt = Mount(cls.sim, SAMPLE, token=cls.sim.env.get("HUBSIM_TOKEN")).__enter__()
        cls.addClassCleanup(cls.mnt.__exit__, None, None, None)

    def test_listing_equals_fixture(self):
        self.assert_tree_matches(self.mnt, self.files)

    def test_metadata_costs_no_request(self):
        self.sim.reset()
        subprocess.run(["find", self.mnt.dir, "-exec", "stat", "{}", "+"], check=True, capture_output=True)
        subprocess.run(["ls", "-laR", self.mnt.dir], check=True, capture_output=True)
        subprocess.run(["du", "-sb", self.mnt.dir], check=True, capture_output=True)
        st = self.sim.stats()
        self.assertEqual(st["total_requests"], 0, st)

    def test_modes_sizes_mtime(self):
        for p, f in self.files.items():
            st = os.stat(self.mnt.path(p))
            self.assertEqual(st.st_mode & 0o7777, 0o444, p)
            self.assertEqual(st.st_size, f["size"], p)
        st = os.stat(self.mnt.dir)
        self.assertEqual(st.st_mode & 0o7777, 0o555)
        a = os.stat(self.mnt.path("config.json"))
        b = os.stat(self.mnt.path("config.json"))
        self.assertEqual(a.st_ino, b.st_ino)
        self.assertGreater(a.st_mtime, 1_000_000_000)

    def test_every_file_sha256(self):
        self.assert_all_sha256(self.mnt, self.files)

    def test_random_preads(self):
        rnd = random.Random(1234)
        paths = [p for p, f in self.files.items() if f["size"] > 0]
        for _ in range(200):
            p = rnd.choice(paths)
            f = self.files[p]
            off = rnd.randrange(0, f["size"])
            n = rnd.choice([1, 17, 4096, 65536, 1 << 20, 3 << 20])
            with open(f["source"], "rb") as src:
                src.seek(off)
                want = src.read(n)
            fd = os.open(self.mnt.path(p), os.O_RDONLY)
            try:
                got = os.pread(fd, n, off)
            finally:
                os.close(fd)
            self.assertEqual(got, want, f"{p} @{off}+{n}")

    def test_writes_are_erofs(self):
        target = self.mnt.path("config.json")
        checks = [
            lambda: open(target, "w"),
            lambda: open(target, "a"),
            lambda: open(self.mnt.path("new.txt"), "w"),
            lambda: os.mkdir(self.mnt.path("newdir")),
            lambda: os.unlink(target),
            lambda: os.rename(target, self.mnt.path("x.json")),
            lambda: os.truncate(target, 0),
            lambda: os.chmod(target, 0o644),
            lambda: os.setxattr(target, "user.x", b"1"),
            lambda: os.symlink("config.json", self.mnt.path("link")),
        ]
        for i, c in enumerate(checks):
            with self.assertRaises(OSError, msg=f"check {i}") as cm:
                c()
            self.assertIn(cm.exception.errno, (errno.EROFS, errno.EACCES, errno.EPERM), f"check {i}")
            self.assertEqual(cm.exception.errno, errno.EROFS, f"check {i}: {cm.exception}")

    def test_missing_file_is_enoent(self):
        with self.assertRaises(FileNotFoundError):
            os.stat(self.mnt.path("does-not-exist.bin"))

    def test_no_authorization_reached_cdn(self):
        # A fresh mount (empty cache) with a token: every LFS byte comes from the CDN leg, the
        # token goes to the Hub only.
        with Mount(self.sim, SAMPLE, token=self.sim.env["HUBSIM_TOKEN"]) as m:
            self.sim.reset()
            for p, f in self.files.items():
                if f["lfs"]:
                    self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)
            st = self.sim.stats()
        self.assertGreater(st["by_kind"].get("cdn", 0), 0, st)
        self.assertGreater(st["api_auth_requests"], 0, st)
        self.assertEqual(st["cdn_auth_requests"], 0, st)

    def test_mmap_reads(self):
        p = next(p for p in self.files if p.endswith(".safetensors"))
        with open(self.mnt.path(p), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            with open(self.files[p]["source"], "rb") as src:
                self.assertEqual(m[:], src.read())

    def test_safetensors_with_numpy(self):
        import numpy as np
        dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "F64": np.float64,
                  "U8": np.uint8, "I8": np.int8, "I16": np.int16, "BF16": None}
        shards = sorted(p for p in self.files if p.endswith(".safetensors"))
        self.assertTrue(shards)
        ntensors = 0
        for p in shards:
            mm = np.memmap(self.mnt.path(p), dtype=np.uint8, mode="r")
            ref = np.memmap(self.files[p]["source"], dtype=np.uint8, mode="r")
            (hlen,) = struct.unpack("<Q", bytes(mm[:8]))
            header = json.loads(bytes(mm[8:8 + hlen]))
            base = 8 + hlen
            for name, t in header.items():
                if name == "__metadata__" or dtypes.get(t["dtype"]) is None:
                    continue
                s, e = t["data_offsets"]
                got = mm[base + s:base + e].view(dtypes[t["dtype"]]).reshape(t["shape"])
                want = ref[base + s:base + e].view(dtypes[t["dtype"]]).reshape(t["shape"])
                self.assertTrue(np.array_equal(got, want, equal_nan=True), name)
                ntensors += 1
        self.assertGreater(ntensors, 0)

    def test_pytorch_bin_with_torch(self):
        import torch
        p = "pytorch_model.bin"
        self.assertIn(p, self.files)
        got = torch.load(self.mnt.path(p), map_location="cpu", weights_only=True)
        want = torch.load(self.files[p]["source"], map_location="cpu", weights_only=True)
        self.assertEqual(sorted(got), sorted(want))
        for k in want:
            self.assertTrue(torch.equal(got[k], want[k]), k)

    def test_xattrs(self):
        self.assertEqual(os.getxattr(self.mnt.dir, "user.hffs.commit").decode(), self.sha)
        f = self.files["config.json"]
        self.assertEqual(os.getxattr(self.mnt.path("config.json"), "user.hffs.hash").decode(),
                         "gitsha1:" + f["git_sha1"])
        src = os.getxattr(self.mnt.path("config.json"), "user.hffs.source").decode()
        self.assertIn("/resolve/" + self.sha + "/config.json", src)
        self.assertNotIn("Signature", src)

    def test_cached_reread_costs_no_request(self):
        p = "config.json"
        sha256_file(self.mnt.path(p))
        # Drop the kernel's page cache for this file, then read again: served from the block cache.
        fd = os.open(self.mnt.path(p), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        self.sim.reset()
        self.assertEqual(sha256_file(self.mnt.path(p)), self.files[p]["sha256"])
        self.assertEqual(self.sim.stats()["total_requests"], 0)


class CacheAcrossMounts(SimTestCase):
    def test_second_mount_reads_from_cache(self):
        files, _ = self.sim.files(SAMPLE)
        with Mount(self.sim, SAMPLE) as m1:
            self.assert_all_sha256(m1, files)
            cache = m1.cache_dir
            import shutil, tempfile
            keep = tempfile.mkdtemp(prefix="hffs-keep-")
            shutil.copytree(cache, os.path.join(keep, "c"), symlinks=True)
        self.sim.reset()
        with Mount(self.sim, SAMPLE, cache_dir=os.path.join(keep, "c")) as m2:
            self.assert_all_sha256(m2, files)
            st = self.sim.stats()
            # Only the mount itself (revision + tree) talks to the Hub; no data request.
            self.assertEqual(st["by_kind"].get("cdn", 0), 0, st)
            self.assertEqual(st["by_kind"].get("resolve", 0), 0, st)
        import shutil
        shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
