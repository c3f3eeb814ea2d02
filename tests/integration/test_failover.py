"""Mirrors and endpoint failover (issue 13): one mount, two endpoints (a preferred mirror A, then the
Hub B), each a simulator with its own addresses and CDN serving the same repos. Whatever A does (dies
mid-read, stalls mid-body, answers 503 storms, lags one commit, lacks the repo, refuses a gated repo)
every file reads with the right sha256 and no EIO while B can serve; A is used again once it is back
(the switch-back); the token never reaches an endpoint marked --no-token-endpoint nor any CDN; with
every endpoint down the mount fails with exit 6 naming each one.

WRITTEN AGAINST THE CONTRACT of BRIEF-SIM.md, while the hffs side was being built in parallel: the
options `--endpoint URL` (repeated, first = preferred), `--no-token-endpoint URL`,
`--endpoint-backoff SECONDS`, `HF_ENDPOINT=A,B`; the metrics `hffs_endpoint_up{endpoint=}` and
`hffs_endpoint_failovers_total{from=,to=}` (read here from the `user.hffs.metrics` xattr, the same text
`--metrics-file` gets every 10 s); `user.hffs.source` naming the serving endpoint; `hffs status`
printing one line per endpoint with `up`/`down` and `serving`; exit 6 when every endpoint is down.
Not run against a binary that has all of these yet: the simulator side (kill/revive, the mirror
knobs, the stall mid-body) is tested in tests/hubsim/tests/test_mirrors.py and test_mirror_faults.py.
"""
import os
import re
import subprocess
import unittest
import urllib.parse

from harness import HFFS, BackgroundRead, Mount, launch, sha256_file, wait_for

SAMPLE = "hffs-test/tiny-model"
FAILOVER = "hffs-test/failover-model"  # fixtures/failover.json: big.bin (40 MiB), mid.bin, small files
GATED = "hffs-test/gated-model"
PRIVATE = "hffs-test/private-model"
CACHE = os.environ.get("HUBSIM_TEST_CACHE", "/tmp/hffs-hubsim-testcache")
EXIT_NET = 6
# A's CDN rate cap while big.bin is read. nginx lets a second's worth of a response through at once,
# and hffs fetches 1 MiB ranges, so the cap must stay below 1 MiB/s to slow anything: at 512 KiB/s
# the reader gets about 2 MiB/s (measured with hffs of 2025-11: 4 MiB after 3 s, the file in 21 s).
BIG_RATE = 512 << 10
KILL_AT = 4 << 20  # bytes the reader has from A when A is killed


