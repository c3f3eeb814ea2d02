"""`hffs prefetch REPO [PATTERN...]` warms the block cache without mounting: a later mount (also
--offline) serves the prefetched files with no request at all, and only those."""
import errno
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file

SAMPLE = "hffs-test/tiny-model"
DATA_KINDS = ("cdn", "resolve", "resolve_cache")


class Prefetch(SimTestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="hffs-pf-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.cache_dir = os.path.join(self.home, "cache")
        self.env = dict(os.environ)
        self.env.pop("HF_TOKEN", None)
        self.env.update({"HF_ENDPOINT": self.sim.endpoint, "HF_HOME": self.home,
                         "HF_HUB_CACHE": os.path.join(self.home, "hub")})

    def prefetch(self, *args, check=True):
        r = subprocess.run([HFFS, "prefetch", SAMPLE, "--cache-dir", self.cache_dir, *args], env=self.env,
                           capture_output=True, text=True, timeout=120)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r

    def data_requests(self):
        by = self.sim.stats()["by_kind"]
        return sum(by.get(k, 0) for k in DATA_KINDS)

    def test_prefetch_json_only(self):
        files, _ = self.sim.files(SAMPLE)
        jsons = sorted(p for p in files if p.endswith(".json"))
        self.assertIn("onnx/config.json", jsons)  # '*' crosses '/', as `hf download --include`
        r = self.prefetch("*.json")
        self.assertRegex(r.stdout, rf"{len(jsons)}/{len(jsons)} files.* 0 errors")
        self.sim.reset()
        with Mount(self.sim, SAMPLE, "--no-prefetch", cache_dir=self.cache_dir) as mnt:
            for p in jsons:
                self.assertEqual(sha256_file(mnt.path(p)), files[p]["sha256"], p)
            self.assertEqual(self.data_requests(), 0, self.sim.stats()["by_kind"])
            shard = "model-00001-of-00002.safetensors"
            self.assertEqual(sha256_file(mnt.path(shard)), files[shard]["sha256"])
            self.assertGreater(self.data_requests(), 0)

        # Again: everything matching is cached now, nothing is fetched.
        self.sim.reset()
        r = self.prefetch("--include", "*.json", "--exclude", "onnx/*")
        self.assertRegex(r.stdout, rf"{len(jsons) - 1}/{len(jsons) - 1} files.*fetched 0 B")
        self.assertEqual(self.data_requests(), 0)

    def test_prefetch_all_then_offline_mount(self):
        files, _ = self.sim.files(SAMPLE)
        t0 = time.monotonic()
        r = self.prefetch()
        print(f"prefetch of {len(files)} files: {time.monotonic() - t0:.2f}s: {r.stdout.strip()}")
        self.assertRegex(r.stdout, rf"{len(files)}/{len(files)} files.* 0 errors")
        self.sim.reset()
        with Mount(self.sim, SAMPLE, "--offline", cache_dir=self.cache_dir, env={"HF_HUB_OFFLINE": "1"}) as mnt:
            self.assert_all_sha256(mnt, files)
        self.assertEqual(self.sim.stats()["total_requests"], 0, self.sim.stats()["by_kind"])

    def test_offline_uncached_file_fails_fast(self):
        files, _ = self.sim.files(SAMPLE)
        self.prefetch("config.json", "data/*")
        self.sim.reset()
        with Mount(self.sim, SAMPLE, "--offline", cache_dir=self.cache_dir, env={"HF_HUB_OFFLINE": "1"}) as mnt:
            for p in ("config.json", "data/exact_2MiB.bin", "data/one_MiB_plus_1.bin"):
                self.assertEqual(sha256_file(mnt.path(p)), files[p]["sha256"], p)
            t0 = time.monotonic()
            with self.assertRaises(OSError) as cm:
                sha256_file(mnt.path("model-00002-of-00002.safetensors"))
            took = time.monotonic() - t0
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertLess(took, 2.0)
        self.assertEqual(self.sim.stats()["total_requests"], 0)

    def test_failures_exit_nonzero(self):
        r = self.prefetch("no-such-*", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.sim.configure(error_every=1, error_status=[500], legs=["cdn"])
        self.addCleanup(self.sim.configure, clear_faults=True)
        r = self.prefetch("config.json", "model-00001-of-00002.safetensors", "--deadline", "2", check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("model-00001-of-00002.safetensors", r.stderr)
        self.assertRegex(r.stdout, r"1/2 files.* 1 error")


if __name__ == "__main__":
    unittest.main()
