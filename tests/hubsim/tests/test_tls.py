"""--tls (issue point 4): both legs HTTPS with a test CA made at start; the certificate is valid for
127.0.0.1, 127.0.0.2 and localhost; without the CA verification fails."""
import http.client
import os
import ssl
import subprocess
import unittest

from simtest import SAMPLE, SimCase, sha256_bytes


class Tls(SimCase):
    SIM_ARGS = ("--tls",)

    def test_env_lines(self):
        self.assertTrue(self.sim.endpoint.startswith("https://127.0.0.1:"), self.sim.endpoint)
        self.assertTrue(self.sim.cdn.startswith("https://127.0.0.2:"), self.sim.cdn)
        ca = self.sim.env["HUBSIM_CA_FILE"]
        self.assertTrue(os.path.isfile(ca))
        self.assertEqual(self.sim.stdout.strip().splitlines()[-1], f"HF_ENDPOINT={self.sim.endpoint}")

    def test_certificate_names(self):
        out = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                              os.path.join(self.sim.state, "tls", "server.pem")], capture_output=True, text=True).stdout
        for n in ("IP Address:127.0.0.1", "IP Address:127.0.0.2", "DNS:localhost"):
            self.assertIn(n, out)
        ctx = ssl.create_default_context(cafile=self.sim.env["HUBSIM_CA_FILE"])
        api_port = int(self.sim.endpoint.rsplit(":", 1)[1])
        cdn_port = int(self.sim.cdn.rsplit(":", 1)[1])
        for host, port in (("127.0.0.1", api_port), ("localhost", api_port), ("127.0.0.2", cdn_port)):
            c = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
            c.request("GET", "/_sim/health" if port == api_port else "/_hubsim_health")
            self.assertEqual(c.getresponse().status, 200, host)
            c.close()

    def test_both_legs_with_ca_and_refused_without(self):
        files, sha = self.sim.files(SAMPLE)
        f = files["model-00002-of-00002.safetensors"]
        r, hops = self.sim.follow("GET", f"/{SAMPLE}/resolve/main/model-00002-of-00002.safetensors")
        self.assertEqual(r.status, 200)
        self.assertEqual(sha256_bytes(r.body), f["sha256"])
        self.assertTrue(hops[1][0].startswith("https://127.0.0.2:"))
        r = self.sim.get(hops[1][0], headers={"Range": "bytes=8-15"})
        self.assertEqual(r.status, 206)
        r, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/main/config.json")
        self.assertEqual(sha256_bytes(r.body), files["config.json"]["sha256"])
        for url in (self.sim.endpoint, self.sim.cdn):
            host, port = url.split("//")[1].split(":")
            c = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(), timeout=10)
            with self.assertRaises(ssl.SSLCertVerificationError):
                c.request("GET", "/")
            c.close()

    def test_faults_work_under_tls(self):
        loc = self.sim.head(f"/{SAMPLE}/resolve/main/model-00002-of-00002.safetensors").h("Location")
        try:
            self.sim.configure(error_every=1, error_status=503, legs=["cdn"])
            self.assertEqual(self.sim.get(loc).status, 503)
        finally:
            self.sim.configure(clear_faults=True)
        self.assertEqual(self.sim.get(loc, headers={"Range": "bytes=0-0"}).status, 206)
        st = self.sim.stats()
        self.assertGreaterEqual(st["by_kind"]["cdn"], 2)


if __name__ == "__main__":
    unittest.main()