def metrics(mnt):
    vals = {}
    for line in os.getxattr(mnt.dir, "user.hffs.metrics").decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def sample(vals, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when there is none."""
    hits = [v for k, v in vals.items()
            if k.startswith(name + "{") and all(f'{lk}="{lv}"' in k for lk, lv in labels.items())]
    return sum(hits) if hits else None


def endpoint_up(mnt, url):
    return sample(metrics(mnt), "hffs_endpoint_up", endpoint=url)


def failovers(mnt, src, dst):
    return sample(metrics(mnt), "hffs_endpoint_failovers_total", **{"from": src, "to": dst}) or 0


def source(mnt, path):
    return os.getxattr(mnt.path(path), "user.hffs.source").decode()


def file_of(e):
    """(repo id, path in the repo) a logged resolve / resolve-cache / raw request names, else None."""
    segs = [urllib.parse.unquote(x) for x in e["path"].split("/")[1:]]
    if e["kind"] == "resolve_cache":  # /api/resolve-cache/{types}/{ns}/{name}/{commit}/{path}
        return "/".join(segs[3:5]), "/".join(segs[6:])
    if e["kind"] in ("resolve", "raw"):  # /[{types}/]{ns}/{name}/{resolve|raw}/{rev}/{path}
        if segs[0] in ("datasets", "spaces"):
            segs = segs[1:]
        return "/".join(segs[:2]), "/".join(segs[4:])
    return None


def data_requests(sim, repo, files):
    """The simulator's logged answers that carried bytes of `files` ({path: manifest entry}) of
    `repo`: resolve / resolve-cache / raw answers with a body, CDN answers of their blobs."""
    blobs = {f["sha256"] for f in files.values() if f["lfs"]}
    out = []
    for e in sim.requests():
        if e["status"] not in (200, 206) or not e["bytes"]:
            continue  # HEAD, 304, errors
        if e["kind"] == "cdn" and e["path"].rsplit("/", 1)[-1] in blobs:
            out.append(e)
        elif file_of(e) in {(repo, p) for p in files}:
            out.append(e)
    return out


def repo_requests(sim, repo):
    """The simulator's logged requests naming `repo` (API, resolve, resolve-cache, raw)."""
    return [e for e in sim.requests() if e["host"] == "api" and f"/{repo}/" in urllib.parse.unquote(e["path"]) + "/"]


class Failover(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists("/dev/fuse"):
            raise unittest.SkipTest("/dev/fuse is not available")
        cls.a, cls.b = launch.start_endpoints(2, "--repos", "failover", cache_dir=CACHE, name="failover",
                                              prefix="hffs-it-")
        cls.addClassCleanup(cls.a.cleanup)
        cls.addClassCleanup(cls.b.cleanup)

    def setUp(self):
        for sim in (self.a, self.b):
            if subprocess.run([launch.RUN, "status", "--state-dir", sim.state], capture_output=True).returncode:
                sim.revive()  # a test that failed half-way left it killed
            sim.configure(clear_faults=True, cdn_rate=0, lag_commits=0, hidden_repos=[], refuse_gated=False)
            sim.reset()

    # ------------------------------------------------------------------ helpers
    def mount(self, repo, *extra, token=None, backoff=1, deadline=30, flags=True):
        """A mount whose endpoints are A (preferred) then B: as --endpoint flags (and the same list in
        HF_ENDPOINT), or with flags=False through HF_ENDPOINT=A,B alone."""
        a, b = self.a.endpoint, self.b.endpoint
        args = ["--endpoint", a, "--endpoint", b] if flags else []
        args += ["--endpoint-backoff", str(backoff), "--deadline", str(deadline), "--no-prefetch", *extra]
        return Mount(self.a, repo, *args, env={"HF_ENDPOINT": f"{a},{b}"}, token=token)

    def read_all(self, mnt, files, paths=None):
        """Every file (or `paths`) read through the mount: the manifest's sha256, never an error."""
        for p in sorted(paths if paths is not None else files):
            try:
                got = sha256_file(mnt.path(p))
            except OSError as e:
                self.fail(f"{p}: {e!r} while an endpoint could serve it")
            self.assertEqual(got, files[p]["sha256"], p)

    def assert_served_by(self, mnt, files, sim, other):
        """`files` (of the mount's repo) were fetched from `sim` and not from `other`, and their
        source names `sim`."""
        self.assertTrue(data_requests(sim, mnt.repo, files), f"{sorted(files)} not fetched from {sim.endpoint}")
        self.assertEqual(data_requests(other, mnt.repo, files), [], f"fetched from {other.endpoint}")
        for p in files:
            self.assertTrue(source(mnt, p).startswith(sim.endpoint + "/"), (p, source(mnt, p)))

    def status(self, mnt):
        """{endpoint URL: its line in `hffs status`}: the one line naming it with `up` or `down`
        (other lines may name it too, e.g. a count of failovers between two endpoints)."""
        r = subprocess.run([HFFS, "status", mnt.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = {}
        for url in (self.a.endpoint, self.b.endpoint):
            lines = [ln for ln in r.stdout.splitlines() if url in ln and re.search(r"\b(up|down)\b", ln)]
            self.assertEqual(len(lines), 1, (url, r.stdout))
            out[url] = lines[0]
        return out

    def assert_status(self, mnt, up, down=(), serving=None):
        lines = self.status(mnt)
        for url in up:
            self.assertRegex(lines[url], r"\bup\b")
        for url in down:
            self.assertRegex(lines[url], r"\bdown\b")
        if serving:
            for url, line in lines.items():
                (self.assertIn if url == serving else self.assertNotIn)("serving", line)

    def wait_switch_back(self, mnt):
        wait_for(lambda: endpoint_up(mnt, self.a.endpoint) == 1, 60, "the preferred endpoint back up")

    def files(self, repo, revision="main"):
        return self.a.files(repo, revision)[0]

    # ------------------------------------------------------------------ scenarios
    def test_preferred_killed_mid_read_then_revived(self):
        a, b = self.a, self.b
        files = self.files(FAILOVER)
        big = files["big.bin"]
        with self.mount(FAILOVER) as m:
            self.read_all(m, files, ["README.md", "notes/n1.txt"])
            self.assert_served_by(m, {p: files[p] for p in ("README.md", "notes/n1.txt")}, a, b)
            self.assertEqual(endpoint_up(m, a.endpoint), 1)
            # A's CDN sends the big file at BIG_RATE per connection, so the reader is always waiting on
            # A when A dies: it is killed once the reader got KILL_AT bytes, with ranges in flight.
            # (With a single endpoint this read fails with EIO at the deadline: checked by hand.)
            a.configure(cdn_rate=BIG_RATE)
            b.reset()
            r = BackgroundRead(m.path("big.bin"))
            try:
                wait_for(lambda: r.progress >= KILL_AT or not r.alive(), 60, "the first MiBs of big.bin from A")
                self.assertLess(r.progress, big["size"], "the read ended before A was killed")
                at_kill = r.progress
                a.kill()
            finally:
                r.join(120)
            self.assertFalse(r.alive(), "the reader hangs")
            self.assertIsNone(r.error, "no EIO")
            self.assertEqual(r.sha256, big["sha256"], "no wrong byte")
            # B served the rest, not the part the reader already had from A.
            from_b = sum(e["bytes"] for e in data_requests(b, FAILOVER, {"big.bin": big}))
            self.assertGreater(from_b, 0)
            self.assertLessEqual(from_b, big["size"] - at_kill)
            self.assertEqual(endpoint_up(m, a.endpoint), 0)
            self.assertGreaterEqual(failovers(m, a.endpoint, b.endpoint), 1)
            self.assert_status(m, up=[b.endpoint], down=[a.endpoint], serving=b.endpoint)
            # While A is down: B serves.
            b.reset()
            self.read_all(m, files, ["notes/n2.txt", "notes/n3.txt"])
            self.assertTrue(source(m, "notes/n2.txt").startswith(b.endpoint + "/"))
            self.assertTrue(data_requests(b, FAILOVER, {p: files[p] for p in ("notes/n2.txt", "notes/n3.txt")}))
            # A comes back (same addresses, knobs kept: lift its rate cap): the background probe
            # finds it, and new reads go to it again.
            a.revive()
            a.configure(cdn_rate=0)
            self.wait_switch_back(m)
            a.reset()
            b.reset()
            back = {p: files[p] for p in ("notes/n4.txt", "notes/n5.txt", "mid.bin")}
            self.read_all(m, files, back)
            self.assert_served_by(m, back, a, b)
            self.assert_status(m, up=[a.endpoint, b.endpoint], serving=a.endpoint)
            self.read_all(m, files)

    def test_preferred_stalls_mid_body(self):
        """Every answer of A carrying file bytes (its CDN, its resolve-cache) stops half-way and never
        ends. The run time is hffs's stall detection (no bytes for N s), once: A is then put aside
        for longer than the test."""
        a, b = self.a, self.b
        files = self.files(SAMPLE)
        with self.mount(SAMPLE, backoff=120) as m:
            a.configure(faults={"cdn": {"stall_body_every": 1},
                                "resolve": {"stall_body_every": 1, "path_regex": "^/api/resolve-cache/"}})
            a.reset()
            self.read_all(m, files)
            injected = a.stats(log=False)["faults_injected"]
            self.assertGreaterEqual(injected.get("cdn.stall_body", 0) + injected.get("resolve.stall_body", 0), 1)
            self.assertGreaterEqual(failovers(m, a.endpoint, b.endpoint), 1)
            self.assertTrue(data_requests(b, SAMPLE, files))

    def test_preferred_503_storm_then_recovers(self):
        """The endpoint list comes from HF_ENDPOINT=A,B alone here."""
        a, b = self.a, self.b
        files = self.files(SAMPLE)
        paths = sorted(files)
        storm, after = paths[: len(paths) // 2], paths[len(paths) // 2:]
        with self.mount(SAMPLE, flags=False) as m:
            a.configure(error_every=1, error_status=[503])
            a.reset()
            self.read_all(m, files, storm)
            self.assertGreater(a.stats(log=False)["faults_injected"].get("resolve.error", 0), 0)
            self.assert_served_by(m, {p: files[p] for p in storm}, b, a)
            self.assertGreaterEqual(failovers(m, a.endpoint, b.endpoint), 1)
            self.assertEqual(endpoint_up(m, a.endpoint), 0)
            a.configure(clear_faults=True)
            self.wait_switch_back(m)
            a.reset()
            b.reset()
            self.read_all(m, files, after)
            self.assert_served_by(m, {p: files[p] for p in after}, a, b)

    def test_lagging_mirror_skipped_for_the_pinned_commit(self):
        """A lacks the newest commit of main; the mount is pinned to it: A says RevisionNotFound once
        and is never asked about the repo again; B serves every byte."""
        a, b = self.a, self.b
        files, head = a.files(SAMPLE)
        a.configure(lag_commits=1)
        paths = sorted(files)
        with self.mount(SAMPLE, "--revision", head) as m:
            self.assertEqual(os.getxattr(m.dir, "user.hffs.commit").decode(), head)
            self.read_all(m, files, paths[:3])
            asked = repo_requests(a, SAMPLE)
            self.assertIn(404, {e["status"] for e in asked}, asked)
            self.assertEqual(data_requests(a, SAMPLE, files), [])
            a.reset()
            b.reset()
            self.read_all(m, files, paths[3:])
            self.assertEqual(repo_requests(a, SAMPLE), [], "asked again after RevisionNotFound")
            self.assert_served_by(m, {p: files[p] for p in paths[3:]}, b, a)

    def test_mirror_without_the_repo(self):
        a, b = self.a, self.b
        files = self.files(SAMPLE)
        paths = sorted(files)
        a.configure(hidden_repos=[SAMPLE])
        with self.mount(SAMPLE) as m:
            self.read_all(m, files, paths[:3])
            asked = repo_requests(a, SAMPLE)
            self.assertTrue(asked, "A was never asked")
            self.assertEqual({e["status"] for e in asked} - {401, 404}, set(), asked)
            a.reset()
            b.reset()
            self.read_all(m, files, paths[3:])
            self.assertEqual(repo_requests(a, SAMPLE), [], "asked again after RepoNotFound")
            self.assert_served_by(m, {p: files[p] for p in paths[3:]}, b, a)
            # A still serves what it has: another repo through the same endpoints goes to it.
        other = self.files(FAILOVER)
        with self.mount(FAILOVER) as m:
            a.reset()
            b.reset()
            self.read_all(m, other, ["README.md"])
            self.assert_served_by(m, {"README.md": other["README.md"]}, a, b)

    def test_gated_repo_through_a_mirror_that_refuses_it(self):
        a, b = self.a, self.b
        files = self.files(GATED)
        a.configure(refuse_gated=True)
        with self.mount(GATED, token=a.token()) as m:
            self.read_all(m, files)
            self.assert_served_by(m, files, b, a)
        for sim in (a, b):
            self.assertEqual(sim.stats(log=False)["cdn_auth_requests"], 0, sim.endpoint)
        self.assertGreater(b.stats(log=False)["api_auth_requests"], 0)

    def test_token_never_reaches_a_no_token_endpoint_nor_a_cdn(self):
        """A is a third party's public mirror (--no-token-endpoint): it serves the public repo
        without the token; the private repo, which needs it, comes from B with it."""
        a, b = self.a, self.b
        tok = a.token()

        def no_token_at_a():
            st = a.stats()
            self.assertEqual(st["api_auth_requests"], 0, [e["path"] for e in st["log"] if e["had_auth"]][:3])

        public = self.files(SAMPLE)
        with self.mount(SAMPLE, "--no-token-endpoint", a.endpoint, token=tok) as m:
            self.read_all(m, public)
            no_token_at_a()
            self.assert_served_by(m, public, a, b)
        private = self.files(PRIVATE)
        with self.mount(PRIVATE, "--no-token-endpoint", a.endpoint, token=tok) as m:
            self.read_all(m, private)
            no_token_at_a()
            self.assert_served_by(m, private, b, a)
        self.assertEqual((a.stats()["cdn_auth_requests"], b.stats()["cdn_auth_requests"]), (0, 0))
        self.assertGreater(b.stats()["api_auth_requests"], 0, "the Hub endpoint got the token")

    def test_every_endpoint_down_at_mount(self):
        a, b = self.a, self.b
        urls = [a.endpoint, b.endpoint]
        a.kill()
        b.kill()
        m = self.mount(SAMPLE, deadline=5)
        try:
            r = m.run()
            self.assertEqual(r.returncode, EXIT_NET, r.stderr)
            for url in urls:
                self.assertIn(url, r.stderr)
            self.assertFalse(os.path.ismount(m.dir))
        finally:
            m.__exit__(None, None, None)
            a.revive()
            b.revive()


if __name__ == "__main__":
    unittest.main()
