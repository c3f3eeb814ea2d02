"""Partial views (issue 16): `hffs mount org/name/FOLDER` (or --subfolder) shows only that folder as
the mount's root; --include / --exclude (globs as `hffs prefetch` and `hf download`: fnmatch on the
repo path, '*' crossing '/') show only the matching files and the folders leading to them. A
missing folder is exit 4 with nothing mounted. The kept view of a commit stays whole: a later full
mount of it sees every file. A subfolder of a huge (lazily listed) repo lists only that folder."""
import fnmatch
import os
import shutil
import subprocess
import tempfile

from harness import HFFS, Mount, SimTestCase, listing, sha256_file, wait_exit

SAMPLE = "hffs-test/tiny-model"


def selected(files, include=(), exclude=(), sub=""):
    """{path below sub: file} of the manifest a view shows (globs on the repo path)."""
    out = {}
    prefix = sub + "/" if sub else ""
    for p, f in files.items():
        if not p.startswith(prefix):
            continue
        if include and not any(fnmatch.fnmatchcase(p, g) for g in include):
            continue
        if any(fnmatch.fnmatchcase(p, g) for g in exclude):
            continue
        out[p[len(prefix):]] = f
    return out


def dirs_of(paths):
    out = set()
    for p in paths:
        d = os.path.dirname(p)
        while d:
            out.add(d)
            d = os.path.dirname(d)
    return out


