"""The nginx site cache in front of a fleet (issue 14), on hosts of their own: network namespaces built by
fleet_net.Fleet. A "hub" host runs the simulator (API + CDN, every CDN connection capped at CDN_RATE
with a first-byte delay), a "site" host the shipped deploy/site-cache, and five "node" hosts each an
hffs mount (`--endpoint SITE --endpoint HUB`) with a block cache of its own, read from here.

What is proved, counting at the simulator (its /_sim/stats) and checking the sha256 of every byte:
- four nodes read one 256 MiB shard at the same time, cold: the CDN sends it at most 1.05 times;
  a fifth node then reads it with zero bytes from the Hub;
- the site cache killed in the middle of four nodes' reads: they finish from the Hub, no EIO;
- gated and private repos: with the token all bytes; without it the Hub's refusal, the same exit code
  as a mount of the Hub alone, also once another node has put the bytes in the cache;
- a branch moved on the Hub: a new mount on a node sees the new commit within --branch-ttl;
- the fleet's uplink cap (tbf on the hub, for bench/) holds: 100 MB/s gives ~100 MB/s.
Needs root (network namespaces, FUSE); skipped, saying why, where namespaces cannot be made.
"""
import os
import shutil
import time
import unittest

from harness import BackgroundRead, sha256_file, wait_for
import fleet_net
import site_cache

CACHE = os.environ.get("HUBSIM_TEST_CACHE", "/tmp/hffs-hubsim-testcache")
FLEET = "hffs-test/fleet-model"   # fixtures/fleet.json: shard.bin, 256 MiB
GATED = "hffs-test/gated-model"
PRIVATE = "hffs-test/private-model"
SAMPLE = "hffs-test/tiny-model"   # three commits on main
NODES = 5
CDN_RATE = 100_000_000   # bytes/s per CDN connection, as bench/
CDN_DELAY_MS = 20
SLOW_RATE = 4 << 20      # while the site cache is killed under the reads
BRANCH_TTL = 2
EXIT_REPO = 3
EXIT_ACCESS = 5


