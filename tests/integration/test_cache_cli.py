"""A mount with a cache smaller than the repo: the bound holds, every byte is right, and the
`hffs cache stats|verify|gc|clear` commands work on the live cache directory."""
import os
import subprocess
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file

SAMPLE = "hffs-test/tiny-model"
MiB = 1 << 20
BOUND = 4 * MiB
INFLIGHT = 4 * MiB + 1 * MiB  # --max-inflight 4 (read-ahead) + one 1 MiB kernel read


def data_files(cache_dir):
    root = os.path.join(cache_dir, "hffs-v1", "data")
    for shard in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        for name in sorted(os.listdir(os.path.join(root, shard))):
            if len(name) in (40, 64):
                yield os.path.join(root, shard, name)


def disk_bytes(cache_dir):
    return sum(os.stat(p).st_blocks * 512 for p in data_files(cache_dir))


def complete_files(cache_dir):
    out = []
    for p in data_files(cache_dir):
        try:
            with open(p + ".map", "rb") as f:
                m = f.read()
        except OSError:
            continue
        if len(m) > 16 and all(b != 0 for b in m[16:]):
            out.append(p)
    return out


class CacheCli(SimTestCase):
    def cache(self, mnt, *args):
        return subprocess.run([HFFS, "cache", *args, "--cache-dir", mnt.cache_dir], env=mnt.env,
                              capture_output=True, text=True, timeout=120)

    def test_bounded_mount_and_commands(self):
        files, _ = self.sim.files(SAMPLE)
        total = sum(f["size"] for f in files.values())
        self.assertGreater(total, 2 * BOUND, "the sample repo must be larger than the cache")
        with Mount(self.sim, SAMPLE, "--cache-size", "4M", "--max-inflight", "4", "--part-size", "1",
                   token=self.sim.env.get("HUBSIM_TOKEN")) as mnt:
            worst = 0
            for _ in range(2):
                for p, f in sorted(files.items()):
                    self.assertEqual(sha256_file(mnt.path(p)), f["sha256"], p)
                    worst = max(worst, disk_bytes(mnt.cache_dir))
            print(f"cache data on disk peaked at {worst} bytes (bound {BOUND})")
            self.assertLessEqual(worst, BOUND + INFLIGHT, mnt.log())
            self.assertGreater(worst, 0)

            r = self.cache(mnt, "stats")
            self.assertEqual(r.returncode, 0, r.stderr)
            for fact in ("cached:", "files:", "blocks:", "on disk:", "bound:", "hit rate:", "evicted:"):
                self.assertIn(fact, r.stdout)
            self.assertNotIn("evicted: 0 B", r.stdout)
            # The bound shown is the mount's --cache-size (recorded with the cache), not a default.
            bound = next(l for l in r.stdout.splitlines() if l.startswith("bound:"))
            self.assertIn(str(BOUND), bound)
            self.assertIn("running mount", bound)

            r = self.cache(mnt, "verify")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("corrupt: 0", r.stdout)

            complete = complete_files(mnt.cache_dir)
            if complete:
                with open(complete[0], "r+b") as f:
                    b = f.read(1)
                    f.seek(0)
                    f.write(bytes([b[0] ^ 0xFF]))
                r = self.cache(mnt, "verify")
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("corrupt: 1", r.stdout)

            r = self.cache(mnt, "gc")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("usage recount correction:", r.stdout)

            r = self.cache(mnt, "clear")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("removed:", r.stdout)
            self.assertEqual(disk_bytes(mnt.cache_dir), 0)

            # The mount keeps working after clear: everything is fetched again, still right.
            for p, f in sorted(files.items()):
                self.assertEqual(sha256_file(mnt.path(p)), f["sha256"], p)
            self.assertLessEqual(disk_bytes(mnt.cache_dir), BOUND + INFLIGHT)

    def test_bad_cache_size_is_a_usage_error(self):
        m = Mount(self.sim, SAMPLE, "--cache-size", "12X")
        try:
            r = m.run()
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--cache-size", r.stderr + m.log())
        finally:
            m.__exit__(None, None, None)

    def test_commands_on_a_missing_cache(self):
        r = subprocess.run([HFFS, "cache", "stats", "--cache-dir", "/nonexistent/hffs-cache"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertIn("no hffs cache", r.stdout)


if __name__ == "__main__":
    unittest.main()
