"""Per-endpoint faults at run time (issue 13): a stall in the middle of a body (cdn and resolve-cache),
a rate cap changed on a second simulator, and an endpoint killed mid-transfer then revived as the
same endpoint (`run kill` / `run revive`, Simulator.kill() / revive())."""
import http.client
import json
import os
import socket
import subprocess
import time
import unittest

from simtest import RUN, SAMPLE, EndpointsCase, Sim, SimCase, sha256_bytes, wait_for

LFS = "model-00001-of-00002.safetensors"


def read_until_stuck(resp):
    """The body bytes a response delivers until the connection ends or nothing comes for the
    connection's timeout. Returns (bytes, "eof" | "timeout" | "reset")."""
    got = b""
    while True:
        try:
            chunk = resp.read1(1 << 16)
        except (TimeoutError, socket.timeout):
            return got, "timeout"
        except ConnectionResetError:
            return got, "reset"
        if not chunk:
            return got, "eof"
        got += chunk


def prefix(f, n, start=0):
    with open(f["source"], "rb") as fh:
        fh.seek(start)
        return fh.read(n)


class StallBody(SimCase):
    def setUp(self):
        self.sim.configure(clear_faults=True)
        self.sim.reset()
        self.f = self.sim.files(SAMPLE)[0][LFS]

    def tearDown(self):
        self.sim.configure(clear_faults=True)

    def get(self, url, timeout, headers=None):
        """(connection, response) of a GET whose body the test reads itself."""
        if url.startswith("/"):
            url = self.sim.endpoint + url
        c = self.sim.conn(url, timeout=timeout)
        self.addCleanup(c.close)
        c.request("GET", "/" + url.split("/", 3)[3], headers=headers or {})
        return c, c.getresponse()

    def test_cdn_half_the_body_then_nothing(self):
        loc = self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.sim.configure(stall_body_every=1, legs=["cdn"])  # stall_ms 0: until the client gives up
        c, r = self.get(loc, timeout=1)
        self.assertEqual((r.status, int(r.getheader("Content-Length"))), (200, self.f["size"]))
        self.assertEqual(r.getheader("ETag"), f'"{self.f["sha256"]}"')
        body, end = read_until_stuck(r)
        self.assertEqual(end, "timeout")
        self.assertEqual(body, prefix(self.f, self.f["size"] // 2))
        c.close()  # the client gives up: the stall ends, and nginx logs the request
        # A range: half of the range; with stall_ms the connection is closed after the stall.
        self.sim.configure(stall_body_every=1, stall_ms=200, legs=["cdn"])
        t = time.monotonic()
        _, r = self.get(loc, timeout=10, headers={"Range": "bytes=1000-200999"})
        self.assertEqual((r.status, r.getheader("Content-Range")), (206, f"bytes 1000-200999/{self.f['size']}"))
        body, end = read_until_stuck(r)
        self.assertGreaterEqual(time.monotonic() - t, 0.19)
        self.assertIn(end, ("eof", "reset"))
        self.assertEqual(body, prefix(self.f, 100000, 1000))
        def both_logged():
            st = self.sim.stats()
            return st if st["by_host"]["cdn"] == 2 else None
        st = wait_for(both_logged, 10, "both stalled requests in the CDN log")
        self.assertEqual(st["faults_injected"], {"cdn.stall_body": 2})
        self.assertEqual(sorted((e["status"], e["range"], e["bytes"]) for e in st["log"] if e["kind"] == "cdn"),
                         [(200, None, self.f["size"] // 2), (206, "bytes=1000-200999", 100000)])

    def test_resolve_cache_and_prob(self):
        files, sha = self.sim.files(SAMPLE)
        f = files["vocab.txt"]
        url = f"/api/resolve-cache/models/{SAMPLE}/{sha}/vocab.txt"
        self.sim.configure(stall_body_every=1, stall_ms=100, path_regex="^/api/resolve-cache/", legs=["resolve"])
        self.assertEqual(self.sim.head(f"/{SAMPLE}/resolve/main/vocab.txt").status, 307)  # not matched: untouched
        _, r = self.get(url, timeout=10)
        self.assertEqual((r.status, int(r.getheader("Content-Length"))), (200, f["size"]))
        body, end = read_until_stuck(r)
        self.assertEqual(body, prefix(f, f["size"] // 2))
        self.assertIn(end, ("eof", "reset"))
        # HEAD has no body to stall in: nothing at all until the stall ends (as stall_every).
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.sim.head(url)
        self.sim.configure(clear_faults=True, stall_body_prob=1.0, stall_ms=100, legs=["resolve"])
        body, _ = read_until_stuck(self.get(url, timeout=10)[1])
        self.assertEqual(len(body), f["size"] // 2)
        self.assertEqual(self.sim.stats(log=False)["faults_injected"], {"resolve.stall_body": 3})

    def test_start_flag(self):
        sim = Sim("--stall-body-every", "2", "--stall-ms", "100", "--fault-legs", "cdn", name="stallbody-flag")
        self.addCleanup(sim.cleanup)
        sim.start()
        self.assertEqual(sim.configure()["faults"]["cdn"]["stall_body_every"], 2)
        loc = sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.assertEqual(sha256_bytes(sim.get(loc).body), self.f["sha256"])
        c = sim.conn(loc, timeout=10)
        c.request("GET", loc.split(sim.cdn, 1)[1])
        body, _ = read_until_stuck(c.getresponse())
        c.close()
        self.assertEqual(len(body), self.f["size"] // 2)


class SlowSecondEndpoint(EndpointsCase):
    def test_cdn_rate_at_run_time_on_the_second_endpoint(self):
        a, b = self.sims
        f = b.files(SAMPLE)[0][LFS]
        rate = 2 << 20
        loc = b.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.assertEqual(b.configure(cdn_rate=rate)["cdn_rate"], rate)
        self.addCleanup(b.configure, cdn_rate=0)
        self.assertTrue(os.path.exists(os.path.join(b.state, "cdn", "gate")))
        self.assertFalse(os.path.exists(os.path.join(a.state, "cdn", "gate")), "the other endpoint is not capped")
        t = time.monotonic()
        r = b.get(loc)
        took = time.monotonic() - t
        self.assertEqual(sha256_bytes(r.body), f["sha256"])
        # nginx's limit_rate lets about one second's worth through at once, then holds the rate.
        self.assertGreaterEqual(took, 0.8 * (f["size"] - rate) / rate, took)
        b.configure(cdn_rate=0)
        self.assertFalse(os.path.exists(os.path.join(b.state, "cdn", "gate")), "no cap: nginx serves alone")


class KillRevive(EndpointsCase):
    def test_killed_mid_body_refused_then_revived_as_the_same_endpoint(self):
        a, b = self.sims
        f = a.files(SAMPLE)[0][LFS]
        loc = a.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        # Slow the transfer (about 4 s for the file) so the kill lands in its middle; runtime knobs
        # set before the kill come back with the endpoint.
        a.configure(cdn_rate=1 << 20, lag_commits=1, hidden_repos=["spaces/hffs-test/demo-space"])
        c = a.conn(loc, timeout=10)
        c.request("GET", loc.split(a.cdn, 1)[1])
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        got = r.read1(1 << 16)  # returns once the first body bytes are here
        self.assertTrue(got)
        a.kill()
        rest, end = read_until_stuck(r)
        c.close()
        body = got + rest
        self.assertIn(end, ("eof", "reset"))
        self.assertLess(len(body), f["size"], "cut mid-body")
        self.assertEqual(body, prefix(f, len(body)))
        for url in (a.endpoint + "/_sim/health", loc):
            with self.assertRaises(ConnectionRefusedError, msg=url):
                a.get(url)
        st = subprocess.run([RUN, "status", "--state-dir", a.state], capture_output=True, text=True)
        self.assertEqual((st.returncode, st.stdout.strip()), (1, "stopped"))
        self.assertEqual(b.get(f"/api/models/{SAMPLE}").status, 200, "the other endpoint still serves")
        # Back: same addresses and ports, same secret (the URL signed before is good), same knobs,
        # same content, stats from zero.
        endpoint, cdn = a.endpoint, a.cdn
        a.revive()
        self.assertEqual((a.endpoint, a.cdn), (endpoint, cdn))
        self.assertEqual(a.stats(log=False)["total_requests"], 0)
        cfg = a.configure()
        self.assertEqual((cfg["cdn_rate"], cfg["lag_commits"], cfg["hidden_repos"]),
                         (1 << 20, 1, ["spaces/hffs-test/demo-space"]))
        self.assertEqual(a.get("/api/spaces/hffs-test/demo-space").status, 401)
        a.configure(cdn_rate=0, lag_commits=0, hidden_repos=[])
        self.assertEqual(sha256_bytes(a.get(loc).body), f["sha256"])
        self.assertEqual(a.stats(log=False)["by_kind"], {"repo_info": 1, "cdn": 1})

    def test_cli_refusals(self):
        a = self.sims[1]
        run = lambda op, state: subprocess.run([RUN, op, "--state-dir", state], capture_output=True,  # noqa: E731
                                               text=True, timeout=120)
        r = run("revive", a.state)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("already runs", r.stderr)
        fresh = Sim(name="never-killed")
        self.addCleanup(fresh.cleanup)
        fresh.start()
        fresh.stop()
        r = run("revive", fresh.state)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("never killed", r.stderr)
        r = run("kill", fresh.state)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no running simulator", r.stderr)
        a.kill()
        with open(os.path.join(a.state, "config.json")) as fh:
            cfg = json.load(fh)
        self.assertEqual(f"http://{cfg['api_host']}:{cfg['api_port']}", a.endpoint)
        for n in ("hubsim.pid", "ready.json", "env"):
            self.assertFalse(os.path.exists(os.path.join(a.state, n)), n)
        r = run("kill", a.state)
        self.assertEqual(r.returncode, 1, r.stderr)
        a.revive()
        self.assertEqual(a.get(f"/api/models/{SAMPLE}").status, 200)


if __name__ == "__main__":
    unittest.main()
