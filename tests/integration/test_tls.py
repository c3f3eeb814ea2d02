"""The same end-to-end checks over HTTPS (both legs TLS, test CA), and verification that cannot be
skipped: without the CA the mount fails with a clear TLS error."""
import concurrent.futures
import hashlib
import os
import random
import unittest

from harness import Mount, SimTestCase

SAMPLE = "hffs-test/tiny-model"


class OverHttps(SimTestCase):
    SIM_ARGS = ("--tls",)

    def test_endpoint_is_https(self):
        self.assertTrue(self.sim.endpoint.startswith("https://"), self.sim.endpoint)
        self.assertTrue(os.path.exists(self.sim.env["HUBSIM_CA_FILE"]))

    def test_every_file_sha256_and_random_reads(self):
        files, _ = self.sim.files(SAMPLE)
        with Mount(self.sim, SAMPLE) as m:
            self.assert_tree_matches(m, files)
            self.assert_all_sha256(m, files)
            rnd = random.Random(7)
            big = [f for f in files.values() if f["size"] > 1 << 20]
            for _ in range(50):
                f = rnd.choice(big)
                off = rnd.randrange(0, f["size"])
                with open(m.path(f["path"]), "rb") as fh, open(f["source"], "rb") as src:
                    fh.seek(off)
                    src.seek(off)
                    self.assertEqual(fh.read(70000), src.read(70000))
        self.assertEqual(self.sim.stats()["cdn_auth_requests"], 0)

    def test_ca_file_option(self):
        files, _ = self.sim.files(SAMPLE)
        ca = self.sim.env["HUBSIM_CA_FILE"]
        with Mount(self.sim, SAMPLE, "--ca-file", ca, env={"SSL_CERT_FILE": "/nonexistent"}) as m:
            self.assert_all_sha256(m, {"config.json": files["config.json"]})

    def test_untrusted_certificate_is_refused(self):
        m = Mount(self.sim, SAMPLE, env={"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
        try:
            r = m.run()
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertIn("Hub unreachable", r.stderr)
            self.assertRegex(r.stderr.lower(), "certificate|ssl|tls")
        finally:
            m.__exit__(None, None, None)


class OverHttp2(SimTestCase):
    """The real Hub's CDN speaks HTTP/2: hffs offers it over TLS (ALPN) and gets every byte right,
    with readers in parallel (streams of several transfers at once)."""
    SIM_ARGS = ("--tls", "--cdn-http2")

    def test_cdn_speaks_http2_and_every_byte_is_right(self):
        files, _ = self.sim.files(SAMPLE)
        self.sim.reset()
        with Mount(self.sim, SAMPLE) as m:
            def digest(f):
                with open(m.path(f["path"]), "rb") as fh:
                    return f["path"], hashlib.sha256(fh.read()).hexdigest()
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                got = dict(ex.map(digest, files.values()))
            self.assertEqual(got, {p: f["sha256"] for p, f in files.items()})
        cdn = [e for e in self.sim.stats()["log"] if e["host"] == "cdn"]
        self.assertTrue(cdn, "no request reached the CDN")
        self.assertEqual({e["protocol"] for e in cdn}, {"HTTP/2.0"}, cdn[:3])


if __name__ == "__main__":
    unittest.main()
