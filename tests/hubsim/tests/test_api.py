"""API and resolve server (issue point 1): repo info, tree + pagination, paths-info, refs, resolve for
all repo types and revision kinds, error semantics, standard headers, renames, conditional requests."""
import hashlib
import json
import re
import unittest
import urllib.parse

from simtest import SAMPLE, SimCase, sha256_bytes

Q = urllib.parse.quote


class RepoInfo(SimCase):
    def test_default_branch_fields(self):
        files, sha = self.sim.files(SAMPLE)
        r = self.sim.get(f"/api/models/{SAMPLE}")
        self.assertEqual(r.status, 200, r)
        self.assertStdHeaders(r)
        info = r.json()
        self.assertEqual(info["id"], SAMPLE)
        self.assertEqual(info["sha"], sha)
        self.assertIs(info["private"], False)
        self.assertIs(info["gated"], False)
        self.assertRegex(info["lastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(sorted(s["rfilename"] for s in info["siblings"]), sorted(files))

    def test_every_revision_kind(self):
        repo = self.sim.repo(SAMPLE)
        refs = repo["refs"]
        main, tag, pr = refs["main"], refs["v1.0"], refs["refs/pr/1"]
        self.assertEqual(len({main, tag, pr}), 3)
        for rev, want in (("main", main), ("v1.0", tag), ("refs%2Fpr%2F1", pr), (tag, tag), (tag[:7], tag),
                          (pr[:12], pr), ("HEAD", main), ("refs%2Fheads%2Fmain", main)):
            r = self.sim.get(f"/api/models/{SAMPLE}/revision/{rev}")
            self.assertEqual(r.status, 200, (rev, r))
            info = r.json()
            self.assertEqual(info["sha"], want, rev)
            files, _ = self.sim.files(SAMPLE, want)
            self.assertEqual(sorted(s["rfilename"] for s in info["siblings"]), sorted(files), rev)
            self.assertEqual(info["lastModified"], repo["commits"][want]["date"])

    def test_blobs_and_expand(self):
        files, _ = self.sim.files(SAMPLE)
        info = self.sim.get(f"/api/models/{SAMPLE}/revision/main?blobs=true").json()
        for s in info["siblings"]:
            f = files[s["rfilename"]]
            self.assertEqual(s["size"], f["size"])
            self.assertEqual(s["blobId"], f["oid"])
            if f["lfs"]:
                self.assertEqual(s["lfs"]["sha256"], f["sha256"])
                self.assertEqual(s["lfs"]["size"], f["size"])
            else:
                self.assertNotIn("lfs", s)
        info = self.sim.get(f"/api/models/{SAMPLE}?expand=sha&expand=private").json()
        self.assertEqual(set(info), {"_id", "id", "sha", "private"})

    def test_missing_revision(self):
        r = self.sim.get(f"/api/models/{SAMPLE}/revision/no-such-branch")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.h("X-Error-Code"), "RevisionNotFound")
        self.assertEqual(r.h("X-Error-Message"), "Invalid rev id: no-such-branch")
        self.assertEqual(r.json()["error"], "Invalid rev id: no-such-branch")
        self.assertStdHeaders(r)

    def test_dataset_and_space(self):
        for rtype, rid in (("datasets", "hffs-test/many-files"), ("spaces", "hffs-test/demo-space")):
            _, sha = self.sim.files(rid, repo_type=rtype[:-1])
            r = self.sim.get(f"/api/{rtype}/{rid}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["sha"], sha)
            self.assertEqual(self.sim.get(f"/api/models/{rid}").status, 401)  # wrong type: not found

    def test_encoded_slash_in_repo_id_is_400(self):
        self.assertEqual(self.sim.get("/api/models/hffs-test%2Ftiny-model").status, 400)

    def test_refs(self):
        repo = self.sim.repo(SAMPLE)
        r = self.sim.get(f"/api/models/{SAMPLE}/refs").json()
        self.assertEqual({b["name"]: b["targetCommit"] for b in r["branches"]}, {"main": repo["refs"]["main"]})
        self.assertEqual(r["branches"][0]["ref"], "refs/heads/main")
        self.assertEqual({t["name"]: t["targetCommit"] for t in r["tags"]}, {"v1.0": repo["refs"]["v1.0"]})
        self.assertEqual(r["tags"][0]["ref"], "refs/tags/v1.0")
        self.assertNotIn("pullRequests", r)
        r = self.sim.get(f"/api/models/{SAMPLE}/refs?include_prs=1").json()
        self.assertEqual([(p["ref"], p["targetCommit"]) for p in r["pullRequests"]],
                         [("refs/pr/1", repo["refs"]["refs/pr/1"])])

    def test_commits(self):
        repo = self.sim.repo(SAMPLE)
        r = self.sim.get(f"/api/models/{SAMPLE}/commits/main")
        ids = [c["id"] for c in r.json()]
        self.assertEqual(ids, [repo["refs"]["main"], repo["refs"]["v1.0"]])


class Tree(SimCase):
    def walk(self, url, token=None):
        """All entries across pages, following Link rel=next; returns (entries, number of pages)."""
        out, pages = [], 0
        while url:
            r = self.sim.get(url, token=token)
            self.assertEqual(r.status, 200, r)
            self.assertStdHeaders(r)
            out += r.json()
            pages += 1
            link = r.h("Link")
            url = None
            if link:
                m = re.match(r'<([^>]+)>;\s*rel="next"', link)
                self.assertTrue(m, link)
                url = m.group(1)
                self.assertTrue(url.startswith(self.sim.endpoint + "/api/"), url)  # absolute
                self.assertIn("cursor=", url)
        return out, pages

    def expected(self, files, d=""):
        pre = d + "/" if d else ""
        fs = {p for p in files if p.startswith(pre)}
        dirs = set()
        for p in fs:
            parts = p[len(pre):].split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add(pre + "/".join(parts[:i]))
        return fs, dirs

    def test_recursive_listing_equals_manifest_every_revision(self):
        for rev in ("main", "v1.0", "refs%2Fpr%2F1"):
            files, sha = self.sim.files(SAMPLE, urllib.parse.unquote(rev))
            ents, _ = self.walk(f"/api/models/{SAMPLE}/tree/{rev}?recursive=true&expand=false")
            got_files = {e["path"]: e for e in ents if e["type"] == "file"}
            got_dirs = {e["path"] for e in ents if e["type"] == "directory"}
            want_files, want_dirs = self.expected(files)
            self.assertEqual(set(got_files), want_files, rev)
            self.assertEqual(got_dirs, want_dirs, rev)
            self.assertEqual(len(ents), len(got_files) + len(got_dirs), "no duplicates")
            for p, e in got_files.items():
                f = files[p]
                self.assertEqual(e["size"], f["size"], p)
                self.assertEqual(e["oid"], f["oid"], p)
                self.assertFalse(e["path"].startswith("/"))
                if f["lfs"]:
                    self.assertEqual(e["lfs"], {"oid": f["sha256"], "size": f["size"],
                                                "pointerSize": f["pointer_size"]}, p)
                    ptr = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{f['sha256']}\n"
                           f"size {f['size']}\n").encode()
                    self.assertEqual(e["oid"], hashlib.sha1(b"blob %d\0" % len(ptr) + ptr).hexdigest())
                else:
                    self.assertNotIn("lfs", e)
                    with open(f["source"], "rb") as fh:
                        data = fh.read()
                    self.assertEqual(e["oid"], hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())

    def test_non_recursive_and_subfolder_forms(self):
        files, _ = self.sim.files(SAMPLE)
        root = self.sim.get(f"/api/models/{SAMPLE}/tree/main").json()
        self.assertEqual({e["path"] for e in root if e["type"] == "file"}, {p for p in files if "/" not in p})
        self.assertEqual({e["path"] for e in root if e["type"] == "directory"},
                         {p.split("/")[0] for p in files if "/" in p})
        a = self.sim.get(f"/api/models/{SAMPLE}/tree/main/a/b").json()
        b = self.sim.get(f"/api/models/{SAMPLE}/tree/main/a%2Fb").json()
        self.assertEqual(a, b)
        self.assertEqual([(e["type"], e["path"]) for e in a], [("directory", "a/b/c"), ("file", "a/b/sibling.txt")])
        w = self.sim.get(f"/api/models/{SAMPLE}/tree/main/with%20space").json()
        self.assertEqual([e["path"] for e in w], ["with space/file name.txt"])
        rec = self.sim.get(f"/api/models/{SAMPLE}/tree/main/a?recursive=True").json()  # booleans in any case
        self.assertEqual([e["path"] for e in rec], ["a/b", "a/b/c", "a/b/c/deep.txt", "a/b/sibling.txt"])

    def test_pagination_limit_and_default_page_size(self):
        files, _ = self.sim.files(SAMPLE)
        ents, pages = self.walk(f"/api/models/{SAMPLE}/tree/main?recursive=true&limit=4")
        fs, ds = self.expected(files)
        self.assertEqual(len(ents), len(fs) + len(ds))
        self.assertEqual(pages, -(-len(ents) // 4))
        # 10,000 files dataset at the default page size of 1000
        dfiles, _ = self.sim.files("hffs-test/many-files", repo_type="dataset")
        self.assertGreaterEqual(len(dfiles), 10000)
        ents, pages = self.walk("/api/datasets/hffs-test/many-files/tree/main?recursive=true&expand=false")
        fs, ds = self.expected(dfiles)
        self.assertEqual({e["path"] for e in ents if e["type"] == "file"}, fs)
        self.assertEqual(len(ents), len(fs) + len(ds))
        self.assertEqual(pages, -(-len(ents) // 1000))
        r = self.sim.get("/api/datasets/hffs-test/many-files/tree/main?recursive=true&limit=3")
        self.assertEqual(len(r.json()), 3)

    def test_expand_adds_last_commit(self):
        repo = self.sim.repo(SAMPLE)
        ents = self.sim.get(f"/api/models/{SAMPLE}/tree/main?expand=true").json()
        by = {e["path"]: e for e in ents}
        self.assertEqual(by["config.json"]["lastCommit"]["id"], repo["refs"]["main"])  # changed in c2
        self.assertEqual(by["tokenizer.json"]["lastCommit"]["id"], repo["refs"]["v1.0"])  # unchanged since c1
        self.assertIn("securityFileStatus", by["config.json"])

    def test_errors(self):
        r = self.sim.get(f"/api/models/{SAMPLE}/tree/main/nope")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.h("X-Error-Code"), "EntryNotFound")
        self.assertEqual(r.h("X-Error-Message"), 'nope does not exist on "main"')
        r = self.sim.get(f"/api/models/{SAMPLE}/tree/nope")
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"))
        r = self.sim.get(f"/api/models/{SAMPLE}/tree/main?cursor=garbage")
        self.assertEqual(r.status, 400)


class PathsInfo(SimCase):
    def test_form_and_json_bodies(self):
        files, _ = self.sim.files(SAMPLE)
        paths = ["config.json", "model-00001-of-00002.safetensors", "missing.txt", "a/b", "weird/名前 #1?%+.txt"]
        form = urllib.parse.urlencode([("paths", p) for p in paths] + [("expand", "false")]).encode()
        r1 = self.sim.request("POST", f"/api/models/{SAMPLE}/paths-info/main", body=form,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        r2 = self.sim.request("POST", f"/api/models/{SAMPLE}/paths-info/main", body={"paths": paths, "expand": False})
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r1.json(), r2.json())
        got = {e["path"]: e for e in r1.json()}
        self.assertEqual(set(got), {"config.json", "model-00001-of-00002.safetensors", "a/b", "weird/名前 #1?%+.txt"})
        self.assertEqual(got["a/b"]["type"], "directory")
        f = files["model-00001-of-00002.safetensors"]
        self.assertEqual(got["model-00001-of-00002.safetensors"]["lfs"]["oid"], f["sha256"])
        r3 = self.sim.request("POST", f"/api/models/{SAMPLE}/paths-info/refs%2Fpr%2F1",
                              body={"paths": ["pr_only.txt", "old_notes.txt"], "expand": True})
        self.assertEqual([e["path"] for e in r3.json()], ["pr_only.txt"])
        self.assertIn("lastCommit", r3.json()[0])


class Resolve(SimCase):
    def test_regular_file_307_then_resolve_cache(self):
        files, sha = self.sim.files(SAMPLE)
        f = files["config.json"]
        for method in ("HEAD", "GET"):
            r = self.sim.request(method, f"/{SAMPLE}/resolve/main/config.json")
            self.assertEqual(r.status, 307, r)
            self.assertStdHeaders(r)
            loc = r.h("Location")
            self.assertTrue(loc.startswith(f"/api/resolve-cache/models/{SAMPLE}/{sha}/config.json?"), loc)
            self.assertIsNone(r.h("ETag"))
            for target in (loc, loc.split("?")[0]):  # must work without its query string too
                t = self.sim.request(method, target)
                self.assertEqual(t.status, 200, t)
                self.assertStdHeaders(t)
                self.assertEqual(t.h("ETag"), f'"{f["git_sha1"]}"')
                self.assertEqual(t.h("X-Repo-Commit"), sha)
                self.assertEqual(int(t.h("Content-Length")), f["size"])
                if method == "GET":
                    self.assertEqual(sha256_bytes(t.body), f["sha256"])
        r = self.sim.get(f"/api/resolve-cache/models/{SAMPLE}/{sha}/vocab.txt", headers={"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.h("Content-Range"), f"bytes 10-19/{files['vocab.txt']['size']}")
        with open(files["vocab.txt"]["source"], "rb") as fh:
            self.assertEqual(r.body, fh.read()[10:20])
        r = self.sim.get(f"/api/resolve-cache/models/{SAMPLE}/{sha}/vocab.txt", headers={"Range": "bytes=99999999-"})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.h("Content-Range"), f"bytes */{files['vocab.txt']['size']}")

    def test_lfs_file_302_to_cdn(self):
        files, sha = self.sim.files(SAMPLE)
        f = files["model-00001-of-00002.safetensors"]
        for method in ("HEAD", "GET"):
            r = self.sim.request(method, f"/{SAMPLE}/resolve/main/model-00001-of-00002.safetensors")
            self.assertEqual(r.status, 302, r)
            self.assertStdHeaders(r)
            loc = r.h("Location")
            self.assertTrue(loc.startswith(self.sim.cdn + "/xet-bridge-us/"), loc)
            self.assertNotEqual(urllib.parse.urlsplit(loc).netloc, urllib.parse.urlsplit(self.sim.endpoint).netloc)
            self.assertIn("Expires=", loc)
            self.assertIn("Signature=", loc)
            self.assertEqual(r.h("X-Linked-Etag"), f'"{f["sha256"]}"')
            self.assertEqual(r.h("X-Linked-Size"), str(f["size"]))
            self.assertEqual(r.h("X-Repo-Commit"), sha)
            self.assertIsNone(r.h("ETag"))
            self.assertLess(int(r.h("Content-Length")), 1000)  # the redirect body's, not the file's
            if method == "GET":
                self.assertEqual(int(r.h("Content-Length")), len(r.body))
        d = self.sim.get(loc)
        self.assertEqual(d.status, 200)
        self.assertEqual(sha256_bytes(d.body), f["sha256"])

    def test_every_file_every_revision_follows_to_exact_bytes(self):
        repo = self.sim.repo(SAMPLE)
        for rev in ("main", "v1.0", "refs/pr/1"):
            files, sha = self.sim.files(SAMPLE, rev)
            for p, f in files.items():
                r, hops = self.sim.follow("GET", f"/{SAMPLE}/resolve/{Q(rev, safe='')}/{Q(p)}")
                self.assertEqual(r.status, 200, (rev, p, r))
                self.assertEqual(sha256_bytes(r.body), f["sha256"], (rev, p))
                self.assertEqual(hops[0][1].h("X-Repo-Commit"), sha)
        self.assertNotEqual(self.sim.files(SAMPLE, "main")[0]["config.json"]["sha256"],
                            self.sim.files(SAMPLE, "refs/pr/1")[0]["config.json"]["sha256"])
        self.assertIn(repo["refs"]["v1.0"], repo["commits"])

    def test_revision_kinds_on_resolve(self):
        refs = self.sim.repo(SAMPLE)["refs"]
        for rev, want in (("main", refs["main"]), ("v1.0", refs["v1.0"]), ("refs%2Fpr%2F1", refs["refs/pr/1"]),
                          (refs["v1.0"], refs["v1.0"]), (refs["v1.0"][:8], refs["v1.0"]), ("HEAD", refs["main"])):
            r = self.sim.head(f"/{SAMPLE}/resolve/{rev}/config.json")
            self.assertEqual(r.status, 307, rev)
            self.assertIn(f"/{want}/config.json", r.h("Location"))
        # unencoded slashes are read as part of the path, as on the Hub
        r = self.sim.head(f"/{SAMPLE}/resolve/refs/pr/1/config.json")
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"))

    def test_weird_names(self):
        files, _ = self.sim.files(SAMPLE)
        for p in ("weird/名前 #1?%+.txt", "weird/100% done+more.txt", "with space/file name.txt", "empty.txt"):
            r, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/main/{Q(p)}")
            self.assertEqual(r.status, 200, p)
            self.assertEqual(sha256_bytes(r.body), files[p]["sha256"], p)
        self.assertEqual(files["empty.txt"]["size"], 0)

    def test_datasets_and_spaces(self):
        dfiles, dsha = self.sim.files("hffs-test/many-files", repo_type="dataset")
        p = sorted(dfiles)[5000]
        r, hops = self.sim.follow("GET", f"/datasets/hffs-test/many-files/resolve/main/{Q(p)}")
        self.assertEqual(sha256_bytes(r.body), dfiles[p]["sha256"])
        self.assertTrue(hops[0][1].h("Location").startswith("/api/resolve-cache/datasets/hffs-test/many-files/"))
        sfiles, _ = self.sim.files("hffs-test/demo-space", repo_type="space")
        for p in ("app.py", "requirements.txt"):
            r, hops = self.sim.follow("HEAD", f"/spaces/hffs-test/demo-space/resolve/main/{p}")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.h("ETag"), f'"{sfiles[p]["git_sha1"]}"')
        self.assertEqual(self.sim.head(f"/hffs-test/demo-space/resolve/main/app.py").status, 401)

    def test_if_none_match(self):
        files, _ = self.sim.files(SAMPLE)
        cfg, st = files["config.json"], files["model-00001-of-00002.safetensors"]
        for etag in (f'"{cfg["git_sha1"]}"', f'W/"{cfg["git_sha1"]}"'):
            r = self.sim.head(f"/{SAMPLE}/resolve/main/config.json", headers={"If-None-Match": etag})
            self.assertEqual(r.status, 304, etag)
        r = self.sim.head(f"/{SAMPLE}/resolve/main/config.json", headers={"If-None-Match": '"0000"'})
        self.assertEqual(r.status, 307)
        r = self.sim.get(f"/{SAMPLE}/resolve/main/model-00001-of-00002.safetensors",
                         headers={"If-None-Match": f'"{st["sha256"]}"'})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        r, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/main/config.json", headers={"If-None-Match": "\"x\""})
        self.assertEqual(r.status, 200)

    def test_raw_returns_pointer_for_lfs(self):
        files, _ = self.sim.files(SAMPLE)
        f = files["model-00001-of-00002.safetensors"]
        r = self.sim.get(f"/{SAMPLE}/raw/main/model-00001-of-00002.safetensors")
        self.assertEqual(r.body.decode(), f"version https://git-lfs.github.com/spec/v1\noid sha256:{f['sha256']}\n"
                                          f"size {f['size']}\n")
        self.assertEqual(len(r.body), f["pointer_size"])

    def test_keep_alive(self):
        c = self.sim.conn(self.sim.endpoint)
        for _ in range(5):
            r = self.sim.request("GET", f"/api/models/{SAMPLE}", conn=c)
            self.assertEqual(r.status, 200)
            r = self.sim.request("HEAD", f"/{SAMPLE}/resolve/main/config.json", conn=c)
            self.assertEqual(r.status, 307)
        sock = c.sock
        self.assertIsNotNone(sock)  # still the same open connection
        c.close()


class Errors(SimCase):
    def check(self, r, status, code, message=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.h("X-Error-Code"), code, r)
        if message is not None:
            self.assertEqual(r.h("X-Error-Message"), message)
        body = r.json() if r.body else None
        if body is not None:
            self.assertEqual(body["error"], r.h("X-Error-Message"))
        self.assertStdHeaders(r)

    def test_gated(self):
        tok, other = self.sim.env["HUBSIM_TOKEN"], self.sim.env["HUBSIM_TOKEN_NOT_APPROVED"]
        url = "/hffs-test/gated-model/resolve/main/model.safetensors"
        for method in ("HEAD", "GET"):
            r = self.sim.request(method, url)
            self.check(r, 401, "GatedRepo", "Access to model hffs-test/gated-model is restricted. You must have access "
                                            "to it and be authenticated to access it. Please log in.")
            r = self.sim.request(method, url, token=other)
            self.check(r, 403, "GatedRepo")
            self.assertIn("not in the authorized list", r.h("X-Error-Message"))
            self.assertEqual(self.sim.request(method, url, token=tok).status, 302)
        # metadata stays readable without access
        info = self.sim.get("/api/models/hffs-test/gated-model").json()
        self.assertEqual(info["gated"], "manual")
        self.assertEqual(self.sim.get("/api/models/hffs-test/gated-model/tree/main").status, 200)
        self.check(self.sim.get("/api/models/hffs-test/gated-model/auth-check"), 401, "GatedRepo")
        self.check(self.sim.get("/api/models/hffs-test/gated-model/auth-check", token=other), 403, "GatedRepo")
        self.assertEqual(self.sim.get("/api/models/hffs-test/gated-model/auth-check", token=tok).status, 200)

    def test_private_and_missing(self):
        tok, other = self.sim.env["HUBSIM_TOKEN"], self.sim.env["HUBSIM_TOKEN_NOT_APPROVED"]
        for rid in ("hffs-test/private-model", "hffs-test/does-not-exist"):
            for url in (f"/api/models/{rid}", f"/{rid}/resolve/main/config.json", f"/api/models/{rid}/tree/main"):
                self.check(self.sim.get(url), 401, "RepoNotFound")
                self.check(self.sim.get(url, token=other), 404, "RepoNotFound", "Repository not found")
        files, sha = self.sim.files("hffs-test/private-model")
        info = self.sim.get("/api/models/hffs-test/private-model", token=tok).json()
        self.assertEqual((info["sha"], info["private"]), (sha, True))
        r, _ = self.sim.follow("GET", "/hffs-test/private-model/resolve/main/config.json", token=tok)
        self.assertEqual(sha256_bytes(r.body), files["config.json"]["sha256"])

    def test_invalid_token(self):
        for url in (f"/api/models/{SAMPLE}", f"/{SAMPLE}/resolve/main/config.json", "/api/whoami-v2"):
            r = self.sim.get(url, token="hf_not_a_real_token")
            self.assertEqual(r.status, 401)
            self.assertIsNone(r.h("X-Error-Code"))
            self.assertEqual(r.h("X-Error-Message"), "Invalid credentials in Authorization header")
            self.assertStdHeaders(r)
        self.assertEqual(self.sim.get("/api/whoami-v2", token=self.sim.token()).json()["name"], "hffs-user")

    def test_entry_not_found_carries_commit(self):
        _, sha = self.sim.files(SAMPLE)
        for method in ("HEAD", "GET"):
            r = self.sim.request(method, f"/{SAMPLE}/resolve/main/missing.json")
            self.check(r, 404, "EntryNotFound", "Entry not found")
            self.assertEqual(r.h("X-Repo-Commit"), sha)
        r = self.sim.head(f"/{SAMPLE}/resolve/main/a/b")  # a folder is not a file
        self.assertEqual(r.h("X-Error-Code"), "EntryNotFound")
        self.check(self.sim.head(f"/{SAMPLE}/resolve/nope/config.json"), 404, "RevisionNotFound", "Invalid rev id: nope")

    def test_rename_and_case_redirects(self):
        _, sha = self.sim.files(SAMPLE)
        cases = [("/api/models/hffs-test/old-name", f"/api/models/{SAMPLE}"),
                 ("/api/models/hffs-test/old-name/revision/main?expand=sha", f"/api/models/{SAMPLE}/revision/main?expand=sha"),
                 ("/hffs-test/old-name/resolve/main/config.json", f"/{SAMPLE}/resolve/main/config.json"),
                 ("/api/models/HFFS-Test/Tiny-Model/tree/main", f"/api/models/{SAMPLE}/tree/main"),
                 ("/HFFS-TEST/tiny-MODEL/resolve/main/model-00001-of-00002.safetensors",
                  f"/{SAMPLE}/resolve/main/model-00001-of-00002.safetensors")]
        for src, dst in cases:
            for method in ("HEAD", "GET"):
                r = self.sim.request(method, src)
                self.assertEqual(r.status, 307, (src, r))
                self.assertEqual(r.h("Location"), dst)
                self.assertIsNone(r.h("ETag"))
                self.assertEqual(r.h("Content-Type"), "text/plain; charset=utf-8")
                self.assertStdHeaders(r)
        r, hops = self.sim.follow("HEAD", "/hffs-test/old-name/resolve/main/config.json")
        self.assertEqual([h[1].status for h in hops], [307, 307, 200])
        self.assertEqual(r.h("X-Repo-Commit"), sha)
        self.assertEqual(self.sim.get("/api/models/hffs-test/old-name").status, 307)

    def test_standard_headers_on_every_response(self):
        urls = [f"/api/models/{SAMPLE}", f"/api/models/{SAMPLE}/tree/main", f"/api/models/{SAMPLE}/refs",
                f"/{SAMPLE}/resolve/main/config.json", f"/{SAMPLE}/resolve/main/nope", "/api/models/x/y",
                "/nothing/here"]
        ids = set()
        for u in urls:
            r = self.sim.head(u)
            self.assertStdHeaders(r)
            ids.add(r.h("X-Request-Id"))
            self.assertRegex(r.h("RateLimit"), r'^"(api|resolvers)";r=\d+;t=\d+$')
            self.assertRegex(r.h("RateLimit-Policy"), r'^"fixed window";"(api|resolvers)";q=\d+;w=300$')
        self.assertEqual(len(ids), len(urls))
        self.assertIn('"resolvers"', self.sim.head(f"/{SAMPLE}/resolve/main/config.json").h("RateLimit"))


if __name__ == "__main__":
    unittest.main()
