"""POST /_sim/commit (hubsim/push.py): a commit pushed to a branch at run time is what the API,
/resolve and the CDN serve from then on, with git's shas; the commits before it stay as they were."""
import hashlib
import random
import urllib.parse

from simtest import SAMPLE, SimCase, sha256_bytes


def git_blob(b):
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


class Push(SimCase):
    def tree(self, sha):
        r = self.sim.get(f"/api/models/{SAMPLE}/tree/{sha}?recursive=true")
        self.assertEqual(r.status, 200, r)
        return {e["path"]: e for e in r.json()}

    def content(self, rev, path):
        r, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/{rev}/{urllib.parse.quote(path)}")
        self.assertEqual(r.status, 200, r)
        return r.body

    def test_push_changes_the_branch_only(self):
        old_files, old = self.sim.files(SAMPLE)
        before = self.sim.get(f"/api/models/{SAMPLE}/revision/main").json()
        self.assertEqual(before["sha"], old)
        kept = sorted(p for p in old_files if p not in ("README.md", "config.json"))[0]
        shard = random.Random(7).randbytes(300_000)
        out = self.sim.control("commit", {
            "repo": SAMPLE, "branch": "main", "title": "update",
            "files": {"config.json": "{\"model_type\": \"llama\"}", "new/dir/a.txt": "hello",
                      "extra.safetensors": {"size": 300_000, "seed": 7}, "README.md": None}})
        new = out["sha"]
        self.assertRegex(new, r"^[0-9a-f]{40}$")
        self.assertEqual(out["parent"], old)
        info = self.sim.get(f"/api/models/{SAMPLE}/revision/main").json()
        self.assertEqual(info["sha"], new)
        self.assertEqual(info["lastModified"], out["date"])
        self.assertGreater(info["lastModified"], before["lastModified"])

        t = self.tree(new)
        want = (set(old_files) - {"README.md"}) | {"new/dir/a.txt", "extra.safetensors"}
        self.assertEqual({p for p, e in t.items() if e["type"] == "file"}, want)
        self.assertEqual(t["new"]["type"], "directory")
        self.assertEqual(t["new/dir"]["type"], "directory")
        self.assertEqual(t["new/dir/a.txt"]["oid"], git_blob(b"hello"))
        self.assertNotIn("lfs", t["new/dir/a.txt"])
        lfs = t["extra.safetensors"]["lfs"]
        self.assertEqual((lfs["oid"], lfs["size"]), (sha256_bytes(shard), len(shard)))
        self.assertEqual(t[kept]["oid"], self.tree(old)[kept]["oid"])  # unchanged file, same blob

        self.assertEqual(self.content("main", "new/dir/a.txt"), b"hello")
        self.assertEqual(self.content(new, "config.json"), b"{\"model_type\": \"llama\"}")
        self.assertEqual(sha256_bytes(self.content("main", "extra.safetensors")), sha256_bytes(shard))  # via the CDN
        # The parent commit is untouched: its README is still served by sha, the new one has none.
        self.assertEqual(sha256_bytes(self.content(old, "README.md")), old_files["README.md"]["sha256"])
        r, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/{new}/README.md")
        self.assertEqual(r.status, 404, r)

        # A second push builds on the first; deleting a whole directory's only file removes it.
        out2 = self.sim.control("commit", {"repo": SAMPLE, "files": {"new/dir/a.txt": None}})
        self.assertEqual(out2["parent"], new)
        t2 = self.tree(out2["sha"])
        self.assertNotIn("new", t2)
        self.assertNotIn("new/dir/a.txt", t2)

    def test_bad_pushes_are_refused(self):
        for body, status in (({"repo": SAMPLE, "files": {}}, 400),
                             ({"repo": SAMPLE, "files": {"no/such/file": None}}, 400),
                             ({"repo": SAMPLE, "files": {"../x": "a"}}, 400),
                             ({"repo": SAMPLE, "files": {"config.json/x": "a"}}, 400),
                             ({"repo": "nobody/nothing", "files": {"a": "b"}}, 404)):
            r = self.sim.request("POST", "/_sim/commit", body=body)
            self.assertEqual(r.status, status, (body, r))
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}/revision/main").status, 200)


if __name__ == "__main__":
    import unittest
    unittest.main()
