"""Probabilistic faults (<kind>_prob, seeded), the expire fault, and `run restart` (same ports, knobs
kept, URLs signed before still valid)."""
import subprocess
import time
import unittest

from simtest import RUN, SAMPLE, SimCase, sha256_bytes

LFS = "model-00001-of-00002.safetensors"


class ProbFaults(SimCase):
    def setUp(self):
        self.sim.configure(clear_faults=True, seed=0)
        self.sim.reset()

    def tearDown(self):
        self.sim.configure(clear_faults=True)

    def statuses(self, url, n):
        return [self.sim.get(url).status for _ in range(n)]

    def test_seeded_and_reproducible(self):
        url = f"/api/models/{SAMPLE}"
        self.sim.configure(error_prob=0.3, ratelimit_prob=0.2, seed=42, legs=["api"])
        a = self.statuses(url, 60)
        self.sim.configure(error_prob=0.3, ratelimit_prob=0.2, seed=42, legs=["api"])  # counters + rng restart
        self.assertEqual(self.statuses(url, 60), a)
        self.assertTrue(8 <= a.count(500) <= 32, a)
        self.assertTrue(4 <= a.count(429) <= 24, a)
        self.assertEqual(a.count(200) + a.count(500) + a.count(429), 60)
        self.sim.configure(seed=7)
        self.assertNotEqual(self.statuses(url, 60), a)
        st = self.sim.stats(log=False)["faults_injected"]
        self.assertGreater(st["api.error"], 0)
        self.assertEqual(self.statuses(f"/{SAMPLE}/resolve/main/README.md", 1), [307])  # other legs clean

    def test_every_takes_priority_and_validation(self):
        self.sim.configure(error_prob=1.0, ratelimit_every=2, legs=["api"])
        self.assertEqual(self.statuses(f"/api/models/{SAMPLE}", 4), [500, 429, 500, 429])
        for bad in (1.5, -0.1, "x"):
            r = self.sim.request("POST", "/_sim/config", body={"drop_prob": bad})
            self.assertEqual(r.status, 400, bad)

    def test_cdn_prob_corrupt_and_expire(self):
        f = self.sim.files(SAMPLE)[0][LFS]
        loc = self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.sim.configure(corrupt_prob=1.0, legs=["cdn"])
        r = self.sim.get(loc)
        self.assertEqual((r.status, len(r.body)), (200, f["size"]))
        self.assertNotEqual(sha256_bytes(r.body), f["sha256"])
        self.sim.configure(clear_faults=True, expire_prob=1.0, legs=["cdn"])
        r = self.sim.get(loc)
        self.assertEqual(r.status, 403)
        self.assertIn(b"Request has expired", r.body)
        st = self.sim.stats(log=False)["faults_injected"]
        self.assertEqual((st["cdn.corrupt"], st["cdn.expire"]), (1, 1))

    def test_resolve_expire_gives_an_expired_url(self):
        self.sim.configure(expire_every=1, legs=["resolve"])
        self.assertEqual(self.sim.head(f"/{SAMPLE}/resolve/main/README.md").status, 307)  # not LFS: untouched
        r = self.sim.get(f"/{SAMPLE}/resolve/main/{LFS}")
        self.assertEqual(r.status, 302)
        exp = int(r.h("Location").split("Expires=")[1].split("&")[0])
        self.assertLess(exp, time.time())
        cdn = self.sim.get(r.h("Location"))
        self.assertEqual(cdn.status, 403)
        self.assertIn(b"Request has expired", cdn.body)
        self.assertEqual(self.sim.stats(log=False)["faults_injected"]["resolve.expire"], 1)


class Restart(SimCase):
    def test_restart_keeps_ports_knobs_and_signatures(self):
        f = self.sim.files(SAMPLE)[0][LFS]
        loc = self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.sim.configure(error_every=1000, drop_prob=0.0, legs=["cdn"])
        t = time.monotonic()
        r = subprocess.run([RUN, "restart", "--state-dir", self.sim.state, "--down-seconds", "0.5"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(time.monotonic() - t, 0.5)
        self.assertIn("restarted", r.stderr)
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").status, 200)  # same HF_ENDPOINT
        self.assertEqual(self.sim.configure()["faults"]["cdn"]["error_every"], 1000)
        self.assertEqual(sha256_bytes(self.sim.get(loc).body), f["sha256"])  # signed before the restart
        st = subprocess.run([RUN, "status", "--state-dir", self.sim.state], capture_output=True, text=True)
        self.assertEqual(st.returncode, 0)

    def test_restart_without_simulator_is_a_clear_error(self):
        r = subprocess.run([RUN, "restart", "--state-dir", "/nonexistent-hubsim"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no running simulator", r.stderr)


if __name__ == "__main__":
    unittest.main()