class PartialViews(SimTestCase):
    def setUp(self):
        self.files, self.sha = self.sim.files(SAMPLE)
        self.cache = tempfile.mkdtemp(prefix="hffs-views-cache-")
        self.addCleanup(shutil.rmtree, self.cache, True)

    def assert_view(self, m, want):
        """The mount shows exactly `want` (sizes, and the folders leading to them), every byte right."""
        got, dirs = listing(m.dir)
        self.assertEqual(got, {p: f["size"] for p, f in want.items()})
        self.assertEqual(dirs, dirs_of(want))
        for p, f in want.items():
            self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)

    def status(self, m):
        r = subprocess.run([HFFS, "status", m.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def unmount(self, m):
        pid = m.daemon_pid()
        m.umount()
        if pid:
            wait_exit(pid, 30, "hffs daemon")  # the kept view is written as the daemon ends

    def test_subfolder_by_path_and_by_option(self):
        want = selected(self.files, sub="onnx")
        self.assertEqual(set(want), {"model.onnx", "config.json"})
        self.sim.reset()
        with Mount(self.sim, SAMPLE + "/onnx", cache_dir=self.cache) as m:
            trees = [e["path"].split("?")[0] for e in self.sim.requests(kind="tree")]
            self.assertEqual(len(trees), 1, trees)
            self.assertTrue(trees[0].endswith(f"/tree/{self.sha}/onnx"), trees)
            self.assert_view(m, want)
            self.assertEqual(os.getxattr(m.dir, "user.hffs.subfolder").decode(), "onnx")
            self.assertEqual(os.getxattr(m.dir, "user.hffs.commit").decode(), self.sha)
            self.assertIn("view:       subfolder=onnx", self.status(m))
        with Mount(self.sim, SAMPLE, "--subfolder", "/a/b/", cache_dir=self.cache) as m:
            self.assert_view(m, selected(self.files, sub="a/b"))
            self.assertEqual(os.getxattr(m.dir, "user.hffs.subfolder").decode(), "a/b")
        # A revision with slashes goes with -r, the folder after the repo id.
        pr_files, pr_sha = self.sim.files(SAMPLE, "refs/pr/1")
        with Mount(self.sim, SAMPLE + "/a", "-r", "refs/pr/1", "--include", "*.txt", cache_dir=self.cache) as m:
            self.assert_view(m, selected(pr_files, include=["*.txt"], sub="a"))
            self.assertEqual(os.getxattr(m.dir, "user.hffs.commit").decode(), pr_sha)
        # Folder and file names that need escaping in the tree and resolve URLs.
        for sub in ("with space", "weird"):
            with Mount(self.sim, SAMPLE + "/" + sub, cache_dir=self.cache) as m:
                self.assert_view(m, selected(self.files, sub=sub))

    def test_missing_subfolder_is_exit_4_and_nothing_mounted(self):
        for arg, extra, words in [(SAMPLE + "/nosuch", [], "subfolder 'nosuch' not found"),
                                  (SAMPLE + "/a/b/nosuch", [], "subfolder 'a/b/nosuch' not found"),
                                  (SAMPLE, ["--subfolder", "config.json"], "config.json"),
                                  (SAMPLE, ["--include", "*.gguf"], "matches include=*.gguf")]:
            m = Mount(self.sim, arg, *extra, cache_dir=self.cache)
            try:
                r = m.run()
                self.assertEqual(r.returncode, 4, (arg, extra, r.stderr))
                self.assertIn(words, r.stderr)
                self.assertFalse(os.path.ismount(m.dir))
            finally:
                m.__exit__(None, None, None)
        # Usage errors: a subfolder given twice, --subfolder with --hub, a bad path.
        for args in ([SAMPLE + "/onnx", "--subfolder", "a"], ["--hub", "--subfolder", "a"], [SAMPLE + "/a/../b"]):
            d = tempfile.mkdtemp(prefix="hffs-views-mnt-")
            try:
                r = subprocess.run([HFFS, "mount", *args, d], capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, HF_ENDPOINT=self.sim.endpoint))
                self.assertEqual(r.returncode, 2, (args, r.stderr))
                self.assertFalse(os.path.ismount(d))
            finally:
                os.rmdir(d)

    def test_two_includes_show_exactly_those(self):
        inc = ["*.safetensors", "*.json"]
        want = selected(self.files, include=inc)
        # config.json at the root and in onnx/: '*' crosses '/', as in hf download.
        self.assertIn("onnx/config.json", want)
        self.assertIn("model-00001-of-00002.safetensors", want)
        with Mount(self.sim, SAMPLE, "--include", inc[0], "--include", inc[1], cache_dir=self.cache) as m:
            self.assert_view(m, want)
            self.assertFalse(os.path.exists(m.path("a")))  # no match below it
            self.assertEqual(os.getxattr(m.dir, "user.hffs.include").decode(), "*.safetensors\n*.json\n")
            self.assertIn("view:       include=*.safetensors include=*.json", self.status(m))
        # The filter listed the whole repo: that listing is kept as the commit's (whole) view.
        with Mount(self.sim, SAMPLE, "--offline", cache_dir=self.cache) as m:
            got, _ = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in self.files.items()})

    def test_exclude_and_include_with_exclude(self):
        exc = ["*.safetensors", "weird/", "a/b/c/*"]
        with Mount(self.sim, SAMPLE, *[x for g in exc for x in ("--exclude", g)], cache_dir=self.cache) as m:
            want = selected(self.files, exclude=["*.safetensors", "weird/*", "a/b/c/*"])
            self.assertIn("a/b/sibling.txt", want)
            self.assert_view(m, want)
            self.assertFalse(os.path.exists(m.path("a/b/c")))
        with Mount(self.sim, SAMPLE, "--include", "*.json", "--exclude", "onnx/*", cache_dir=self.cache) as m:
            want = selected(self.files, include=["*.json"], exclude=["onnx/*"])
            self.assertNotIn("onnx/config.json", want)
            self.assert_view(m, want)
            self.assertEqual(os.getxattr(m.dir, "user.hffs.exclude").decode(), "onnx/*\n")

    def test_subfolder_with_filter_then_a_whole_mount_sees_everything(self):
        # Globs see the repo path, also under a subfolder.
        with Mount(self.sim, SAMPLE + "/onnx", "--include", "onnx/*.onnx", cache_dir=self.cache) as m:
            self.assert_view(m, {"model.onnx": self.files["onnx/model.onnx"]})
        self.unmount(m)
        with Mount(self.sim, SAMPLE + "/a", "--include", "*.txt", "--exclude", "*/c/*", cache_dir=self.cache) as m:
            self.assert_view(m, {"b/sibling.txt": self.files["a/b/sibling.txt"]})
        self.unmount(m)
        # The same commit mounted whole, same cache: the kept view was never a partial one.
        with Mount(self.sim, SAMPLE, "-r", self.sha, cache_dir=self.cache) as m:
            got, _ = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in self.files.items()})
        self.unmount(m)
        # Now kept whole: partial views are cut from it offline, and a whole one again after.
        with Mount(self.sim, SAMPLE + "/onnx", "--offline", "-r", self.sha, cache_dir=self.cache) as m:
            got, _ = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in selected(self.files, sub="onnx").items()})
        with Mount(self.sim, SAMPLE, "--offline", "-r", self.sha, cache_dir=self.cache) as m:
            got, _ = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in self.files.items()})

    def test_hub_namespace_filters_every_repo(self):
        """--hub: the globs apply to every repo opened; a folder is a path of the namespace already."""
        m = Mount(self.sim, "--hub", "--include", "*.json", cache_dir=self.cache)
        m.repo = "--hub"
        with m:
            root = os.path.join(m.dir, SAMPLE)
            want = selected(self.files, include=["*.json"])
            got, dirs = listing(root)
            self.assertEqual(got, {p: f["size"] for p, f in want.items()})
            self.assertEqual(dirs, dirs_of(want))
            for p, f in want.items():
                self.assertEqual(sha256_file(os.path.join(root, p)), f["sha256"], p)
            self.assertEqual(os.getxattr(root, "user.hffs.include").decode(), "*.json\n")
            # A repo with no match is ENOENT, as a missing one.
            self.assertFalse(os.path.exists(os.path.join(m.dir, "spaces/hffs-test/demo-space")))

    def test_fstab_options_through_the_mount_helper(self):
        tmp = tempfile.mkdtemp(prefix="hffs-views-fstab-")
        self.addCleanup(shutil.rmtree, tmp, True)
        helper = os.path.join(tmp, "mount.fuse.hffs")
        os.symlink(os.path.abspath(HFFS), helper)
        mnt = os.path.join(tmp, "mnt")
        os.makedirs(mnt)
        opts = ",".join(["ro", f"endpoint={self.sim.endpoint}", f"cache_dir={self.cache}", f"log_file={tmp}/log",
                         "subfolder=onnx", "include=*.json", "include=*.onnx", "exclude=*/model.*"])
        r = subprocess.run([helper, SAMPLE, mnt, "-o", opts], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HF_HOME=tmp))
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            got, _ = listing(mnt)
            self.assertEqual(got, {"config.json": self.files["onnx/config.json"]["size"]})
            self.assertEqual(sha256_file(os.path.join(mnt, "config.json")), self.files["onnx/config.json"]["sha256"])
            self.assertEqual(os.getxattr(mnt, "user.hffs.include").decode(), "*.json\n*.onnx\n")
        finally:
            subprocess.run([HFFS, "umount", mnt], capture_output=True, timeout=60)


