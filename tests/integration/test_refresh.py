"""Following a branch (--refresh, `hffs refresh`, --hub): a commit pushed to the simulator at run time
(POST /_sim/commit) becomes the mount's view within the interval, atomically; a file open or mapped
before the switch keeps its commit's bytes; unchanged files keep their inode; a tag or a sha never
moves; a Hub that is down leaves the view as it was."""
import hashlib
import os
import subprocess
import sys
import unittest

from harness import HFFS, Mount, SimTestCase, listing, sha256_file, wait_for, mount_metrics

SAMPLE = "hffs-test/tiny-model"
MIB = 1 << 20

# Maps a file, checks its first page, then (after a line on stdin) hashes the whole mapping: pages
# not touched before are faulted in after the switch, through the inode of the old commit.
MMAP_READER = r"""
import hashlib, mmap, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
f.close()
print(len(m[:4096]), flush=True)
sys.stdin.readline()
print(hashlib.sha256(m).hexdigest(), flush=True)
"""


metrics = mount_metrics


def total(vals, name, *parts):
    return sum(v for k, v in vals.items() if k.startswith(name + "{") and all(p in k for p in parts))


def commit_of(path):
    return os.getxattr(path, "user.hffs.commit").decode()


def read_text(path):
    with open(path) as f:
        return f.read()


def refresh(path):
    return subprocess.run([HFFS, "refresh", path], capture_output=True, text=True, timeout=120)


