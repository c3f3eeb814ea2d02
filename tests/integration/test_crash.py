"""Crash safety of the block cache: kill -9 of the daemon in the middle of heavy reads, again and
again on one cache dir, never makes hffs serve a wrong byte afterwards; two daemons sharing a
cache dir fetch each block about once; a corrupted verified block is caught by `hffs cache verify`."""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file, wait_for

SAMPLE = "hffs-test/tiny-model"
BIG = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
       "data/exact_2MiB.bin", "data/one_MiB_plus_1.bin")
ROUNDS = 20


def poll(cond, timeout=30, what="condition"):
    return wait_for(cond, timeout, what)



class Readers:
    """Threads reading the mount: random ranges (checked against the original bytes) and whole
    files (checked by sha256). An error (the daemon died) ends a thread; wrong bytes are recorded."""

    def __init__(self, mnt, files, content, n_random=3, seed=0):
        self.mnt, self.files, self.content = mnt, files, content
        self.reads = 0
        self.wrong = []
        self.short = []
        self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        rng = random.Random(seed)
        self.threads = [threading.Thread(target=self.random_reads, args=(rng.random(),), daemon=True)
                        for _ in range(n_random)]
        self.threads.append(threading.Thread(target=self.sequential, args=(rng.random(),), daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def done(self, ok=True):
        with self.lock:
            self.reads += 1

    def random_reads(self, seed):
        rng = random.Random(seed)
        try:
            fds = {}
            try:
                # One at a time inside the try: a kill between two opens must not leak the first
                # fd (the dead mount would then be busy, held open by this test).
                for p in BIG:
                    fds[p] = os.open(self.mnt.path(p), os.O_RDONLY)
                while not self.stop.is_set():
                    p = rng.choice(BIG)
                    size = self.files[p]["size"]
                    off = rng.randrange(size)
                    n = rng.choice((1, 4096, 65536, 1 << 20, 3 << 20))
                    got = os.pread(fds[p], n, off)
                    want = self.content[p][off:off + n]
                    if len(got) < len(want) and got == want[:len(got)]:
                        # A short read with the right bytes: POSIX allows it when the request is
                        # cut off (the daemon died between the kernel's 1 MiB pieces). Must not
                        # happen before the kill.
                        with self.lock:
                            self.short.append((p, off, n, len(got), time.monotonic()))
                    elif got != want:
                        with self.lock:
                            self.wrong.append((p, off, n, len(got)))
                    self.done()
            finally:
                for fd in fds.values():
                    os.close(fd)
        except OSError:
            with self.lock:
                self.errors += 1

    def sequential(self, seed):
        rng = random.Random(seed)
        try:
            while not self.stop.is_set():
                p = rng.choice(BIG)
                h = hashlib.sha256()
                with open(self.mnt.path(p), "rb", buffering=0) as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            break
                        h.update(b)
                if h.hexdigest() != self.files[p]["sha256"]:
                    with self.lock:
                        self.wrong.append((p, "whole file"))
                self.done()
        except OSError:
            with self.lock:
                self.errors += 1

    def join(self, timeout=30):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive(), "a reader is stuck on the mount"


def cache_cmd(cache_dir, env, *args):
    return subprocess.run([HFFS, "cache", *args, "--cache-dir", cache_dir], env=env, capture_output=True,
                          text=True, timeout=120)


def map_path(cache_dir, key):
    return os.path.join(cache_dir, "hffs-v1", "data", key[:2], key + ".map")


def map_states(cache_dir, key):
    try:
        with open(map_path(cache_dir, key), "rb") as f:
            return f.read()[16:]
    except OSError:
        return b""


class Crash(SimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.files, _ = cls.sim.files(SAMPLE)
        cls.content = {}
        for p in BIG:
            with open(cls.files[p]["source"], "rb") as f:
                cls.content[p] = f.read()

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="hffs-crash-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.cache_dir = os.path.join(self.work, "cache")
        self.sim.configure(clear_faults=True, cdn_rate=0, cdn_delay_ms=0)
        self.addCleanup(self.sim.configure, clear_faults=True, cdn_rate=0, cdn_delay_ms=0)

    def data_requests(self):
        by = self.sim.stats()["by_kind"]
        return by.get("cdn", 0) + by.get("resolve_cache", 0)

    def test_kill9_during_reads_never_serves_wrong_bytes(self):
        # Slow the CDN (per connection) so that fetches are in flight when the daemon dies.
        self.sim.configure(cdn_rate=2 << 20, cdn_delay_ms=20)
        rng = random.Random(1234)
        stats = {"rounds_fetching": 0, "errors": 0, "reads": 0, "short_reads": 0}
        t_start = time.monotonic()
        for i in range(ROUNDS):
            if i % 5 == 4:
                # Refill from scratch now and then, so kills keep landing on fetches.
                r = cache_cmd(self.cache_dir, dict(os.environ), "clear")
                self.assertEqual(r.returncode, 0, r.stderr)
            mnt = Mount(self.sim, SAMPLE, cache_dir=self.cache_dir)
            try:
                r = mnt.run()
                self.assertEqual(r.returncode, 0, f"round {i}: remount failed: {r.stderr}\n{mnt.log()}")
                pid = mnt.daemon_pid()
                self.assertIsNotNone(pid)
                before = self.data_requests()
                readers = Readers(mnt, self.files, self.content, seed=rng.random()).start()
                target = rng.randint(1, 12)
                poll(lambda: readers.reads >= target or readers.errors, what=f"{target} reads in round {i}")
                time.sleep(rng.uniform(0, 0.2))  # the kill moment is random on purpose, not a wait for anything
                killed_at = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                if self.data_requests() > before:
                    stats["rounds_fetching"] += 1
                readers.join()
                stats["errors"] += readers.errors
                stats["reads"] += readers.reads
                self.assertEqual(readers.wrong, [], f"round {i}: wrong bytes served")
                self.assertEqual([r for r in readers.short if r[-1] < killed_at], [], f"round {i}: short read before the kill")
                stats["short_reads"] += len(readers.short)
                poll(lambda: not os.path.exists(f"/proc/{pid}"), what="the daemon to die")
                u = subprocess.run([HFFS, "umount", mnt.dir], capture_output=True, text=True, timeout=60)
                self.assertEqual(u.returncode, 0, f"round {i}: umount of the dead mount: {u.stderr}")
                mnt.mounted = False
            finally:
                mnt.__exit__(None, None, None)
        print(f"{ROUNDS} kills in {time.monotonic() - t_start:.1f}s: {stats}")

        # The cache left by 20 kills: every complete file verifies, every byte served is right.
        r = cache_cmd(self.cache_dir, dict(os.environ), "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.sim.configure(cdn_rate=0, cdn_delay_ms=0)
        with Mount(self.sim, SAMPLE, cache_dir=self.cache_dir) as mnt:
            self.assert_all_sha256(mnt, self.files)
            # And the same once more from the cache alone.
            self.assert_all_sha256(mnt, self.files)

    def read_all_concurrently(self, mounts, per_mount=2):
        errors = []

        def reader(mnt, order):
            try:
                for p in order:
                    if sha256_file(mnt.path(p)) != self.files[p]["sha256"]:
                        errors.append(p)
            except OSError as e:
                errors.append(str(e))

        threads = []
        for k, mnt in enumerate(mounts):
            for j in range(per_mount):
                order = sorted(self.files)
                random.Random(k * 10 + j).shuffle(order)
                threads.append(threading.Thread(target=reader, args=(mnt, order)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])

    def test_two_daemons_share_one_cache_dir(self):
        self.sim.configure(cdn_delay_ms=20)
        self.sim.reset()
        with Mount(self.sim, SAMPLE, cache_dir=os.path.join(self.work, "single")) as one:
            self.read_all_concurrently([one])
        single = self.data_requests()

        self.sim.reset()
        shared = os.path.join(self.work, "shared")
        with Mount(self.sim, SAMPLE, cache_dir=shared) as a, Mount(self.sim, SAMPLE, cache_dir=shared) as b:
            self.read_all_concurrently([a, b])
            both = self.data_requests()
            self.assert_all_sha256(a, self.files)
            self.assert_all_sha256(b, self.files)
        print(f"data requests: one mount {single}, two mounts on one cache {both}")
        self.assertLessEqual(both, 1.5 * single)

    def test_corrupted_verified_block_is_caught_by_cache_verify(self):
        p = "model-00001-of-00002.safetensors"
        key = self.files[p]["sha256"]
        with Mount(self.sim, SAMPLE, cache_dir=self.cache_dir) as mnt:
            self.assertEqual(sha256_file(mnt.path(p)), key)
            poll(lambda: (s := map_states(self.cache_dir, key)) and all(b == 2 for b in s),
                 what="the file to be verified")
            env = mnt.env
        data = os.path.join(self.cache_dir, "hffs-v1", "data", key[:2], key)
        with open(data, "r+b") as f:  # a bit rot in block 1 of a verified file, while unmounted
            f.seek((1 << 20) + 12345)
            b = f.read(16)
            f.seek((1 << 20) + 12345)
            f.write(bytes(x ^ 0xFF for x in b))
        r = cache_cmd(self.cache_dir, env, "verify")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn(2, map_states(self.cache_dir, key))
        self.sim.reset()
        with Mount(self.sim, SAMPLE, cache_dir=self.cache_dir) as mnt:
            self.assertEqual(sha256_file(mnt.path(p)), key)
            self.assertGreater(self.data_requests(), 0)


if __name__ == "__main__":
    unittest.main()
