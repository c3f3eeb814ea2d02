"""Fault injection (issue point 5), at runtime through POST /_sim/config and from start flags:
429 + Retry-After, 5xx, connection closed mid-body, stall, slow first byte, Range ignored, per leg."""
import http.client
import socket
import time
import unittest

from simtest import SAMPLE, SimCase, sha256_bytes

LFS = "model-00001-of-00002.safetensors"


class RuntimeFaults(SimCase):
    def setUp(self):
        self.sim.configure(clear_faults=True)

    def tearDown(self):
        self.sim.configure(clear_faults=True)

    def loc(self):
        r = self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}")
        self.assertEqual(r.status, 302)
        return r.h("Location")

    def statuses(self, url, n, method="GET"):
        return [self.sim.request(method, url).status for _ in range(n)]

    def test_ratelimit_every_nth_api(self):
        self.sim.configure(ratelimit_every=3, retry_after=7, legs=["api"])
        url = f"/api/models/{SAMPLE}"
        self.assertEqual(self.statuses(url, 6), [200, 200, 429, 200, 200, 429])
        self.sim.configure(ratelimit_every=1, retry_after=7, legs=["api"])
        r = self.sim.get(url)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.h("Retry-After"), "7")
        self.assertEqual(r.h("RateLimit"), '"api";r=0;t=7')
        self.assertTrue(r.h("RateLimit-Policy"))
        self.assertTrue(r.h("X-Request-Id"))
        # other legs unaffected
        self.assertEqual(self.sim.head(f"/{SAMPLE}/resolve/main/config.json").status, 307)
        st = self.sim.stats(log=False)
        self.assertGreaterEqual(st["faults_injected"]["api.ratelimit"], 3)

    def test_error_status_cycle_on_resolve(self):
        self.sim.configure(error_every=2, error_status=[500, 502, 503, 504], legs=["resolve"])
        url = f"/{SAMPLE}/resolve/main/config.json"
        self.assertEqual(self.statuses(url, 8, "HEAD"), [307, 500, 307, 502, 307, 503, 307, 504])
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").status, 200)

    def test_drop_mid_body_api_and_resolve(self):
        files, sha = self.sim.files(SAMPLE)
        self.sim.configure(drop_every=1, legs=["resolve"])
        c = self.sim.conn(self.sim.endpoint)
        c.request("GET", f"/api/resolve-cache/models/{SAMPLE}/{sha}/vocab.txt")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.getheader("Content-Length")), files["vocab.txt"]["size"])
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(len(cm.exception.partial), files["vocab.txt"]["size"] // 2)
        c.close()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.sim.head(f"/{SAMPLE}/resolve/main/config.json")  # HEAD: closed before any byte

    def test_stall_api(self):
        self.sim.configure(stall_every=1, legs=["api"])
        c = self.sim.conn(self.sim.endpoint, timeout=0.5)
        c.request("GET", f"/api/models/{SAMPLE}")
        r = c.getresponse()  # headers arrive
        self.assertEqual(r.status, 200)
        with self.assertRaises((socket.timeout, TimeoutError)):
            r.read()
        c.close()
        self.sim.configure(stall_every=1, stall_ms=300, legs=["api"])
        t = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, http.client.IncompleteRead)):
            self.sim.head(f"/api/models/{SAMPLE}")
        self.assertGreaterEqual(time.monotonic() - t, 0.29)

    def test_delay_first_byte_api(self):
        self.sim.configure(delay_ms=250, legs=["api"])
        t = time.monotonic()
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").status, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.24)

    def test_cdn_faults(self):
        files, _ = self.sim.files(SAMPLE)
        f = files[LFS]
        loc = self.loc()
        self.sim.configure(error_every=2, error_status=503, legs=["cdn"])
        self.assertEqual(self.statuses(loc, 4), [200, 503, 200, 503])
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").status, 200)  # API leg unaffected
        self.sim.configure(clear_faults=True, ratelimit_every=1, retry_after=2, legs=["cdn"])
        r = self.sim.get(loc)
        self.assertEqual((r.status, r.h("Retry-After")), (429, "2"))
        self.sim.configure(clear_faults=True, drop_every=1, legs=["cdn"])
        c = self.sim.conn(loc)
        c.request("GET", loc.split(self.sim.cdn, 1)[1], headers={"Range": "bytes=1000-2000999"})
        r = c.getresponse()
        self.assertEqual(r.status, 206)
        self.assertEqual(r.getheader("Content-Range"), f"bytes 1000-2000999/{f['size']}")
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        part = cm.exception.partial  # the API server sent half; nginx relays what it got before closing
        self.assertTrue(0 < len(part) <= 1000000, len(part))
        with open(f["source"], "rb") as fh:
            fh.seek(1000)
            self.assertEqual(part, fh.read(len(part)))
        c.close()
        self.sim.configure(clear_faults=True, stall_every=1, legs=["cdn"])
        c = self.sim.conn(loc, timeout=0.5)
        c.request("GET", loc.split(self.sim.cdn, 1)[1])
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises((socket.timeout, TimeoutError)):
            r.read()
        c.close()
        self.sim.configure(clear_faults=True, ignore_range_every=1, legs=["cdn"])
        r = self.sim.get(loc, headers={"Range": "bytes=0-99"})
        self.assertEqual(r.status, 200)
        self.assertEqual(sha256_bytes(r.body), f["sha256"])
        self.sim.configure(clear_faults=True, delay_ms=300, legs=["cdn"])
        t = time.monotonic()
        self.assertEqual(self.sim.get(loc, headers={"Range": "bytes=0-0"}).status, 206)
        self.assertGreaterEqual(time.monotonic() - t, 0.29)
        self.sim.configure(clear_faults=True)
        self.assertEqual(sha256_bytes(self.sim.get(loc).body), f["sha256"])
        st = self.sim.stats(log=False)
        for k in ("cdn.error", "cdn.ratelimit", "cdn.drop", "cdn.stall", "cdn.ignore_range"):
            self.assertGreaterEqual(st["faults_injected"].get(k, 0), 1, k)

    def test_path_regex_limits_faults(self):
        self.sim.configure(error_every=1, path_regex=r"config\.json$", legs=["resolve"])
        self.assertEqual(self.sim.head(f"/{SAMPLE}/resolve/main/config.json").status, 500)
        self.assertEqual(self.sim.head(f"/{SAMPLE}/resolve/main/README.md").status, 307)

    def test_config_roundtrip_and_validation(self):
        cfg = self.sim.configure(faults={"cdn": {"drop_every": 5}, "api": {"error_every": 9}})
        self.assertEqual(cfg["faults"]["cdn"]["drop_every"], 5)
        self.assertEqual(cfg["faults"]["api"]["error_every"], 9)
        self.assertEqual(cfg["faults"]["resolve"]["error_every"], 0)
        self.assertEqual(self.sim.request("GET", "/_sim/config").json(), cfg)
        r = self.sim.request("POST", "/_sim/config", body={"no_such_knob": 1})
        self.assertEqual(r.status, 400)
        r = self.sim.request("POST", "/_sim/config", body={"error_every": 1, "legs": ["moon"]})
        self.assertEqual(r.status, 400)

    def test_reset_restarts_counters(self):
        self.sim.configure(error_every=2, legs=["api"])
        url = f"/api/models/{SAMPLE}"
        self.assertEqual(self.statuses(url, 1), [200])
        self.sim.reset()
        self.assertEqual(self.statuses(url, 2), [200, 500])


class StartFlagFaults(SimCase):
    SIM_ARGS = ("--error-every", "2", "--error-status", "502", "--fault-legs", "api,cdn",
                "--ratelimit-every", "5", "--retry-after", "3")

    def test_flags(self):
        url = f"/api/models/{SAMPLE}"
        self.assertEqual([self.sim.get(url).status for _ in range(5)], [200, 502, 200, 502, 429])
        self.assertEqual([self.sim.head(f"/{SAMPLE}/resolve/main/config.json").status for _ in range(3)], [307] * 3)
        loc = self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.assertEqual([self.sim.head(loc).status for _ in range(2)], [200, 502])
        cfg = self.sim.configure()
        self.assertEqual(cfg["faults"]["resolve"]["error_every"], 0)


if __name__ == "__main__":
    unittest.main()
