"""Huge repos (issue 15): a repo of more listing pages than hffs lists at mount is listed one
directory at a time, when first visited; what was listed is kept as an image for the next mount
of that commit (no request for a public repo's full sha) and for offline mounts.

The simulator pages tree listings by 20 entries here (--max-page-size 20, a Hub that pages smaller
than asked), so the 10,113-entry dataset hffs-test/many-files takes 500+ pages: far past what is
listed whole at mount (16 pages)."""
import errno
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Mount, SimTestCase, sha256_file, wait_exit

REPO = "hffs-test/many-files"
ARG = "datasets/" + REPO
PAGE = 20


class LazyListing(SimTestCase):
    SIM_ARGS = ("--max-page-size", str(PAGE))

    def setUp(self):
        self.files, self.sha = self.sim.files(REPO, repo_type="dataset")
        self.cache = tempfile.mkdtemp(prefix="hffs-lazy-cache-")
        self.addCleanup(shutil.rmtree, self.cache, True)

    def tree_paths(self):
        """The directories the simulator was asked to list since the last reset."""
        out = []
        for e in self.sim.requests(kind="tree"):
            p = e["path"].split("?")[0]
            rest = p.split("/tree/", 1)[1]
            out.append(rest.split("/", 1)[1] if "/" in rest else "")
        return out

    def under(self, prefix):
        return {p: f for p, f in self.files.items() if p.startswith(prefix + "/")}

    def unmount(self, m):
        pid = m.daemon_pid()
        m.umount()
        if pid:
            wait_exit(pid, 30, "hffs daemon")  # the image is written as the daemon ends

    def test_visited_directories_only_and_kept_for_the_next_mount(self):
        self.sim.reset()
        m = Mount(self.sim, ARG, cache_dir=self.cache)
        with m:
            mount_trees = self.tree_paths()
            self.assertIn("directories are listed when first visited", m.log())
            # 16 recursive pages, then the root's own listing (one page: 3 entries)
            self.assertLessEqual(len(mount_trees), 17, mount_trees)
            self.assertEqual(sorted(os.listdir(m.dir)), [".gitattributes", "README.md", "data"])

            # A deep file opened by its path: only the directories on the way are listed.
            deep = "data/part-03/part-07"
            leaf = sorted(self.under(deep))[5]
            self.sim.reset()
            self.assertEqual(sha256_file(m.path(leaf)), self.files[leaf]["sha256"])
            # ("data" may have been listed ahead already, in the background, after the root's
            # readdir above: whether before or after the reset is the scheduler's choice.)
            dirs = set(self.tree_paths()) - {"data"}
            self.assertEqual(dirs, {"data/part-03", deep}, dirs)

            # A walk of one subtree: exactly its files, every byte right.
            want = self.under("data/part-03")
            out = subprocess.run(["find", m.path("data/part-03"), "-type", "f"], capture_output=True, text=True,
                                 check=True).stdout.split()
            got = {os.path.relpath(p, m.dir) for p in out}
            self.assertEqual(got, set(want))
            for p in sorted(want)[::97]:
                self.assertEqual(sha256_file(m.path(p)), want[p]["sha256"], p)
            self.assertEqual(os.stat(m.path(leaf)).st_size, self.files[leaf]["size"])
            listed = set(self.tree_paths())
            self.assertFalse(any(p.startswith("data/part-05") for p in listed), listed)
        self.unmount(m)

        # The same commit again, by its sha: the kept image, no request at all for what was seen.
        self.sim.reset()
        with Mount(self.sim, ARG, "--revision", self.sha, cache_dir=self.cache) as m2:
            out = subprocess.run(["find", m2.path("data/part-03"), "-type", "f"], capture_output=True, text=True,
                                 check=True).stdout.split()
            self.assertEqual(len(out), len(want))
            self.assertEqual(self.sim.stats()["total_requests"], 0, self.sim.stats(log=False))
            # A directory never visited is listed now, from the Hub.
            part5 = self.under("data/part-05")
            out5 = subprocess.run(["find", m2.path("data/part-05"), "-type", "f"], capture_output=True, text=True,
                                  check=True).stdout.split()
            self.assertEqual(len(out5), len(part5))
            self.assertTrue(any(p.startswith("data/part-05") for p in self.tree_paths()))
        self.unmount(m2)

        # Offline: what any mount listed is there; a directory nobody listed is an error, not empty.
        with Mount(self.sim, ARG, env={"HF_HUB_OFFLINE": "1"}, cache_dir=self.cache) as m3:
            self.assertEqual(sha256_file(m3.path(leaf)), self.files[leaf]["sha256"])
            self.assertEqual(len(os.listdir(m3.path("data/part-05/part-01"))), len(self.under("data/part-05/part-01")))
            with self.assertRaises(OSError) as cm:
                os.listdir(m3.path("data/part-08"))
            self.assertEqual(cm.exception.errno, errno.EIO)

    def test_a_mount_that_visited_nothing_is_kept_too(self):
        m = Mount(self.sim, ARG, cache_dir=self.cache)
        with m:
            pass
        self.unmount(m)
        self.sim.reset()
        with Mount(self.sim, ARG, "--revision", self.sha, cache_dir=self.cache) as m2:
            self.assertIn("the kept view of that commit, no Hub request", m2.log())
            self.assertEqual(os.stat(m2.path("README.md")).st_size, self.files["README.md"]["size"])
            self.assertEqual(self.sim.stats()["total_requests"], 0, self.sim.stats(log=False))

    def test_full_walk_matches_the_manifest(self):
        with Mount(self.sim, ARG, cache_dir=self.cache) as m:
            out = subprocess.run(["find", m.dir, "-type", "f"], capture_output=True, text=True, check=True).stdout
            got = {os.path.relpath(p, m.dir) for p in out.split()}
            self.assertEqual(got, set(self.files))
            sizes = {p: os.stat(m.path(p)).st_size for p in sorted(self.files)[::250]}
            self.assertEqual(sizes, {p: self.files[p]["size"] for p in sizes})
            # Walked once: a second walk asks nothing.
            self.sim.reset()
            subprocess.run(["find", m.dir], capture_output=True, check=True)
            self.assertEqual(self.sim.stats()["total_requests"], 0)

    def test_full_listing_lists_whole_and_keeps_inode_numbers(self):
        deep = sorted(self.under("data/part-04/part-02"))[3]
        inos = []
        for _ in range(2):
            self.sim.reset()
            with Mount(self.sim, ARG, "--full-listing") as m:
                self.assertNotIn("listed when first visited", m.log())
                pages = len(self.sim.requests(kind="tree"))
                self.assertGreaterEqual(pages, len(self.files) // PAGE, "the whole tree, every page, at mount")
                self.sim.reset()
                inos.append(os.stat(m.path(deep)).st_ino)
                self.assertEqual(sha256_file(m.path(deep)), self.files[deep]["sha256"])
                self.assertEqual(self.sim.requests(kind="tree"), [])
        self.assertEqual(inos[0], inos[1])


if __name__ == "__main__":
    unittest.main()
