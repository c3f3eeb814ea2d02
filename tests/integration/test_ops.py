"""Operating hffs on a shared server: fstab-style mounts through mount(8), the --hub namespace,
xattrs, `hffs status` and metrics that match the simulator's request counts."""
import errno
import hashlib
import mmap
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file, wait_for, mount_metrics

SAMPLE = "hffs-test/tiny-model"



HELPER = "/sbin/mount.fuse.hffs"


class FstabMount(SimTestCase):
    """mount(8) looks for /sbin/mount.fuse.hffs (`cmake --install` creates it); the test links it to
    the binary under test for its duration, unless an installed one is already there."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.made_helper = False
        if not os.path.lexists(HELPER):
            os.symlink(os.path.abspath(HFFS), HELPER)
            cls.made_helper = True
        elif os.path.realpath(HELPER) != os.path.realpath(HFFS):
            raise unittest.SkipTest(f"{HELPER} belongs to another hffs installation")

        if cls.made_helper:
            cls.addClassCleanup(os.unlink, HELPER)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hffs-fstab-")
        self.bindir = os.path.join(self.tmp, "bin")
        os.makedirs(self.bindir)
        os.symlink(os.path.abspath(HFFS), os.path.join(self.bindir, "hffs"))
        self.env = dict(os.environ, PATH=self.bindir + ":" + os.environ["PATH"])
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.mnt)

    def tearDown(self):
        subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def opts(self, extra):
        return ",".join(["ro", "_netdev", f"endpoint={self.sim.endpoint}", f"cache_dir={self.tmp}/cache",
                         f"log_file={self.tmp}/log"] + extra)

    def test_mount_t_fuse_hffs_and_umount(self):
        files, sha = self.sim.files(SAMPLE, "v1.0")
        r = subprocess.run(["mount", "-t", "fuse.hffs", SAMPLE, self.mnt, "-o",
                            self.opts(["allow_other", "revision=v1.0"])], env=self.env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open("/proc/self/mountinfo") as f:
            self.assertIn("fuse.hffs", [l.split(" - ")[1].split()[0] for l in f if f" {self.mnt} " in l])
        self.assertEqual(os.getxattr(self.mnt, "user.hffs.commit").decode(), sha)
        for p, fi in files.items():
            self.assertEqual(sha256_file(os.path.join(self.mnt, p)), fi["sha256"], p)
        r = subprocess.run(["umount", self.mnt], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.ismount(self.mnt))

    def test_fstab_file_line(self):
        fstab = os.path.join(self.tmp, "fstab")
        with open(fstab, "w") as f:
            f.write(f"{SAMPLE}  {self.mnt}  fuse.hffs  {self.opts(['allow_other', 'nofail'])}  0 0\n")
        r = subprocess.run(["mount", "-T", fstab, self.mnt], env=self.env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        files, _ = self.sim.files(SAMPLE)
        self.assertEqual(sha256_file(os.path.join(self.mnt, "config.json")), files["config.json"]["sha256"])

    def test_unknown_option_is_a_clear_error(self):
        r = subprocess.run(["mount", "-t", "fuse.hffs", SAMPLE, self.mnt, "-o", self.opts(["colour=blue"])],
                           env=self.env, capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown mount option 'colour=blue'", r.stderr)
        self.assertFalse(os.path.ismount(self.mnt))


class HubNamespaceMount(SimTestCase):
    def mount_hub(self, *extra, token=None):
        m = Mount(self.sim, "--hub", *extra, token=token)
        m.repo = "--hub"
        return m

    def test_namespace(self):
        main_files, main_sha = self.sim.files(SAMPLE)
        v1_files, v1_sha = self.sim.files(SAMPLE, "v1.0")
        ds_files, _ = self.sim.files("hffs-test/many-files", repo_type="dataset")
        sp_files, _ = self.sim.files("hffs-test/demo-space", repo_type="space")
        with self.mount_hub() as m:
            root = m.dir
            self.sim.reset()
            for p, f in main_files.items():
                self.assertEqual(sha256_file(os.path.join(root, SAMPLE, p)), f["sha256"], p)
            for p, f in v1_files.items():
                self.assertEqual(sha256_file(os.path.join(root, SAMPLE + "@v1.0", p)), f["sha256"], p)
            self.assertEqual(os.getxattr(os.path.join(root, SAMPLE), "user.hffs.commit").decode(), main_sha)
            self.assertEqual(os.getxattr(os.path.join(root, SAMPLE + "@v1.0"), "user.hffs.commit").decode(), v1_sha)
            pr_files, pr_sha = self.sim.files(SAMPLE, "refs/pr/1")
            self.assertEqual(os.getxattr(os.path.join(root, SAMPLE + "@refs%2Fpr%2F1"), "user.hffs.commit").decode(),
                             pr_sha)
            some = sorted(ds_files)[:20]
            for p in some:
                self.assertEqual(sha256_file(os.path.join(root, "datasets/hffs-test/many-files", p)),
                                 ds_files[p]["sha256"])
            for p, f in sp_files.items():
                self.assertEqual(sha256_file(os.path.join(root, "spaces/hffs-test/demo-space", p)), f["sha256"])
            self.assertEqual(sorted(os.listdir(os.path.join(root, "hffs-test"))),
                             sorted(["tiny-model", "tiny-model@v1.0", "tiny-model@refs%2Fpr%2F1"]))
            # One pin per repo@revision: the repo info was asked once each, not per file.
            st = self.sim.stats()
            self.assertLessEqual(st["by_kind"].get("repo_info", 0), 5, st["by_kind"])
            with self.assertRaises(OSError) as cm:
                os.stat(os.path.join(root, "hffs-test/no-such-repo"))
            self.assertEqual(cm.exception.errno, errno.ENOENT)
            with self.assertRaises(OSError) as cm:
                os.listdir(os.path.join(root, "hffs-test/gated-model"))
            self.assertEqual(cm.exception.errno, errno.EACCES)
            self.assertIn("gated", m.log())

    def test_gated_with_token_and_idle_release(self):
        files, _ = self.sim.files("hffs-test/gated-model")
        with self.mount_hub("--idle-release", "1", token=self.sim.env["HUBSIM_TOKEN"]) as m:
            d = os.path.join(m.dir, "hffs-test/gated-model")
            for p, f in files.items():
                self.assertEqual(sha256_file(os.path.join(d, p)), f["sha256"])
            self.assertIn("gated-model", os.listdir(os.path.join(m.dir, "hffs-test")))
            wait_for(lambda: "gated-model" not in os.listdir(os.path.join(m.dir, "hffs-test")), 30,
                     "the idle repo to be released")
            self.assertIn("releasing idle repo", m.log())
            # Reopened on the next access.
            self.assertEqual(sha256_file(os.path.join(d, "config.json")), files["config.json"]["sha256"])


class Observability(SimTestCase):
    def test_xattrs_status_and_metrics_match_simulator(self):
        files, sha = self.sim.files(SAMPLE)
        lfs = {p: f for p, f in files.items() if f["lfs"]}
        metrics_file = tempfile.mktemp(prefix="hffs-metrics-")
        with Mount(self.sim, SAMPLE, "--metrics-file", metrics_file, token=self.sim.env["HUBSIM_TOKEN"]) as m:
            self.sim.reset()
            for p, f in lfs.items():
                self.assertEqual(sha256_file(m.path(p)), f["sha256"])
                self.assertEqual(os.getxattr(m.path(p), "user.hffs.cached_bytes").decode(), str(f["size"]))
                self.assertEqual(os.getxattr(m.path(p), "user.hffs.hash").decode(), "sha256:" + f["sha256"])
            st = self.sim.stats()
            text = os.getxattr(m.dir, "user.hffs.metrics").decode()
            vals = {}
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    k, v = line.rsplit(" ", 1)
                    vals[k] = float(v)
            mp = f'mount="{m.dir}"'
            self.assertEqual(vals[f'hffs_http_requests_total{{{mp},kind="data"}}'], st["by_kind"]["cdn"], st)
            self.assertEqual(vals[f'hffs_http_requests_total{{{mp},kind="resolve"}}'], st["by_kind"]["resolve"], st)
            self.assertEqual(vals[f'hffs_read_bytes_total{{{mp},source="network"}}'],
                             sum(f["size"] for f in lfs.values()))
            self.assertNotIn(self.sim.env["HUBSIM_TOKEN"], text)
            out = subprocess.run([HFFS, "status", m.dir], capture_output=True, text=True).stdout
            self.assertIn(SAMPLE, out)
            self.assertIn(sha, out)
            self.assertIn(self.sim.endpoint, out)
            self.assertIn("errors:     none", out)
            self.assertNotIn(self.sim.env["HUBSIM_TOKEN"], out)
            allm = subprocess.run([HFFS, "status"], capture_output=True, text=True).stdout
            self.assertIn(m.dir, allm)
            wait_for(lambda: os.path.exists(metrics_file) and "hffs_read_bytes_total" in open(metrics_file).read(),
                     15, "the metrics file")
            self.assertNotIn(self.sim.env["HUBSIM_TOKEN"], open(metrics_file).read())
            self.assertNotIn(self.sim.env["HUBSIM_TOKEN"], m.log())
        os.unlink(metrics_file)


metrics_of = mount_metrics


class SplicedReads(SimTestCase):
    def test_cached_bytes_are_spliced_and_exact(self):
        """A re-read of cached data, after the kernel forgot its pages, is answered by splicing the
        cache file's pages: every byte is right and the spliced-bytes counter covers the file."""
        files, _ = self.sim.files(SAMPLE)
        path, f = max(files.items(), key=lambda kv: kv[1]["size"])
        with Mount(self.sim, SAMPLE) as m:
            # Held open from before the file is complete: the inode stays in the kernel's caching
            # mode (no passthrough), so the re-read below goes through the daemon.
            holder = os.open(m.path(path), os.O_RDONLY)
            self.addCleanup(os.close, holder)
            self.assertEqual(sha256_file(m.path(path)), f["sha256"])  # cold: fetched, stored
            key = f'hffs_read_spliced_bytes_total{{mount="{m.dir}"}}'
            before = metrics_of(m.dir)[key]
            os.posix_fadvise(holder, 0, 0, os.POSIX_FADV_DONTNEED)  # the mount's page cache only
            self.sim.reset()
            self.assertEqual(sha256_file(m.path(path), bufsize=(1 << 20) + 4097), f["sha256"])
            self.assertEqual(metrics_of(m.dir)[key] - before, f["size"])
            self.assertEqual(self.sim.stats()["by_kind"].get("cdn", 0), 0, "served without the network")