class PartialViewsOfAHugeRepo(SimTestCase):
    """many-files (10,113 entries) paged by 20: far past what is listed whole at mount."""
    SIM_ARGS = ("--max-page-size", "20")
    REPO = "hffs-test/many-files"

    def tree_paths(self):
        out = []
        for e in self.sim.requests(kind="tree"):
            rest = e["path"].split("?")[0].split("/tree/", 1)[1]
            out.append(rest.split("/", 1)[1] if "/" in rest else "")
        return out

    def test_subfolder_lists_only_that_folder_and_a_filter_lists_it_whole(self):
        files, _ = self.sim.files(self.REPO, repo_type="dataset")
        cache = tempfile.mkdtemp(prefix="hffs-views-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        sub = "data/part-03"
        want = selected(files, sub=sub)
        self.assertEqual(len(want), 1000)
        self.sim.reset()
        with Mount(self.sim, f"datasets/{self.REPO}/{sub}", cache_dir=cache) as m:
            self.assertIn("directories are listed when first visited", m.log())
            got, dirs = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in want.items()})
            self.assertEqual(dirs, dirs_of(want))
            for p in sorted(want)[::53]:
                self.assertEqual(sha256_file(m.path(p)), want[p]["sha256"], p)
            listed = set(self.tree_paths())
            self.assertTrue(all(p == sub or p.startswith(sub + "/") for p in listed), listed)
            pid = m.daemon_pid()
            m.umount()
            if pid:
                wait_exit(pid, 30, "hffs daemon")
        # A filter: the subtree listed whole at mount, only matches shown.
        self.sim.reset()
        inc = ["*/part-07/row-*[05].txt"]
        want = selected(files, include=inc, sub=sub)
        self.assertTrue(0 < len(want) < 100, len(want))
        with Mount(self.sim, f"datasets/{self.REPO}/{sub}", "--include", inc[0], cache_dir=cache) as m:
            self.assertEqual({p for p in set(self.tree_paths())}, {sub})
            got, dirs = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in want.items()})
            self.assertEqual(dirs, {"part-07"})
            for p, f in want.items():
                self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)
        # The whole dataset after both, same cache: its root, from the Hub (no partial image kept).
        with Mount(self.sim, f"datasets/{self.REPO}", cache_dir=cache) as m:
            self.assertEqual(sorted(os.listdir(m.dir)), [".gitattributes", "README.md", "data"])
            self.assertEqual(len(os.listdir(m.path("data"))), 10)
