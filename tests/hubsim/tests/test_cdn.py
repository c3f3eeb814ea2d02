"""The nginx CDN leg (issue point 2): own host, Range/206/416, keep-alive, signed URLs (forged and
expired -> 403), Authorization presence in the access log, rate cap and first-byte delay."""
import os
import time
import unittest
import urllib.parse

from simtest import SAMPLE, SimCase, sha256_bytes

import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hubsim import cdn as cdnmod  # noqa: E402

BIG = "model-00001-of-00002.safetensors"


class Cdn(SimCase):
    def location(self, path=BIG, token=None):
        r = self.sim.head(f"/{SAMPLE}/resolve/main/{path}", token=token)
        self.assertEqual(r.status, 302, r)
        return r.h("Location")

    def src(self, path=BIG):
        f = self.sim.files(SAMPLE)[0][path]
        with open(f["source"], "rb") as fh:
            return f, fh.read()

    def test_own_host_is_nginx(self):
        cdn = urllib.parse.urlsplit(self.sim.cdn)
        api = urllib.parse.urlsplit(self.sim.endpoint)
        self.assertEqual(cdn.hostname, "127.0.0.2")
        self.assertEqual(api.hostname, "127.0.0.1")
        r = self.sim.get(self.location())
        self.assertEqual(r.h("Server"), "nginx")
        self.assertTrue(r.h("X-Request-Id"))
        with open(os.path.join(self.sim.state, "cdn", "nginx.conf")) as f:
            conf = f.read()
        self.assertIn("sendfile on;", conf)
        self.assertIn("secure_link_md5", conf)

    def test_full_and_ranged(self):
        f, data = self.src()
        loc = self.location()
        r = self.sim.get(loc)
        self.assertEqual(r.status, 200)
        self.assertEqual(sha256_bytes(r.body), f["sha256"])
        self.assertEqual(r.h("ETag"), f'"{f["sha256"]}"')
        self.assertEqual(r.h("Accept-Ranges"), "bytes")
        self.assertIsNone(r.h("X-Repo-Commit"))
        size = f["size"]
        for rng, a, b in (("bytes=0-0", 0, 0), ("bytes=100-1048675", 100, 1048675), (f"bytes={size - 10}-", size - 10, size - 1),
                          ("bytes=-5", size - 5, size - 1), (f"bytes=1000-{size + 500}", 1000, size - 1)):
            r = self.sim.get(loc, headers={"Range": rng})
            self.assertEqual(r.status, 206, rng)
            self.assertEqual(r.h("Content-Range"), f"bytes {a}-{b}/{size}", rng)
            self.assertEqual(r.body, data[a:b + 1], rng)
        for rng in (f"bytes={size}-", f"bytes={size + 100}-{size + 200}"):
            r = self.sim.get(loc, headers={"Range": rng})
            self.assertEqual(r.status, 416, rng)
            self.assertEqual(r.h("Content-Range"), f"bytes */{size}")
        r = self.sim.head(loc)
        self.assertEqual((r.status, int(r.h("Content-Length"))), (200, size))

    def test_exact_mib_sizes(self):
        for p in ("data/exact_2MiB.bin", "data/one_MiB_plus_1.bin"):
            f, data = self.src(p)
            self.assertIn(f["size"], (2 << 20, (1 << 20) + 1))
            loc = self.location(p)
            r = self.sim.get(loc, headers={"Range": f"bytes={f['size'] - 1}-"})
            self.assertEqual((r.status, r.body), (206, data[-1:]))
            self.assertEqual(sha256_bytes(self.sim.get(loc).body), f["sha256"])

    def test_keep_alive(self):
        f, data = self.src()
        loc = self.location()
        c = self.sim.conn(loc)
        for i in range(10):
            r = self.sim.request("GET", loc, headers={"Range": f"bytes={i * 1000}-{i * 1000 + 999}"}, conn=c)
            self.assertEqual(r.body, data[i * 1000:i * 1000 + 1000])
        c.close()
        ids = {e["request_id"] for e in self.sim.stats()["log"] if e["host"] == "cdn"}
        self.assertGreaterEqual(len(ids), 10)

    def test_forged_and_expired_signatures(self):
        loc = self.location()
        u = urllib.parse.urlsplit(loc)
        q = dict(urllib.parse.parse_qsl(u.query))
        base = f"{u.scheme}://{u.netloc}{u.path}"
        self.assertEqual(self.sim.get(loc).status, 200)
        self.assertAlmostEqual(int(q["Expires"]), time.time() + 3600, delta=60)
        forged = f"{base}?Expires={q['Expires']}&Signature={'A' * len(q['Signature'])}"
        r = self.sim.get(forged)
        self.assertEqual(r.status, 403)
        self.assertIn(b"AccessDenied", r.body)
        r = self.sim.get(f"{base}?Expires={int(q['Expires']) + 10}&Signature={q['Signature']}")
        self.assertEqual(r.status, 403, "Expires is covered by the signature")
        other = base.rsplit("/", 1)[0] + "/" + self.sim.files(SAMPLE)[0]["data/exact_2MiB.bin"]["sha256"]
        self.assertEqual(self.sim.get(f"{other}?{u.query}").status, 403, "path is covered")
        self.assertEqual(self.sim.get(base).status, 403)
        # a correctly signed URL whose expiry has passed
        secret = self.sim.config["secret"]
        past = int(time.time()) - 5
        r = self.sim.get(f"{base}?Expires={past}&Signature={cdnmod.sign(u.path, past, secret)}")
        self.assertEqual(r.status, 403)
        self.assertIn(b"expired", r.body)
        fut = int(time.time()) + 60
        self.assertEqual(self.sim.get(f"{base}?Expires={fut}&Signature={cdnmod.sign(u.path, fut, secret)}").status, 200)

    def test_short_sign_ttl_at_runtime(self):
        try:
            self.sim.configure(sign_ttl=1)
            loc = self.location()
            exp = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))["Expires"])
            self.assertLessEqual(exp, time.time() + 2)
            self.sim.wait_for(lambda: self.sim.head(loc).status == 403, timeout=10, what="signed URL expiry")
            self.assertEqual(self.sim.head(self.location()).status, 200, "a fresh resolve gives a valid URL")
        finally:
            self.sim.configure(sign_ttl=3600)

    def test_authorization_presence_is_logged_never_the_value(self):
        self.sim.reset()
        loc = self.location(token=self.sim.token())
        self.assertEqual(self.sim.get(loc).status, 200)
        self.assertEqual(self.sim.stats(log=False)["cdn_auth_requests"], 0)
        secret_token = "hf_this_must_not_be_logged_123"
        self.assertEqual(self.sim.get(loc, headers={"Authorization": f"Bearer {secret_token}"}).status, 200)
        st = self.sim.stats()
        self.assertEqual(st["cdn_auth_requests"], 1)
        cdn = [e for e in st["log"] if e["host"] == "cdn"]
        self.assertEqual([e["had_auth"] for e in cdn], [False, True])
        self.assertEqual(st["api_auth_requests"], 1)
        with open(os.path.join(self.sim.state, "cdn", "access.log")) as f:
            self.assertNotIn(secret_token, f.read())

    def test_reject_auth_knob(self):
        loc = self.location()
        try:
            self.sim.configure(cdn_reject_auth=True)
            self.assertEqual(self.sim.get(loc, headers={"Authorization": "Bearer x"}).status, 400)
            self.assertEqual(self.sim.get(loc).status, 200)
        finally:
            self.sim.configure(cdn_reject_auth=False)

    def test_rate_cap_and_first_byte_delay(self):
        f, data = self.src("data/exact_2MiB.bin")
        loc = self.location("data/exact_2MiB.bin")
        try:
            # nginx's limit_rate lets the first second's worth out at once: 2 MiB at 1 MiB/s ~ 1 s
            self.sim.configure(cdn_rate=1 << 20)
            t = time.monotonic()
            r = self.sim.get(loc)
            dt = time.monotonic() - t
            self.assertEqual(sha256_bytes(r.body), f["sha256"])
            self.assertGreater(dt, 0.8)
            self.sim.configure(cdn_rate=0, cdn_delay_ms=300)
            c = self.sim.conn(loc)
            u = urllib.parse.urlsplit(loc)
            t = time.monotonic()
            c.request("GET", f"{u.path}?{u.query}", headers={"Range": "bytes=0-0"})
            resp = c.getresponse()
            ttfb = time.monotonic() - t
            self.assertEqual((resp.status, resp.read()), (206, data[:1]))
            self.assertGreaterEqual(ttfb, 0.29)
            self.assertLess(ttfb, 3)
        finally:
            self.sim.configure(cdn_rate=0, cdn_delay_ms=0)
        self.assertFalse(os.path.exists(os.path.join(self.sim.state, "cdn", "gate")))


class CdnStartFlags(SimCase):
    SIM_ARGS = ("--cdn-rate", str(512 << 10), "--cdn-delay-ms", "200", "--sign-ttl", "120")

    def test_flags_apply_from_the_start(self):
        cfg = self.sim.configure()
        self.assertEqual(cfg["cdn_rate"], 512 << 10)
        self.assertEqual(cfg["faults"]["cdn"]["delay_ms"], 200)
        self.assertEqual(cfg["faults"]["api"]["delay_ms"], 0)
        r = self.sim.head(f"/{SAMPLE}/resolve/main/data/one_MiB_plus_1.bin")
        loc = r.h("Location")
        exp = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))["Expires"])
        self.assertAlmostEqual(exp, time.time() + 120, delta=10)
        t = time.monotonic()
        body = self.sim.get(loc).body
        dt = time.monotonic() - t
        self.assertEqual(len(body), (1 << 20) + 1)
        # delay + 1 MiB at 512 KiB/s, of which nginx sends the first second's worth at once
        self.assertGreater(dt, 0.2 + 0.8)


if __name__ == "__main__":
    unittest.main()
