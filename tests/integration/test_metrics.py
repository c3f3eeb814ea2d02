"""Metrics of a --hub mount: what the repos share (the block cache, the HTTP client) is counted once
for the mount, what each repo serves once per repo, and `hffs status` sums them to the bytes and
requests that really crossed the network (issue 12: they were repeated under every repo's label and
inflated every sum)."""
import os
import re
import subprocess
import tempfile
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file, mount_metrics

SAMPLE = "hffs-test/tiny-model"


def iec(n):
    """cli/format.cc format_bytes."""
    if n < 1024:
        return f"{n} B"
    v, unit = float(n), "B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        v /= 1024
        if v < 1024:
            break
    return f"{v:.1f} {unit}"


metrics = mount_metrics


def series(vals, name, **labels):
    """The samples of `name` whose labels include `labels` ({key: value})."""
    out = {}
    for k, v in vals.items():
        if not k.startswith(name + "{"):
            continue
        if all(f'{lk}="{lv}"' in k for lk, lv in labels.items()):
            out[k] = v
    return out


class HubMountMetrics(SimTestCase):
    def mount_hub(self, *extra):
        m = Mount(self.sim, "--hub", "--no-prefetch", "--no-passthrough", *extra)
        m.repo = "--hub"
        return m

    def two_repos(self):
        """LFS files of SAMPLE@main and of SAMPLE@v1.0 whose content differs from every file of
        main: each is fetched exactly once, by the repo that reads it."""
        main, _ = self.sim.files(SAMPLE)
        v1, _ = self.sim.files(SAMPLE, "v1.0")
        main_keys = {f["sha256"] for f in main.values() if f["lfs"]}
        a = {p: f for p, f in main.items() if f["lfs"]}
        b = {p: f for p, f in v1.items() if f["lfs"] and f["sha256"] not in main_keys}
        self.assertTrue(a and b, "the sample needs LFS files that differ between main and v1.0")
        return {f"{SAMPLE}@main": (SAMPLE, a), f"{SAMPLE}@v1.0": (SAMPLE + "@v1.0", b)}

    def test_shared_counters_once_repo_counters_per_repo(self):
        repos = self.two_repos()
        with self.mount_hub() as m:
            self.sim.reset()
            for label, (path, files) in repos.items():
                for p, f in files.items():
                    self.assertEqual(sha256_file(os.path.join(m.dir, path, p)), f["sha256"], p)
            fetched = sum(f["size"] for _, files in repos.values() for f in files.values())
            cached_before = sum(series(metrics(m.dir), "hffs_read_bytes_total", source="block_cache").values())
            # Read one file of main again, through the daemon: from the block cache.
            again_path, again = next(iter(repos[f"{SAMPLE}@main"][1].items()))
            fd = os.open(os.path.join(m.dir, SAMPLE, again_path), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                with os.fdopen(os.dup(fd), "rb") as f:
                    self.assertEqual(len(f.read()), again["size"])
            finally:
                os.close(fd)
            stats = self.sim.stats()
            st = stats["by_kind"]
            # A whole small file the Hub serves itself is one GET on its resolve URL: a data request.
            served_by_hub = sum(1 for e in stats["log"] if e["kind"] == "resolve" and e["status"] == 206)
            vals = metrics(m.dir)

            for k in vals:
                self.assertTrue(k.split("{", 1)[1].startswith(f'mount="{m.dir}"'), k)  # no per-repo mount paths
            # Shared: one series, no repo label, the real totals.
            for name, labels in (("hffs_read_bytes_total", {"source": "network"}),
                                 ("hffs_read_bytes_total", {"source": "block_cache"}),
                                 ("hffs_http_requests_total", {"kind": "data"}),
                                 ("hffs_cache_fetches_total", {})):
                s = series(vals, name, **labels)
                self.assertEqual(len(s), 1, (name, s))
                self.assertNotIn("repo=", next(iter(s)))
            net = sum(series(vals, "hffs_read_bytes_total", source="network").values())
            cached = sum(series(vals, "hffs_read_bytes_total", source="block_cache").values())
            data = sum(series(vals, "hffs_http_requests_total", kind="data").values())
            resolve = sum(series(vals, "hffs_http_requests_total", kind="resolve").values())
            api = sum(series(vals, "hffs_http_requests_total", kind="api").values())
            self.assertEqual(net, fetched)
            self.assertEqual(cached - cached_before, again["size"])
            self.assertEqual(data, st["cdn"] + served_by_hub, st)
            self.assertEqual(resolve, st["resolve"] - served_by_hub, st)
            self.assertGreaterEqual(api, 2, "each repo's info and tree")
            # Per repo: one labelled series each, summing to the mount's.
            for label in repos:
                self.assertEqual(len(series(vals, "hffs_info", repo=label)), 1, label)
                self.assertGreater(sum(series(vals, "hffs_read_requests_total", repo=label).values()), 0, label)
            self.assertEqual(len(series(vals, "hffs_info")), 2)
            self.assertEqual(len(series(vals, "hffs_read_requests_total")), 2)

            out = subprocess.run([HFFS, "status", m.dir], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(f"from network: {iec(int(fetched))}, from cache: {iec(int(cached))}", out.stdout)
            req = re.search(r"requests: +api ([0-9.]+), resolve ([0-9.]+), data ([0-9.]+)", out.stdout)
            self.assertIsNotNone(req, out.stdout)
            self.assertEqual([float(g) for g in req.groups()], [api, resolve, data], out.stdout)
            for label in repos:
                self.assertIn(f"repo:       {label} @ ", out.stdout)
            # Through a path that is not the daemon's own (a symlink): the same numbers, not zeros.
            link = tempfile.mktemp(prefix="hffs-link-")
            os.symlink(m.dir, link)
            self.addCleanup(os.unlink, link)
            via = subprocess.run([HFFS, "status", link], capture_output=True, text=True, timeout=30).stdout
            self.assertEqual(via.split("\n", 1)[1], out.stdout.split("\n", 1)[1])

    def test_before_any_repo_is_opened(self):
        with self.mount_hub() as m:
            vals = metrics(m.dir)
            self.assertEqual(series(vals, "hffs_info"), {})
            self.assertEqual(sum(series(vals, "hffs_read_bytes_total", source="network").values()), 0)
            out = subprocess.run([HFFS, "status", m.dir], capture_output=True, text=True, timeout=30).stdout
            self.assertIn("repos:      none opened yet", out)
            self.assertIn("from network: 0 B, from cache: 0 B", out)


if __name__ == "__main__":
    unittest.main()
