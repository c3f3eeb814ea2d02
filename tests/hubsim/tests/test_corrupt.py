"""The corrupt fault: right status, headers, Content-Length and Content-Range, wrong bytes (one byte XOR
0x5a every 4 KiB of the body), on the resolve leg (API server) and the cdn leg (nginx -> gate -> fault)."""
import http.client
import unittest

from simtest import SAMPLE, SimCase, sha256_bytes

LFS = "model-00001-of-00002.safetensors"
SKIP = {"date", "x-request-id", "connection", "keep-alive", "ratelimit"}  # these differ per request


def blob(f, a=0, n=None):
    with open(f["source"], "rb") as fh:
        fh.seek(a)
        return fh.read(f["size"] - a if n is None else n)


def wrong_offsets(got, want):
    return [i for i in range(len(want)) if got[i] != want[i]]


class CorruptFaults(SimCase):
    def setUp(self):
        self.sim.configure(clear_faults=True)
        self.sim.reset()

    def tearDown(self):
        self.sim.configure(clear_faults=True)

    def loc(self):
        return self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")

    def rc_url(self, path):
        _, sha = self.sim.files(SAMPLE)
        return f"/api/resolve-cache/models/{SAMPLE}/{sha}/{path}"

    def headers(self, r):
        return {k.lower(): v for k, v in r.headers.items() if k.lower() not in SKIP}

    def assertCorrupt(self, clean, bad, want):
        self.assertEqual(clean.body, want)
        self.assertEqual(bad.status, clean.status)
        self.assertEqual(self.headers(bad), self.headers(clean))
        self.assertEqual(len(bad.body), len(want))
        self.assertNotEqual(sha256_bytes(bad.body), sha256_bytes(want))
        wrong = wrong_offsets(bad.body, want)
        first = (len(want) // 2) % 4096
        self.assertEqual(wrong, list(range(first, len(want), 4096)))
        for i in wrong:
            self.assertEqual(bad.body[i], want[i] ^ 0x5A)

    def test_cdn_full_and_ranged(self):
        f = self.sim.files(SAMPLE)[0][LFS]
        loc = self.loc()
        for rng, a, n in ((None, 0, f["size"]), ("bytes=1000-200999", 1000, 200000), ("bytes=5-5", 5, 1)):
            hs = {"Range": rng} if rng else {}
            clean = self.sim.get(loc, headers=hs)
            self.sim.configure(clear_faults=True, corrupt_every=1, legs=["cdn"])
            bad = self.sim.get(loc, headers=hs)
            self.sim.configure(clear_faults=True)
            self.assertEqual(clean.status, 206 if rng else 200)
            if rng:
                self.assertEqual(bad.h("Content-Range"), f"bytes {a}-{a + n - 1}/{f['size']}")
            self.assertCorrupt(clean, bad, blob(f, a, n))
        self.assertGreaterEqual(self.sim.stats(log=False)["faults_injected"].get("cdn.corrupt", 0), 3)

    def test_resolve_leg_and_redirects_untouched(self):
        f = self.sim.files(SAMPLE)[0]["vocab.txt"]
        url = self.rc_url("vocab.txt")
        clean = self.sim.get(url, headers={"Range": "bytes=100-9099"})
        self.sim.configure(corrupt_every=1, legs=["resolve"])
        r = self.sim.head(f"/{SAMPLE}/resolve/main/vocab.txt")  # a 307 carries no content: untouched
        self.assertEqual(r.status, 307)
        self.assertEqual(self.sim.stats(log=False)["faults_injected"].get("resolve.corrupt", 0), 0)
        bad = self.sim.get(url, headers={"Range": "bytes=100-9099"})
        self.assertEqual(bad.status, 206)
        self.assertEqual(bad.h("Content-Range"), f"bytes 100-9099/{f['size']}")
        self.assertCorrupt(clean, bad, blob(f, 100, 9000))
        full = self.sim.get(url)
        self.assertEqual((full.status, int(full.h("Content-Length"))), (200, f["size"]))
        self.assertNotEqual(sha256_bytes(full.body), f["sha256"])
        self.assertEqual(self.sim.stats(log=False)["faults_injected"]["resolve.corrupt"], 2)
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").status, 200)  # api leg unaffected

    def test_every_nth_and_path_regex(self):
        f = self.sim.files(SAMPLE)[0]["vocab.txt"]
        url = self.rc_url("vocab.txt")
        self.sim.configure(corrupt_every=2, legs=["resolve"])
        got = [sha256_bytes(self.sim.get(url).body) == f["sha256"] for _ in range(4)]
        self.assertEqual(got, [True, False, True, False])
        self.sim.configure(clear_faults=True, corrupt_every=1, path_regex=r"/vocab\.txt$", legs=["resolve"])
        for _ in range(3):  # this file always bad, others fine
            self.assertNotEqual(sha256_bytes(self.sim.get(url).body), f["sha256"])
        c = self.sim.files(SAMPLE)[0]["config.json"]
        self.assertEqual(sha256_bytes(self.sim.get(self.rc_url("config.json")).body), c["sha256"])

    def test_corrupt_count_first_fetch_only(self):
        f = self.sim.files(SAMPLE)[0][LFS]
        loc = self.loc()
        self.sim.configure(corrupt_every=1, corrupt_count=2, path_regex=f["sha256"], legs=["cdn"])
        ok = [sha256_bytes(self.sim.get(loc).body) == f["sha256"] for _ in range(4)]
        self.assertEqual(ok, [False, False, True, True])
        self.assertEqual(self.sim.stats(log=False)["faults_injected"]["cdn.corrupt"], 2)
        self.sim.reset()  # a reset (or any config change) restarts the count
        self.assertNotEqual(sha256_bytes(self.sim.get(loc).body), f["sha256"])

    def test_head_not_corrupted(self):
        self.sim.configure(corrupt_every=1, corrupt_count=1, legs=["cdn"])
        r = self.sim.head(self.loc())
        self.assertEqual(r.status, 200)
        self.assertEqual(self.sim.stats(log=False)["faults_injected"].get("cdn.corrupt", 0), 0)
        f = self.sim.files(SAMPLE)[0][LFS]
        c = self.sim.conn(self.loc())
        c.request("GET", self.loc().split(self.sim.cdn, 1)[1])
        resp = c.getresponse()
        body = resp.read()
        c.close()
        self.assertEqual(len(body), f["size"])
        self.assertNotEqual(sha256_bytes(body), f["sha256"])


class CorruptFlags(SimCase):
    SIM_ARGS = ("--corrupt-every", "1", "--corrupt-count", "1", "--fault-legs", "cdn")

    def test_flags(self):
        f = self.sim.files(SAMPLE)[0][LFS]
        loc = self.sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        self.assertNotEqual(sha256_bytes(self.sim.get(loc).body), f["sha256"])
        self.assertEqual(sha256_bytes(self.sim.get(loc).body), f["sha256"])


if __name__ == "__main__":
    unittest.main()