class Passthrough(SimTestCase):
    def test_complete_files_are_read_by_the_kernel_directly(self):
        """Once a file is complete in the block cache, a new open hands it to the kernel (FUSE
        passthrough): every byte right, by read() and by mmap, no read request reaches the daemon,
        concurrent opens share it, and the cache cannot evict or clear it while it is open."""
        files, _ = self.sim.files(SAMPLE)
        path, f = max(files.items(), key=lambda kv: kv[1]["size"])
        cache = tempfile.mkdtemp(prefix="hffs-pt-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        with Mount(self.sim, SAMPLE, cache_dir=cache) as m:
            if "FUSE passthrough negotiated" not in m.log():
                self.skipTest("this kernel does not offer FUSE passthrough")
            self.assertEqual(sha256_file(m.path(path)), f["sha256"])  # cold, through the daemon
            wait_for(lambda: os.getxattr(m.path(path), "user.hffs.cached_bytes").decode() == str(f["size"]), 20,
                     "the file to be complete")
            vals = metrics_of(m.dir)
            reads = vals[f'hffs_read_requests_total{{mount="{m.dir}"}}']
            opens = vals[f'hffs_passthrough_opens_total{{mount="{m.dir}"}}']
            with open(m.path(path), "rb") as a, open(m.path(path), "rb") as b:
                os.posix_fadvise(a.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                self.assertEqual(hashlib.sha256(a.read()).hexdigest(), f["sha256"])
                with mmap.mmap(b.fileno(), 0, prot=mmap.PROT_READ) as mm:
                    self.assertEqual(hashlib.sha256(mm).hexdigest(), f["sha256"])
                out = subprocess.run([HFFS, "cache", "clear", "--cache-dir", cache], capture_output=True, text=True)
                self.assertEqual(out.returncode, 0, out.stderr)
                a.seek(0)
                self.assertEqual(hashlib.sha256(a.read()).hexdigest(), f["sha256"], "cleared under the kernel")
            vals = metrics_of(m.dir)
            self.assertEqual(vals[f'hffs_read_requests_total{{mount="{m.dir}"}}'], reads, "no read reached the daemon")
            self.assertEqual(vals[f'hffs_passthrough_opens_total{{mount="{m.dir}"}}'], opens + 1, "one pin, shared")
            out = subprocess.run([HFFS, "status", m.dir], capture_output=True, text=True).stdout
            self.assertIn(f"passthrough: {int(opens) + 1} open(s) of complete cached files", out)


if __name__ == "__main__":
    unittest.main()