class Refresh(SimTestCase):
    def push(self, branch, files, repo=SAMPLE):
        return self.sim.control("commit", {"repo": repo, "branch": branch, "files": files})

    def wait_switch(self, mnt_dir, sha, n, timeout=20):
        """The commit attribute names `sha`, then the n-th switch is counted (the kernel was told)."""
        wait_for(lambda: commit_of(mnt_dir) == sha, timeout, f"the mount to show commit {sha}")
        wait_for(lambda: total(metrics(mnt_dir), "hffs_view_switches_total") >= n, timeout, "the switch to be counted")

    def assert_commit_files(self, m, commit):
        """The mount lists exactly the commit's files, each with its sha256."""
        got, _ = listing(m.dir)
        self.assertEqual(got, {p: f["size"] for p, f in commit["files"].items()})
        for p, f in commit["files"].items():
            self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)

    def test_switch_keeps_open_and_mapped_files_and_unchanged_inodes(self):
        c1 = self.push("follow-a", {"shard.safetensors": {"size": 8 * MIB, "seed": 1}, "changed.txt": "one",
                                    "removed.txt": "bye", "keep/u.txt": "same"})
        # Without passthrough every byte the kernel does not have in its page cache is asked of the
        # daemon: the reads after the switch below go through the old commit's inode there.
        with Mount(self.sim, SAMPLE, "--revision", "follow-a", "--refresh", "1", "--no-passthrough") as m:
            self.assertEqual(commit_of(m.dir), c1["sha"])
            self.assert_commit_files(m, c1)
            inodes = {p: os.stat(m.path(p)).st_ino for p in c1["files"]}
            # Nothing of the shard is in the page cache when the readers start: drop what the check read.
            with open(m.path("shard.safetensors"), "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            reader = open(m.path("shard.safetensors"), "rb")
            head = reader.read(MIB)
            small = open(m.path("changed.txt"), "rb")
            mapper = subprocess.Popen([sys.executable, "-c", MMAP_READER, m.path("shard.safetensors")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(mapper.stdout.readline().strip(), "4096")
                c2 = self.push("follow-a", {"shard.safetensors": {"size": 8 * MIB, "seed": 2}, "changed.txt": "two!",
                                            "removed.txt": None, "added/new.txt": "new"})
                self.wait_switch(m.dir, c2["sha"], 1)
                # The open file and the mapping read on after the switch: the old commit's bytes. The
                # kernel's pages of the old inode (read-ahead) are dropped first: they come from hffs.
                os.posix_fadvise(reader.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                os.posix_fadvise(small.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

                h = hashlib.sha256(head)
                for chunk in iter(lambda: reader.read(MIB), b""):
                    h.update(chunk)
                self.assertEqual(h.hexdigest(), c1["files"]["shard.safetensors"]["sha256"])
                self.assertEqual(small.read(), b"one")
                self.assertEqual(os.fstat(small.fileno()).st_size, 3)
                mapper.stdin.write("go\n")
                mapper.stdin.flush()
                self.assertEqual(mapper.stdout.readline().strip(), c1["files"]["shard.safetensors"]["sha256"])
                self.assertEqual(mapper.wait(30), 0)
            finally:
                reader.close()
                small.close()
                if mapper.poll() is None:
                    mapper.kill()
                    mapper.wait()
                mapper.stdin.close()
                mapper.stdout.close()
            # New lookups: the new tree, every byte; unchanged files kept their inode, the rest did not.
            self.assert_commit_files(m, c2)
            self.assertFalse(os.path.exists(m.path("removed.txt")))
            for p, f in c2["files"].items():
                ino = os.stat(m.path(p)).st_ino
                if p in c1["files"] and c1["files"][p]["sha256"] == f["sha256"]:
                    self.assertEqual(ino, inodes[p], f"{p} is unchanged: same inode")
                else:
                    self.assertNotIn(ino, inodes.values(), f"{p} changed or is new: a new inode")
            vals = metrics(m.dir)
            self.assertEqual(total(vals, "hffs_view_switches_total"), 1)
            self.assertIn(f'commit="{c2["sha"]}"', "".join(k for k in vals if k.startswith("hffs_info")))
            st = subprocess.run([HFFS, "status", m.dir], capture_output=True, text=True, timeout=30)
            self.assertIn(c2["sha"][:12], st.stdout, st.stdout)
            self.assertIn(f'{c1["sha"]} -> {c2["sha"]}', m.log())

    def test_tag_and_sha_mounts_never_poll(self):
        files, tag = self.sim.files(SAMPLE, "v1.0")
        c1 = self.push("follow-b", {"b.txt": "b1"})
        with Mount(self.sim, SAMPLE, "--revision", "v1.0", "--refresh", "1") as t, \
                Mount(self.sim, SAMPLE, "--revision", tag, "--refresh", "1") as s, \
                Mount(self.sim, SAMPLE, "--revision", "follow-b", "--refresh", "1") as b:
            self.sim.reset()
            c2 = self.push("follow-b", {"b.txt": "b2"})
            self.wait_switch(b.dir, c2["sha"], 1)
            # Checks of the branch went on meanwhile; the tag and the sha were never asked about.
            wait_for(lambda: total(metrics(b.dir), "hffs_refresh_checks_total", 'result="all"') >= 2, 20, "checks")
            asked = [e["path"] for e in self.sim.requests("repo_info")]
            self.assertTrue(any("follow-b" in p for p in asked), asked)
            self.assertFalse([p for p in asked if "v1.0" in p or tag in p], asked)
            for mnt in (t, s):
                self.assertEqual(commit_of(mnt.dir), tag)
                self.assertEqual(total(metrics(mnt.dir), "hffs_refresh_checks_total"), 0)
                r = refresh(mnt.dir)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.startswith(f"pinned {tag}"), r.stdout)
            self.assert_tree_matches(t, files)
            self.assertEqual(read_text(b.path("b.txt")), "b2")
            self.assertNotEqual(c1["sha"], c2["sha"])

    def test_hub_down_keeps_the_view_and_retries(self):
        c1 = self.push("follow-c", {"c.txt": "c1"})
        with Mount(self.sim, SAMPLE, "--revision", "follow-c", "--refresh", "1", "--deadline", "1") as m:
            self.assert_commit_files(m, c1)  # every byte cached: readable while the Hub is down
            self.sim.configure(error_every=1, error_status=[503], legs=["api"])
            try:
                wait_for(lambda: total(metrics(m.dir), "hffs_refresh_checks_total", 'result="failed"') >= 2, 30,
                         "two failed checks")
                self.assertEqual(commit_of(m.dir), c1["sha"])
                self.assert_commit_files(m, c1)
                r = refresh(m.dir)
                self.assertEqual(r.returncode, 6, r.stdout + r.stderr)
                self.assertIn("failed", r.stderr)
                self.assertIn("keeps its current view", r.stderr)
                self.assertEqual(r.stdout, "")
            finally:
                self.sim.configure(clear_faults=True)
            c2 = self.push("follow-c", {"c.txt": "c2"})
            self.wait_switch(m.dir, c2["sha"], 1)
            self.assert_commit_files(m, c2)
            log = m.log()
            self.assertEqual(log.count("cannot check for a new commit"), 1, log)  # once per failure streak
            self.assertIn("checking for a new commit works again", log)

    def test_hffs_refresh_forces_a_check(self):
        c1 = self.push("follow-d", {"d.txt": "d1"})
        with Mount(self.sim, SAMPLE, "--revision", "follow-d") as m:  # no --refresh: pinned until asked
            self.assertEqual(commit_of(m.dir), c1["sha"])
            self.assertEqual(read_text(m.path("d.txt")), "d1")
            c2 = self.push("follow-d", {"d.txt": "d2", "e.txt": "e"})
            r = refresh(m.dir)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, f'{c1["sha"]} -> {c2["sha"]}'), r.stderr)
            # Done when it answers: the kernel has forgotten the changed entries already.
            self.assertEqual(commit_of(m.dir), c2["sha"])
            self.assertEqual(read_text(m.path("d.txt")), "d2")
            self.assert_commit_files(m, c2)
            r = refresh(m.dir)
            self.assertEqual(r.stdout.strip(), f'unchanged {c2["sha"]}')
            self.assertEqual(total(metrics(m.dir), "hffs_refresh_checks_total", 'result="all"'), 2)

    def test_partial_view_follows_as_itself(self):
        """A subfolder mount with a glob follows the branch cut the same way; a commit without the
        folder fails the check and the mount keeps the view it has."""
        c1 = self.push("follow-p", {"sub/a.txt": "a1", "sub/b.json": "{}", "sub/skip.bin": "x", "top.txt": "t"})

        def view_files(commit):
            return {p[len("sub/"):]: f for p, f in commit["files"].items()
                    if p.startswith("sub/") and not p.endswith(".bin")}

        def assert_view(m, commit):
            want = view_files(commit)
            got, _ = listing(m.dir)
            self.assertEqual(got, {p: f["size"] for p, f in want.items()})
            for p, f in want.items():
                self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)

        with Mount(self.sim, SAMPLE + "/sub", "--revision", "follow-p", "--exclude", "*.bin") as m:
            self.assertEqual(commit_of(m.dir), c1["sha"])
            assert_view(m, c1)
            c2 = self.push("follow-p", {"sub/a.txt": "a2", "sub/c.txt": "c", "sub/d.bin": "y", "top2.txt": "u"})
            r = refresh(m.dir)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, f'{c1["sha"]} -> {c2["sha"]}'), r.stderr)
            assert_view(m, c2)
            self.push("follow-p", {p: None for p in c2["files"] if p.startswith("sub/")})
            r = refresh(m.dir)
            self.assertEqual(r.returncode, 6, r.stdout)
            self.assertIn("subfolder 'sub' not found", r.stderr)
            self.assertEqual(commit_of(m.dir), c2["sha"])
            assert_view(m, c2)

    def test_hub_mode_follows_main_and_pins_at_rev(self):
        _, main = self.sim.files(SAMPLE)
        with Mount(self.sim, "--hub", "--refresh", "1") as m:
            followed = m.path(SAMPLE)
            pinned = m.path(f"{SAMPLE}@{main}")
            self.assertEqual(commit_of(followed), main)
            self.assertEqual(commit_of(pinned), main)
            c2 = self.push("main", {"hub.txt": "hub"})
            self.assertEqual(c2["parent"], main)
            wait_for(lambda: commit_of(followed) == c2["sha"], 20, "the followed repo to move")
            wait_for(lambda: os.path.exists(os.path.join(followed, "hub.txt")), 10, "the new file")
            self.assertEqual(read_text(os.path.join(followed, "hub.txt")), "hub")
            self.assertEqual(commit_of(pinned), main)
            self.assertFalse(os.path.exists(os.path.join(pinned, "hub.txt")))
            r = refresh(followed)
            self.assertEqual(r.stdout.strip(), f'unchanged {c2["sha"]}')


if __name__ == "__main__":
    unittest.main()
