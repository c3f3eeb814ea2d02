"""100 concurrent range requests on the CDN leg (and a burst on the API leg) all succeed with exact
bytes."""
import random
import threading
import unittest
import urllib.parse

from simtest import SAMPLE, SimCase


class Concurrency(SimCase):
    def test_100_concurrent_cdn_ranges(self):
        files, _ = self.sim.files(SAMPLE)
        targets = []
        for p in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "data/exact_2MiB.bin"):
            loc = self.sim.head(f"/{SAMPLE}/resolve/main/{p}").h("Location")
            with open(files[p]["source"], "rb") as fh:
                targets.append((loc, fh.read()))
        rnd = random.Random(100)
        jobs = []
        for i in range(100):
            loc, data = targets[i % len(targets)]
            a = rnd.randrange(0, len(data) - 1)
            b = min(len(data) - 1, a + rnd.randrange(1, 1 << 20))
            jobs.append((loc, data, a, b))
        barrier = threading.Barrier(100)
        errors = []

        def run(job):
            loc, data, a, b = job
            try:
                c = self.sim.conn(loc, timeout=60)
                u = urllib.parse.urlsplit(loc)
                barrier.wait(30)
                c.request("GET", f"{u.path}?{u.query}", headers={"Range": f"bytes={a}-{b}"})
                r = c.getresponse()
                body = r.read()
                c.close()
                if r.status != 206 or r.getheader("Content-Range") != f"bytes {a}-{b}/{len(data)}" \
                        or body != data[a:b + 1]:
                    errors.append((a, b, r.status, r.getheader("Content-Range"), len(body)))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        self.sim.reset()
        threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        st = self.sim.stats(log=False)
        self.assertEqual(st["by_kind"], {"cdn": 100})
        self.assertEqual(st["by_status"], {"206": 100})
        self.assertEqual(st["bytes_by_host"]["cdn"], sum(b - a + 1 for _, _, a, b in jobs))

    def test_50_concurrent_api_requests(self):
        errors = []

        def run(i):
            try:
                r = self.sim.get(f"/api/models/{SAMPLE}/tree/main?recursive=true")
                if r.status != 200 or len(r.json()) < 20:
                    errors.append(r.status)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