def namespaces_unavailable():
    """Why this test cannot run here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is not available"
    if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
        return "nginx is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nsenter", "tc"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return fleet_net.netns_probe("hffsnet-")


class SiteCacheFleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = namespaces_unavailable()
        if why:
            raise unittest.SkipTest(why)
        cls.fleet = fleet_net.Fleet(NODES, prefix="hffsnet-", subnet="10.231.0")
        cls.addClassCleanup(cls.fleet.close)
        cls.hub = cls.fleet.start_hub("--repos", "fleet", "--cdn-rate", str(CDN_RATE),
                                      "--cdn-delay-ms", str(CDN_DELAY_MS), cache_dir=CACHE)

    def setUp(self):
        self.hub.configure(cdn_rate=CDN_RATE, lag_commits=0)
        self.site = self.fleet.start_site(self.hub, "--slice", "8m", "--branch-ttl", f"{BRANCH_TTL}s")
        self.addCleanup(self.site.cleanup)  # a fresh, empty site cache for every test
        self.hub.reset()

    # ------------------------------------------------------------------ helpers
    def mount(self, node, repo, token=None, site=True):
        m = self.fleet.mount(node, self.hub, self.site if site else None, repo, "--endpoint-backoff", "1",
                             "--deadline", "30", "--no-prefetch", token=token)
        return m

    def cdn_bytes(self):
        return site_cache.cdn_bytes(self.hub)

    def file_bytes_from_hub(self, repo):
        return site_cache.file_bytes_from_hub(self.hub, repo)

    def read_together(self, mounts, path, want):
        readers = [BackgroundRead(m.path(path)) for m in mounts]
        for r in readers:
            r.join(120)
        for m, r in zip(mounts, readers):
            self.assertFalse(r.alive(), f"{m.netns}: the read hangs")
            self.assertIsNone(r.error, f"{m.netns}: {r.error!r}\nhffs log: {m.log()}")
            self.assertEqual(r.sha256, want, f"{m.netns}: wrong bytes")

    def source(self, m, path):
        return os.getxattr(m.path(path), "user.hffs.source").decode()

    # ------------------------------------------------------------------ scenarios
    def test_four_nodes_cold_the_hub_sends_the_shard_once_a_fifth_gets_none(self):
        shard = self.hub.files(FLEET)[0]["shard.bin"]
        mounts = [self.mount(f"node{i}", FLEET) for i in range(4)]
        for m in mounts:
            m.__enter__()
        self.read_together(mounts, "shard.bin", shard["sha256"])
        for m in mounts:
            self.assertTrue(self.source(m, "shard.bin").startswith(self.site.url), self.source(m, "shard.bin"))
            m.__exit__(None, None, None)
        sent = self.cdn_bytes()
        self.assertGreaterEqual(sent, shard["size"])
        self.assertLessEqual(sent, shard["size"] * 1.05, f"the CDN sent {sent / shard['size']:.3f} x the shard")
        self.assertEqual(self.hub.stats(log=False)["cdn_auth_requests"], 0, "a token reached the CDN")
        self.hub.reset()
        with self.mount("node4", FLEET) as m5:
            self.assertEqual(sha256_file(m5.path("shard.bin")), shard["sha256"])
            self.assertTrue(self.source(m5, "shard.bin").startswith(self.site.url))
        self.assertEqual(self.cdn_bytes(), 0, "the CDN sent bytes to the fifth node's read")
        self.assertEqual(self.file_bytes_from_hub(FLEET), 0, "the Hub sent shard bytes to the fifth node")

    def test_site_cache_killed_under_four_readers_they_finish_from_the_hub(self):
        shard = self.hub.files(FLEET)[0]["shard.bin"]
        self.hub.configure(cdn_rate=SLOW_RATE)  # the site cache fills slowly: the readers are waiting on it
        mounts = [self.mount(f"node{i}", FLEET) for i in range(4)]
        for m in mounts:
            m.__enter__()
            self.addCleanup(m.__exit__, None, None, None)
        readers = [BackgroundRead(m.path("shard.bin")) for m in mounts]
        try:
            wait_for(lambda: all(r.progress >= 8 << 20 or not r.alive() for r in readers), 60,
                     "the first MiBs of the shard on every node")
            for r in readers:
                self.assertLess(r.progress, shard["size"], "a read ended before the site cache was killed")
            self.site.kill()
            self.hub.configure(cdn_rate=CDN_RATE)  # only the dying site was slowed on purpose
        finally:
            for r in readers:
                r.join(120)
        for m, r in zip(mounts, readers):
            self.assertFalse(r.alive(), f"{m.netns}: the read hangs")
            self.assertIsNone(r.error, f"{m.netns}: {r.error!r} (no EIO)\nhffs log: {m.log()}")
            self.assertEqual(r.sha256, shard["sha256"], f"{m.netns}: wrong bytes")
            src = self.source(m, "shard.bin")
            self.assertTrue(src.startswith(self.hub.endpoint), f"{m.netns}: finished from {src}, not the Hub")

    def refused_like_the_hub(self, node, repo, want_exit):
        """A token-less mount through the site cache fails as one of the Hub alone does."""
        via_site, direct = self.mount(node, repo), self.mount(node, repo, site=False)
        try:
            self.assertEqual(via_site.run().returncode, want_exit, via_site.result.stderr)
            self.assertEqual(direct.run().returncode, want_exit, direct.result.stderr)
        finally:
            via_site.__exit__(None, None, None)
            direct.__exit__(None, None, None)

    def test_gated_and_private_need_the_callers_token_even_when_cached(self):
        token = self.hub.token()
        for repo, want_exit in ((GATED, EXIT_ACCESS), (PRIVATE, EXIT_REPO)):
            with self.subTest(repo=repo):
                files, sha = self.hub.files(repo)
                with self.mount("node0", repo, token=token) as m:
                    for p in sorted(files):
                        self.assertEqual(sha256_file(m.path(p)), files[p]["sha256"], p)
                self.refused_like_the_hub("node1", repo, want_exit)
                # Every byte of the repo is in the site cache now; node1's own request for one is
                # still refused by the Hub's rule, the bytes never sent.
                lfs = sorted(p for p, f in files.items() if f["lfs"])
                node1 = self.fleet.client(self.hub, "node1")
                for p in lfs:
                    url = f"{self.site.url}/{repo}/resolve/{sha}/{p}"
                    r = node1.request("GET", url, headers={"Range": "bytes=0-99"})
                    hub = node1.request("GET", f"/{repo}/resolve/{sha}/{p}", headers={"Range": "bytes=0-99"})
                    self.assertIn(hub.status, (401, 403, 404), (p, hub))
                    self.assertEqual((r.status, r.h("X-Error-Code")), (hub.status, hub.h("X-Error-Code")), (p, r))
                    ok = node1.request("GET", url, headers={"Range": "bytes=0-99"}, token=token)
                    self.assertEqual((ok.status, ok.h("X-Site-Cache")), (206, "HIT"), (p, ok))
                    self.assertNotEqual(r.body[:100], ok.body, p)

    def test_branch_moved_on_the_hub_a_new_mount_sees_it_within_the_ttl(self):
        _, head = self.hub.files(SAMPLE)
        self.hub.configure(lag_commits=1)  # the Hub's main one commit behind, then moved forward

        def commit(node):
            with self.mount(node, SAMPLE) as m:
                return os.getxattr(m.dir, "user.hffs.commit").decode()

        old = commit("node2")
        self.assertNotEqual(old, head)
        self.hub.configure(lag_commits=0)
        moved = time.monotonic()
        wait_for(lambda: commit("node3") == head, BRANCH_TTL + 8, "a new mount on the moved commit")
        self.assertLessEqual(time.monotonic() - moved, BRANCH_TTL + 8)

    def test_uplink_cap_holds(self):
        # For bench/: a tbf of 100 MB/s on the hub's egress gives ~100 MB/s to four connections.
        files, sha = self.hub.files(FLEET)
        size = files["shard.bin"]["size"]
        _, hops = self.hub.follow("HEAD", f"/{FLEET}/resolve/{sha}/shard.bin")
        url, n = hops[-1][0], 4
        self.fleet.cap_uplink(100)
        try:
            tx0, t0 = self.fleet.hub_tx_bytes(), time.monotonic()
            procs = [self.fleet.popen("node0", ["curl", "-sf", "-o", "/dev/null", "-r",
                                                f"{i * size // n}-{(i + 1) * size // n - 1}", url])
                     for i in range(n)]
            self.assertEqual([p.wait(60) for p in procs], [0] * n)
            rate = (self.fleet.hub_tx_bytes() - tx0) / (time.monotonic() - t0) / 1e6
        finally:
            self.fleet.uncap_uplink()
        self.assertGreater(rate, 80, f"{rate:.0f} MB/s under a 100 MB/s cap")
        self.assertLess(rate, 106, f"{rate:.0f} MB/s under a 100 MB/s cap")


if __name__ == "__main__":
    unittest.main()
