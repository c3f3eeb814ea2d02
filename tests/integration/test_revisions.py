"""Revision pinning (tag, branch, refs/pr/N, full and short sha), dataset and space prefixes,
and a 10,000-file dataset listed through pagination."""
import os
import subprocess
import unittest

from harness import Mount, SimTestCase, listing

SAMPLE = "hffs-test/tiny-model"


class Revisions(SimTestCase):
    def check_revision(self, rev, *, expect_ref=None):
        files, sha = self.sim.files(SAMPLE, expect_ref or rev)
        with Mount(self.sim, SAMPLE, "--revision", rev) as m:
            self.assertEqual(os.getxattr(m.dir, "user.hffs.commit").decode(), sha)
            self.assert_tree_matches(m, files)
            self.assert_all_sha256(m, files)
        return sha

    def test_main_tag_pr_and_sha_are_distinct_and_exact(self):
        repo = self.sim.repo(SAMPLE)
        refs = repo["refs"]
        self.assertIn("v1.0", refs)
        self.assertIn("refs/pr/1", refs)
        main = self.check_revision("main")
        tag = self.check_revision("v1.0")
        pr = self.check_revision("refs/pr/1")
        self.assertEqual(len({main, tag, pr}), 3, "fixture must have three different commits")
        self.check_revision(tag)  # full sha
        self.check_revision(tag[:7], expect_ref=tag)  # short sha

    def test_dataset_and_space_prefixes(self):
        for arg, rid, rtype in (("datasets/hffs-test/many-files", "hffs-test/many-files", "dataset"),
                                ("spaces/hffs-test/demo-space", "hffs-test/demo-space", "space")):
            files, _ = self.sim.files(rid, repo_type=rtype)
            with Mount(self.sim, arg) as m:
                got, _ = listing(m.dir)
                self.assertEqual(got, {p: f["size"] for p, f in files.items()})
                # a sample of contents
                for p in sorted(files)[:: max(1, len(files) // 50)]:
                    with open(m.path(p), "rb") as fh, open(files[p]["source"], "rb") as src:
                        self.assertEqual(fh.read(), src.read(), p)
        # --repo-type works too
        files, _ = self.sim.files("hffs-test/demo-space", repo_type="space")
        with Mount(self.sim, "hffs-test/demo-space", "--repo-type", "space") as m:
            self.assert_tree_matches(m, files)

    def test_ten_thousand_files_paginated(self):
        files, _ = self.sim.files("hffs-test/many-files", repo_type="dataset")
        self.assertGreaterEqual(len(files), 10000)
        self.sim.reset()
        with Mount(self.sim, "datasets/hffs-test/many-files") as m:
            st = self.sim.stats()
            self.assertGreaterEqual(st["by_kind"].get("tree", 0), len(files) // 1000, st)
            self.sim.reset()
            out = subprocess.run(["find", m.dir, "-type", "f"], capture_output=True, text=True, check=True).stdout
            self.assertEqual(len(out.splitlines()), len(files))
            self.assertEqual(self.sim.stats()["total_requests"], 0)


if __name__ == "__main__":
    unittest.main()
