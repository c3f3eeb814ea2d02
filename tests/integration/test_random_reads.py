"""Random readers and parallel loaders through one mount (issue 15): a random reader fetches what it
reads and no more, concurrent random readers of one file are in flight together, and 8 loaders of
8 files each get their bytes with sane request counts."""
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import harness
from harness import Mount, sha256_file

REPO = "hffs-test/random-reads"
MiB = 1 << 20
BIG = "big.bin"
SHARDS = [f"shard-{i}.bin" for i in range(8)]


def cdn_gets(stats):
    return [e for e in stats["log"] if e["host"] == "cdn" and e["method"] == "GET"]


class RandomReads(harness.SimTestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixture_dir = tempfile.mkdtemp(prefix="hffs-it-randfx-")
        cls.addClassCleanup(shutil.rmtree, cls.fixture_dir, True)
        files = {BIG: {"random": {"size": 64 * MiB, "seed": 1501}}}
        for i, s in enumerate(SHARDS):
            files[s] = {"random": {"size": 24 * MiB + 4096 * i, "seed": 1510 + i}}
        fx = os.path.join(cls.fixture_dir, "random_reads.json")
        with open(fx, "w") as f:
            json.dump({"format": "hubsim-fixture/1", "repos": [{"type": "model", "id": REPO, "commits": [
                {"name": "c1", "date": "2024-05-01T00:00:00.000Z", "title": "random reads", "files": files}]}]}, f)
        cls.SIM_ARGS = ("--repos", fx)
        super().setUpClass()
        cls.files, _ = cls.sim.files(REPO)

    def setUp(self):
        self.sim.configure(cdn_delay_ms=0)
        self.sim.reset()

    def test_random_pairs_fetch_only_what_is_read(self):
        # A reader that reads two blocks in a row and seeks far (a database page pair, a tensor of 2
        # MiB): one read that follows another is no sequential stream yet, so no read-ahead starts
        # (it used to: 3 to 8 MiB more per pair). The kernel's own read-ahead is off (FADV_RANDOM).
        blocks = [3, 13, 23, 33, 43, 53]
        with Mount(self.sim, REPO) as m:
            fd = os.open(m.path(BIG), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
                self.sim.reset()
                got = hashlib.sha256()
                for b in blocks:
                    for k in (b, b + 1):
                        data = os.pread(fd, MiB, k * MiB)
                        self.assertEqual(len(data), MiB)
                        got.update(data)
            finally:
                os.close(fd)
            stats = self.sim.stats()
        read = 2 * len(blocks) * MiB
        served = stats["bytes_by_host"]["cdn"]
        self.assertLessEqual(served, read * 1.1, f"served {served} bytes for {read} read: {[e['range'] for e in cdn_gets(stats)]}")
        self.assertGreaterEqual(served, read)
        gets = cdn_gets(stats)
        self.assertLessEqual(len(gets), 2 * len(blocks), [e["range"] for e in gets])
        # Every range is block-aligned and one block long: no read fetched more than its block.
        for e in gets:
            a, b = (int(x) for x in e["range"].split("=")[1].split("-"))
            self.assertEqual(a % MiB, 0, e["range"])
            self.assertLessEqual(b - a + 1, MiB, e["range"])

    def test_concurrent_random_readers_are_in_flight_together(self):
        # Two readers of one file at far places; every CDN request waits 3 s before its first byte.
        # Both requests must be at the CDN at once (nginx counts them as writing), not one after the
        # other behind a per-file lock.
        with Mount(self.sim, REPO) as m:
            os.stat(m.path(BIG))
            with open(m.path(BIG), "rb") as f:  # resolves the location first: only data GETs remain
                f.read(1)
            self.sim.configure(cdn_delay_ms=3000)
            self.sim.reset()
            results = {}

            def read(off):
                fd = os.open(m.path(BIG), os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
                    results[off] = hashlib.sha256(os.pread(fd, MiB, off)).hexdigest()
                finally:
                    os.close(fd)

            offs = [20 * MiB, 50 * MiB]
            ts = [threading.Thread(target=read, args=(o,)) for o in offs]
            for t in ts:
                t.start()
            most = 0
            deadline = time.monotonic() + 30
            while any(t.is_alive() for t in ts) and time.monotonic() < deadline:
                most = max(most, self.writing())
                if most >= 3:
                    break
            for t in ts:
                t.join(60)
            self.assertGreaterEqual(most, 3, "the CDN never had both reads in flight (plus the status probe)")
            self.assertEqual(len(results), 2)
            with open(m.path(BIG), "rb") as f:
                for o in offs:
                    f.seek(o)
                    self.assertEqual(results[o], hashlib.sha256(f.read(MiB)).hexdigest())

    def writing(self):
        """Requests nginx is working on (its stub status), this probe included."""
        r = self.sim.get(self.sim.cdn + "/_hubsim_status", timeout=5)
        txt = r.body.decode() if isinstance(r.body, bytes) else r.body
        return int(txt.split("Writing:")[1].split()[0])

    def test_eight_loaders_each_get_their_bytes(self):
        # Tensor-parallel loading: 8 readers, each its own shard, through one mount at once.
        with Mount(self.sim, REPO) as m:
            for s in SHARDS:
                os.stat(m.path(s))
            self.sim.reset()
            readers = [harness.BackgroundRead(m.path(s)) for s in SHARDS]
            for r in readers:
                r.join(300)
            stats = self.sim.stats()
        total = 0
        for s, r in zip(SHARDS, readers):
            self.assertIsNone(r.error, s)
            self.assertEqual(r.sha256, self.files[s]["sha256"], s)
            total += self.files[s]["size"]
        served = stats["bytes_by_host"]["cdn"]
        self.assertEqual(served, total, "every byte fetched once")
        gets = cdn_gets(stats)
        # Read-ahead parts are 8 MiB; a reader's own misses 1 MiB: at most one GET per MiB, and far
        # fewer when read-ahead did its work.
        self.assertLessEqual(len(gets), total // MiB, len(gets))
        resolves = stats["by_kind"].get("resolve", 0)
        self.assertLessEqual(resolves, len(SHARDS), stats["by_kind"])


if __name__ == "__main__":
    unittest.main()
