"""The nginx site cache (issue 14, first slice; loopback only): deploy/site-cache/run starts the shipped
config in front of one simulator (the Hub), and hffs mounts with `--endpoint SITE --endpoint HUB`.

What is proved, counting at the simulator (its /_sim/stats) and checking every sha256:
- every file reads right through the site cache, and a second mount with a fresh block cache makes
  the Hub's CDN send zero bytes (and the Hub serves no file bytes at all);
- a range read of a large file makes the CDN send the slices it touches, not the file;
- gated and private repos: with the token all bytes; without one (or with a token not approved) the
  Hub's refusal (EACCES on read, exit 3 on a private mount), also once the bytes are in the cache;
- the CDN never gets an Authorization header from the site cache;
- the site cache killed in the middle of a read: the read finishes from the Hub, right bytes, no EIO.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
import urllib.request

from harness import HFFS, BackgroundRead, Mount, launch, sha256_file, wait_for
import site_cache
from site_cache import SiteCache

CACHE = os.environ.get("HUBSIM_TEST_CACHE", "/tmp/hffs-hubsim-testcache")
FAILOVER = "hffs-test/failover-model"  # fixtures/failover.json: big.bin (40 MiB), mid.bin, small files
GATED = "hffs-test/gated-model"
PRIVATE = "hffs-test/private-model"
SLICE = 8 << 20
BRANCH_TTL = 2  # seconds a branch -> sha lookup is cached (run start --branch-ttl)
SAMPLE = "hffs-test/tiny-model"  # three commits on main
EXIT_REPO = 3
EXIT_ACCESS = 5


class SiteCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists("/dev/fuse"):
            raise unittest.SkipTest("/dev/fuse is not available")
        if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
            raise unittest.SkipTest("nginx is not installed")
        cls.hub = launch.Simulator("--repos", "failover", name="sitecache-hub", prefix="hffs-it-", cache_dir=CACHE)
        cls.addClassCleanup(cls.hub.cleanup)
        cls.hub.start()

    def setUp(self):
        self.hub.configure(clear_faults=True, cdn_rate=0, lag_commits=0)
        self.site = SiteCache(self.hub.endpoint)  # a fresh, empty cache for every test
        self.addCleanup(self.site.cleanup)
        self.site.start("--slice", "8m", "--branch-ttl", f"{BRANCH_TTL}s")
        self.hub.reset()

    # ------------------------------------------------------------------ helpers
    def mount(self, repo, token=None):
        args = ["--endpoint", self.site.url, "--endpoint", self.hub.endpoint,
                "--endpoint-backoff", "1", "--deadline", "30", "--no-prefetch"]
        return Mount(self.hub, repo, *args, token=token)

    def read_all(self, mnt, files):
        for p in sorted(files):
            try:
                got = sha256_file(mnt.path(p))
            except OSError as e:
                self.fail(f"{p}: {e!r}\nhffs log: {mnt.log()}\nsite cache: {self.site.log_text()[-3000:]}")
            self.assertEqual(got, files[p]["sha256"], p)

    def wait_cdn_idle(self):
        site_cache.wait_cdn_idle(self.hub)

    def cdn_bytes(self):
        return site_cache.cdn_bytes(self.hub)

    def file_bytes_from_hub(self, repo):
        return site_cache.file_bytes_from_hub(self.hub, repo)

    def assert_no_token_to_cdn(self):
        self.assertEqual(self.hub.stats(log=False)["cdn_auth_requests"], 0, "the CDN got an Authorization header")

    def assert_from_site(self, mnt, paths):
        for p in paths:
            src = os.getxattr(mnt.path(p), "user.hffs.source").decode()
            self.assertTrue(src.startswith(self.site.url), f"{p} came from {src}, not the site cache")

    def status_line(self, mnt, url):
        r = subprocess.run([HFFS, "status", mnt.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [ln for ln in r.stdout.splitlines() if url in ln and re.search(r"\b(up|down)\b", ln)]
        self.assertEqual(len(lines), 1, (url, r.stdout))
        return lines[0]

    # ------------------------------------------------------------------ scenarios
    def test_second_node_gets_every_byte_from_the_site_cache(self):
        repos = {r: self.hub.files(r)[0] for r in (FAILOVER, SAMPLE)}  # SAMPLE: odd names, nested dirs
        lfs_total = sum(f["size"] for files in repos.values() for f in files.values() if f["lfs"])
        for repo, files in repos.items():
            with self.mount(repo) as m:
                self.read_all(m, files)
                self.assert_from_site(m, files)
                self.assertIn("(site cache: ", self.status_line(m, self.site.url))
        first = self.cdn_bytes()
        # Each LFS file crossed the CDN once, in slices (a slice past the end is cut at the end).
        self.assertGreaterEqual(first, lfs_total)
        self.assertLessEqual(first, lfs_total * 1.05)
        self.assert_no_token_to_cdn()
        self.hub.reset()
        for repo, files in repos.items():
            with self.mount(repo) as m2:  # a second node: its own, empty block cache
                self.read_all(m2, files)
                self.assert_from_site(m2, files)
                # `hffs status` says so: every byte a hit in the site cache, no miss.
                line = self.status_line(m2, self.site.url)
                self.assertRegex(line, r"received \(site cache: [0-9.]+ [KMG]?i?B hit, 0 B miss\)")
            self.assertEqual(self.file_bytes_from_hub(repo), 0, f"the Hub sent file bytes of {repo} again")
        # Public repos: the Hub's anonymous answer is cached per repo (--auth-ttl 10 s), not asked
        # again for every node request.
        checks = len(self.hub.requests("auth_check"))
        self.assertLessEqual(checks, 2 * 2 * len(repos), "the Hub was asked to authorize every request")
        self.assertEqual(self.cdn_bytes(), 0, "the CDN sent bytes to the second node's reads")
        st = self.site.stats()
        self.assertGreater(st["hits"], 0, st)
        self.assertGreater(st["auth_checks"], checks, st)
        self.assertGreaterEqual(st["upstream_bytes"], first, st)  # the first node's fill, and only that
        self.assertLess(st["upstream_bytes"], first * 1.1, st)

    def test_a_client_cannot_pass_for_an_auth_check_in_the_stats(self):
        # Only the site's own auth subrequests carry X-Site-Cache-Auth to the fetcher; a client's
        # copy is dropped, so `run stats` counts what the site really asked the Hub.
        files, commit = self.hub.files(FAILOVER)
        url = f"{self.site.url}/api/models/{FAILOVER}/revision/{commit}"
        before = self.site.stats()["auth_checks"]
        for _ in range(3):
            req = urllib.request.Request(url, headers={"X-Site-Cache-Auth": "1"})
            with urllib.request.urlopen(req, timeout=30) as r:
                self.assertEqual(r.status, 200)
        self.assertLessEqual(self.site.stats()["auth_checks"] - before, 3, self.site.stats())
        # The auth subrequests go to /_sc_authz/...: a fetch of the revision itself marked as a check
        # is a client's header that got through.
        with open(os.path.join(self.site.state, "fetch.log")) as f:
            marked = [e for e in map(json.loads, f) if e["u"].startswith(f"/api/models/{FAILOVER}/revision/")
                      and e["auth"] == "1"]
        self.assertEqual(marked, [])

    def test_range_read_caches_only_its_slices(self):
        files, _ = self.hub.files(FAILOVER)
        big = files["big.bin"]
        off, n = 20 << 20, 1 << 20  # in the third slice
        with self.mount(FAILOVER) as m:
            with open(m.path("big.bin"), "rb") as f:
                f.seek(off)
                got = f.read(n)
        sent = self.cdn_bytes()
        want = bytes_of(self.hub, big, off, n)
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(want).hexdigest())
        # The slice holding the range, plus at most the first one (hffs's HEAD of /resolve is
        # answered from slice 0 so that it carries the file's length) and one neighbour.
        self.assertGreaterEqual(sent, SLICE)
        self.assertLessEqual(sent, 3 * SLICE)
        self.assertLess(sent, big["size"])
        self.assertEqual(sent % SLICE, 0, "the CDN was asked for something else than whole slices")

    def test_concurrent_requests_for_a_slice_make_one_upstream_request(self):
        files, sha = self.hub.files(FAILOVER)
        big = files["big.bin"]
        self.hub.configure(cdn_rate=4 << 20)  # a slice takes ~2 s upstream: the requests overlap
        url = f"{self.site.url}/{FAILOVER}/resolve/{sha}/big.bin"
        ranges = [(i * 1000, i * 1000 + 99) for i in range(4)]  # all in slice 0
        barrier, got = threading.Barrier(len(ranges)), {}

        def fetch(a, b):
            barrier.wait(10)
            got[a] = self.hub.request("GET", url, headers={"Range": f"bytes={a}-{b}"}, timeout=60)

        ts = [threading.Thread(target=fetch, args=r) for r in ranges]
        for t in ts:
            t.start()
        for t in ts:
            t.join(90)
        self.wait_cdn_idle()
        want = bytes_of(self.hub, big, 0, ranges[-1][1] + 1)
        for a, b in ranges:
            r = got[a]
            self.assertEqual(r.status, 206, r)
            self.assertEqual(r.h("Content-Range"), f"bytes {a}-{b}/{big['size']}")
            self.assertEqual(r.body, want[a:b + 1])
        cdn = [e for e in self.hub.requests("cdn") if e["path"].endswith(big["sha256"]) and e["status"] == 206]
        self.assertEqual(len(cdn), 2, cdn)  # one for the four requests, one for bytes_of above

    def pinned(self, repo):
        """The commit a new mount through the site cache pins `repo`'s default branch to."""
        with self.mount(repo) as m:
            found = re.search(r"pinned \S+ to commit ([0-9a-f]{40})", m.log())
            self.assertTrue(found, m.log())
            return found.group(1)

    def test_branch_moved_is_seen_within_the_ttl(self):
        self.hub.configure(lag_commits=1)  # the Hub's main one commit behind, then moved forward
        _, head = self.hub.files(SAMPLE)
        old = self.pinned(SAMPLE)
        self.assertNotEqual(old, head)
        self.assertEqual(self.pinned(SAMPLE), old)  # the lookup is cached (or the Hub still says so)
        self.hub.configure(lag_commits=0)
        moved = time.monotonic()
        wait_for(lambda: self.pinned(SAMPLE) == head, BRANCH_TTL + 5, "a new mount on the moved commit")
        self.assertLessEqual(time.monotonic() - moved, BRANCH_TTL + 5)

    def test_gated_needs_the_callers_token_even_when_cached(self):
        files, _ = self.hub.files(GATED)
        lfs = sorted(p for p, f in files.items() if f["lfs"])
        with self.mount(GATED, token=self.hub.token()) as m:
            self.read_all(m, files)
        self.assertGreater(self.cdn_bytes(), 0)
        self.assert_no_token_to_cdn()
        _, sha = self.hub.files(GATED)
        for token, status in ((None, 401), (self.hub.env["HUBSIM_TOKEN_NOT_APPROVED"], 403)):
            with self.subTest(token=token):
                # A mount refuses as it does against the Hub alone (hffs probes a file at mount).
                via_site = self.mount(GATED, token=token)
                direct = Mount(self.hub, GATED, "--no-prefetch", token=token)
                try:
                    self.assertEqual(via_site.run().returncode, EXIT_ACCESS, via_site.result.stderr)
                    self.assertEqual(direct.run().returncode, EXIT_ACCESS, direct.result.stderr)
                finally:
                    via_site.__exit__(None, None, None)
                    direct.__exit__(None, None, None)
                # Every slice of every file is cached now; a request for one still gets the Hub's refusal.
                for p in lfs + ["config.json"]:
                    r = self.hub.request("GET", f"{self.site.url}/{GATED}/resolve/{sha}/{p}",
                                         headers={"Range": "bytes=0-99"}, token=token)
                    self.assertEqual(r.status, status, (p, r))
                    self.assertEqual(r.h("X-Error-Code"), "GatedRepo", (p, r))
                    self.assertNotEqual(r.body[:100], bytes_at(self.hub, GATED, p, 0, 100), p)
                    r = self.hub.request("GET", f"{self.site.url}/{GATED}/resolve/{sha}/{p}",
                                         headers={"Range": "bytes=0-99"}, token=self.hub.token())
                    self.assertEqual((r.status, r.h("X-Site-Cache")), (206, "HIT"), (p, r))
        # The bytes were served from nowhere: the site cache passed the Hub's refusal on.
        log = self.site.log_text()
        self.assertNotIn(self.hub.token(), log, "a token was written into the site cache's logs")
        self.assertFalse(grep_dir(self.site.state, self.hub.token().encode()), "a token is in the site cache")

    def test_the_hub_is_asked_once_per_token_and_ttl_not_per_request(self):
        # Gated: every node request needs the caller's own authorization, but the Hub's answer is
        # kept per token and repo for --auth-ttl (10 s): a node reading the repo asks it a few
        # times, not once per range (fleets read gated 70B models: that would be 10^4 checks).
        files, sha = self.hub.files(GATED)
        with self.mount(GATED, token=self.hub.token()) as m:
            self.read_all(m, files)
        for i in range(20):  # and a node's random reads, each one request
            p = sorted(files)[i % len(files)]
            first = i % max(1, files[p]["size"])
            r = self.hub.request("GET", f"{self.site.url}/{GATED}/resolve/{sha}/{p}",
                                 headers={"Range": f"bytes={first}-{first}"}, token=self.hub.token())
            self.assertEqual((r.status, r.body), (206, bytes_at(self.hub, GATED, p, first, 1)), (p, r))
        site_reqs = [e for e in self.site.access_log() if f"/resolve/{sha}/" in e["u"]]
        checks = [e for e in self.hub.requests("auth_check") if e["had_auth"]]
        self.assertGreater(len(site_reqs), 20, "too few node requests for the count to mean anything")
        self.assertLessEqual(len(checks), 3, f"{len(checks)} Hub auth checks for {len(site_reqs)} node requests")
        # Another token is never let in on that answer: its own check, its own refusal.
        r = self.hub.request("GET", f"{self.site.url}/{GATED}/resolve/{sha}/config.json",
                             headers={"Range": "bytes=0-9"}, token=self.hub.env["HUBSIM_TOKEN_NOT_APPROVED"])
        self.assertEqual((r.status, r.h("X-Error-Code")), (403, "GatedRepo"), r)
        self.assertFalse(grep_dir(self.site.state, self.hub.token().encode()), "a token is in the site cache")

    def test_private_repo(self):
        files, _ = self.hub.files(PRIVATE)
        with self.mount(PRIVATE, token=self.hub.token()) as m:
            self.read_all(m, files)
        anon = self.mount(PRIVATE)
        try:
            r = anon.run()
            self.assertEqual(r.returncode, EXIT_REPO, r.stderr)
        finally:
            anon.__exit__(None, None, None)
        self.assertFalse(grep_dir(self.site.state, self.hub.token().encode()), "a token is in the site cache")

    def test_site_cache_killed_mid_read_reads_finish_from_the_hub(self):
        files, _ = self.hub.files(FAILOVER)
        big = files["big.bin"]
        # The CDN slowed per connection, so the reader is waiting on the site cache when it dies.
        self.hub.configure(cdn_rate=4 << 20)
        with self.mount(FAILOVER) as m:
            r = BackgroundRead(m.path("big.bin"))
            try:
                wait_for(lambda: r.progress >= 4 << 20 or not r.alive(), 60, "the first MiBs of big.bin")
                self.assertLess(r.progress, big["size"], "the read ended before the site cache was killed")
                self.site.kill()
            finally:
                r.join(180)
            self.assertFalse(r.alive(), "the reader hangs")
            self.assertIsNone(r.error, "no EIO")
            self.assertEqual(r.sha256, big["sha256"], "no wrong byte")
            src = os.getxattr(m.path("big.bin"), "user.hffs.source").decode()
            self.assertTrue(src.startswith(self.hub.endpoint), f"big.bin finished from {src}, not the Hub")
            rest = {p: f for p, f in files.items() if p != "big.bin"}
            self.read_all(m, rest)
        self.assert_no_token_to_cdn()


def bytes_of(sim, f, off, n):
    return bytes_at(sim, FAILOVER, f["path"], off, n)


def bytes_at(sim, repo, path, off, n):
    """`n` bytes at `off` of a file, straight from the simulator (with its token, redirects followed)."""
    r, _ = sim.follow("GET", f"/{repo}/resolve/main/{path}", headers={"Range": f"bytes={off}-{off + n - 1}"},
                      token=sim.token())
    assert r.status == 206, r
    return r.body


def grep_dir(root, needle):
    """Files under `root` whose bytes contain `needle`."""
    hits = []
    for d, _, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(d, fn)
            try:
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


if __name__ == "__main__":
    unittest.main()
