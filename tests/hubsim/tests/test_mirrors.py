"""Several simulators as the endpoints of one mount (issue 13): own loopback addresses, the same
content everywhere, and the mirror knobs lag_commits, hidden_repos and refuse_gated; every request of
both legs is counted in the token-leak evidence (api_auth_requests, cdn_auth_requests, had_auth)."""
import hashlib
import json
import os
import unittest
import urllib.parse

from simtest import SAMPLE, EndpointsCase, SimCase, launch, sha256_bytes

GATED = "hffs-test/gated-model"
PRIVATE = "hffs-test/private-model"
LFS = "model-00001-of-00002.safetensors"
PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}
WEB = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def pages(sim, url, token=None):
    """Every entry of a paginated listing (follows Link: rel="next")."""
    out = []
    while url:
        r = sim.get(url, token=token)
        assert r.status == 200, r
        out += r.json()
        link = r.h("Link")
        url = link[1:link.index(">")] if link else None
    return out


def routes(repo, commit, path="config.json", rtype="model"):
    """(method, path, body) of every route of a repo: metadata, listings, resolve, raw, resolve-cache."""
    api, web = f"/api/{PLURAL[rtype]}/{repo}", f"/{WEB[rtype]}{repo}"
    return [("GET", api, None), ("GET", f"{api}/revision/main", None), ("GET", f"{api}/tree/main", None),
            ("POST", f"{api}/paths-info/main", {"paths": [path]}), ("GET", f"{api}/refs", None),
            ("GET", f"{api}/commits/main", None), ("GET", f"{api}/auth-check", None),
            ("GET", f"{web}/resolve/main/{path}", None), ("HEAD", f"{web}/resolve/main/{path}", None),
            ("GET", f"{web}/raw/main/{path}", None),
            ("GET", f"/api/resolve-cache/{PLURAL[rtype]}/{repo}/{commit}/{path}", None)]


class Endpoints(EndpointsCase):
    def test_own_addresses_everywhere(self):
        for i, sim in enumerate(self.sims):
            api, cdn = launch.endpoint_hosts(i)
            self.assertEqual((api, cdn), (f"127.0.0.{11 + 2 * i}", f"127.0.0.{12 + 2 * i}"))
            self.assertRegex(sim.endpoint, rf"^http://{api}:\d+$")
            self.assertRegex(sim.cdn, rf"^http://{cdn}:\d+$")
            with open(os.path.join(sim.state, "ready.json")) as f:
                ready = json.load(f)
            self.assertEqual((ready["api"], ready["cdn"]), (sim.endpoint, sim.cdn))
            with open(os.path.join(sim.state, "env")) as f:
                self.assertIn(f"HF_ENDPOINT={sim.endpoint}\n", f.read())
            self.assertEqual(sim.control("health"), {"ok": True, "api": sim.endpoint, "cdn": sim.cdn})
            r = sim.head(f"/{SAMPLE}/resolve/main/{LFS}")
            self.assertEqual(r.status, 302)
            self.assertTrue(r.h("Location").startswith(sim.cdn + "/xet-bridge-us/"), r.h("Location"))
            # Links name the address the request came to.
            r = sim.get("/api/datasets/hffs-test/many-files/tree/main?recursive=true")
            self.assertTrue(r.h("Link").startswith(f"<{sim.endpoint}/api/"), r.h("Link"))
        self.assertEqual(len({s.endpoint for s in self.sims} | {s.cdn for s in self.sims}), 2 * len(self.sims))

    def test_cdn_gate_and_control_endpoints_per_endpoint(self):
        a, b = self.sims
        f = a.files(SAMPLE)[0][LFS]
        locs = [s.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location") for s in (a, b)]
        try:
            a.configure(error_every=1, error_status=503, legs=["cdn"])  # nginx -> gate on 127.0.0.11
            a.reset()
            b.reset()
            self.assertEqual(a.get(locs[0]).status, 503)
            r = b.get(locs[1])
            self.assertEqual((r.status, sha256_bytes(r.body)), (200, f["sha256"]))
            self.assertEqual(a.stats(log=False)["faults_injected"], {"cdn.error": 1})
            self.assertEqual(b.stats(log=False)["faults_injected"], {})
            self.assertEqual(b.stats(log=False)["by_kind"], {"cdn": 1})
            self.assertEqual(b.configure()["faults"]["cdn"]["error_every"], 0)
        finally:
            a.configure(clear_faults=True)

    def test_a_signed_url_is_only_good_on_its_own_cdn(self):
        a, b = self.sims
        loc = a.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        u = urllib.parse.urlsplit(loc)
        other = b.get(f"{b.cdn}{u.path}?{u.query}")
        self.assertEqual(other.status, 403)
        self.assertIn(b"Invalid signature", other.body)
        self.assertEqual(a.get(loc).status, 200)

    def test_same_content_everywhere(self):
        a, b = self.sims
        tok = a.token()
        self.assertEqual(a.manifest, b.manifest, "one fixture, one cache: identical manifests")
        self.assertNotEqual(a.config["secret"], b.config["secret"])
        for repo in a.manifest["repos"]:
            rid, rtype = repo["id"], repo["type"]
            api = f"/api/{PLURAL[rtype]}/{rid}"
            for url in (f"{api}?blobs=true", f"{api}/refs?include_prs=1", f"{api}/commits/main"):
                ra, rb = a.get(url, token=tok), b.get(url, token=tok)
                self.assertEqual((ra.status, ra.json()), (rb.status, rb.json()), url)
            for sha, c in repo["commits"].items():
                expand = "true" if len(c["files"]) <= 100 else "false"  # lastCommit too, unless 10,000 files
                url = f"{api}/tree/{sha}?recursive=true&expand={expand}"
                self.assertEqual(pages(a, url, tok), pages(b, url, tok), url)
        # Bytes: every file of every commit of the sample, and of the gated and private repos, as a
        # client gets them (resolve -> resolve-cache or signed CDN URL) from each endpoint.
        for rid in (SAMPLE, GATED, PRIVATE):
            for sha, c in a.repo(rid)["commits"].items():
                for f in c["files"]:
                    got = []
                    for sim in (a, b):
                        url = f"/{rid}/resolve/{sha}/{urllib.parse.quote(f['path'])}"
                        r, hops = sim.follow("GET", url, token=tok)
                        self.assertEqual(r.status, 200, (rid, f["path"], hops))
                        self.assertEqual(hops[0][1].h("X-Repo-Commit"), sha)
                        got.append(sha256_bytes(r.body))
                    self.assertEqual(got, [f["sha256"]] * 2, (rid, sha, f["path"]))
        # The 10,000-file dataset: trees compared above; a sample of its bytes here.
        files, sha = a.files("hffs-test/many-files", repo_type="dataset")
        for p in sorted(files)[::997]:
            bodies = [s.follow("GET", f"/datasets/hffs-test/many-files/resolve/{sha}/{p}")[0].body for s in (a, b)]
            self.assertEqual([hashlib.sha256(x).hexdigest() for x in bodies], [files[p]["sha256"]] * 2, p)


class TlsEndpoint(EndpointsCase):
    """With --tls on other addresses: the certificate names them, and nginx reaches the gate."""
    ENDPOINTS = 1
    SIM_ARGS = ("--tls",)

    def test_https_on_its_own_addresses(self):
        sim = self.sims[0]
        self.assertRegex(sim.endpoint, r"^https://127\.0\.0\.11:\d+$")
        self.assertRegex(sim.cdn, r"^https://127\.0\.0\.12:\d+$")
        f = sim.files(SAMPLE)[0][LFS]
        r, hops = sim.follow("GET", f"/{SAMPLE}/resolve/main/{LFS}")  # certificate checked on both legs
        self.assertEqual((r.status, sha256_bytes(r.body)), (200, f["sha256"]))
        self.assertTrue(hops[1][0].startswith(sim.cdn))
        sim.configure(error_every=1, error_status=502, legs=["cdn"])
        self.addCleanup(sim.configure, clear_faults=True)
        self.assertEqual(sim.get(hops[1][0]).status, 502)


class Lag(SimCase):
    def setUp(self):
        repo = self.sim.repo(SAMPLE)
        self.head, self.v1, self.pr = repo["refs"]["main"], repo["refs"]["v1.0"], repo["refs"]["refs/pr/1"]
        self.assertEqual(repo["commits"][self.head]["parents"], [self.v1])  # the fixture's shape

    def tearDown(self):
        self.sim.configure(lag_commits=0)

    def assertUnknown(self, method, url, rev, body=None):
        r = self.sim.request(method, url, body=body, token=self.sim.token())
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"), (method, url))
        if method != "HEAD":
            self.assertEqual(r.json(), {"error": f"Invalid rev id: {rev}"})

    def test_branches_one_commit_behind_newer_commits_unknown(self):
        sim = self.sim
        self.assertEqual(sim.configure(lag_commits=1)["lag_commits"], 1)
        for rev in ("main", "HEAD", "refs%2Fheads%2Fmain"):
            self.assertEqual(sim.get(f"/api/models/{SAMPLE}/revision/{rev}").json()["sha"], self.v1, rev)
        self.assertEqual(sim.get(f"/api/models/{SAMPLE}").json()["sha"], self.v1)
        v1_files, _ = sim.files(SAMPLE, "v1.0")
        r, hops = sim.follow("GET", f"/{SAMPLE}/resolve/main/config.json")
        self.assertEqual(hops[0][1].h("X-Repo-Commit"), self.v1)
        self.assertEqual(sha256_bytes(r.body), v1_files["config.json"]["sha256"])
        self.assertEqual(pages(sim, f"/api/models/{SAMPLE}/tree/main?recursive=true"),
                         pages(sim, f"/api/models/{SAMPLE}/tree/{self.v1}?recursive=true"))
        refs = sim.get(f"/api/models/{SAMPLE}/refs?include_prs=1").json()
        self.assertEqual([(x["name"], x["targetCommit"]) for x in refs["branches"]], [("main", self.v1)])
        self.assertEqual([(x["name"], x["targetCommit"]) for x in refs["tags"]], [("v1.0", self.v1)])
        self.assertEqual(refs["pullRequests"], [], "the PR's commit descends from the unsynced one")
        r = sim.get(f"/api/models/{SAMPLE}/commits/main")
        self.assertEqual(([c["id"] for c in r.json()], r.h("X-Total-Count")), ([self.v1], "1"))
        # What the mirror lacks, by full sha, short sha or a ref pointing to it, on every route.
        for rev in (self.head, self.head[:7], self.pr, "refs%2Fpr%2F1"):
            shown = urllib.parse.unquote(rev)
            api = f"/api/models/{SAMPLE}"
            for method, url, body in (("GET", f"{api}/revision/{rev}", None), ("GET", f"{api}/tree/{rev}", None),
                                      ("POST", f"{api}/paths-info/{rev}", {"paths": ["config.json"]}),
                                      ("GET", f"{api}/commits/{rev}", None),
                                      ("GET", f"/{SAMPLE}/resolve/{rev}/config.json", None),
                                      ("HEAD", f"/{SAMPLE}/resolve/{rev}/{LFS}", None),
                                      ("GET", f"/{SAMPLE}/raw/{rev}/config.json", None)):
                self.assertUnknown(method, url, shown, body)
        for sha in (self.head, self.pr):
            self.assertUnknown("GET", f"/api/resolve-cache/models/{SAMPLE}/{sha}/config.json", sha)
        # What it has is served as before.
        self.assertEqual(sim.get(f"/api/resolve-cache/models/{SAMPLE}/{self.v1}/config.json").status, 200)
        self.assertEqual(sim.get(f"/api/models/{SAMPLE}/revision/v1.0").json()["sha"], self.v1)

    def test_history_shorter_than_the_lag_and_back(self):
        self.sim.configure(lag_commits=5)
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").json()["sha"], self.v1, "the oldest commit")
        _, sha = self.sim.files("hffs-test/many-files", repo_type="dataset")
        self.assertEqual(self.sim.get("/api/datasets/hffs-test/many-files").json()["sha"], sha)
        self.sim.configure(lag_commits=0)
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}").json()["sha"], self.head)
        self.assertEqual(self.sim.get(f"/api/models/{SAMPLE}/revision/refs%2Fpr%2F1").json()["sha"], self.pr)
        for bad in (-1, "x"):
            self.assertEqual(self.sim.request("POST", "/_sim/config", body={"lag_commits": bad}).status, 400)


class Hidden(SimCase):
    def tearDown(self):
        self.sim.configure(hidden_repos=[])

    def assertMissing(self, method, url, body=None):
        sim = self.sim
        r = sim.request(method, url, body=body)
        self.assertEqual((r.status, r.h("X-Error-Code")), (401, "RepoNotFound"), (method, url))
        r = sim.request(method, url, body=body, token=sim.token())
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RepoNotFound"), (method, url))
        r = sim.request(method, url, body=body, token="hf_not_a_token")
        self.assertEqual(r.status, 401, (method, url))
        if method != "HEAD":
            self.assertEqual(r.json()["error"], "Invalid credentials in Authorization header")

    def test_hidden_repos_are_missing_on_every_route_and_name(self):
        sim = self.sim
        _, sha = sim.files(SAMPLE)
        cfg = sim.configure(hidden_repos=[SAMPLE, "datasets/hffs-test/many-files"])
        self.assertEqual(cfg["hidden_repos"], [SAMPLE, "datasets/hffs-test/many-files"])
        for name in (SAMPLE, "hffs-test/old-name", "HFFS-Test/Tiny-Model"):
            for method, url, body in routes(name, sha):
                self.assertMissing(method, url, body)
        _, dsha = sim.files("hffs-test/many-files", repo_type="dataset")
        for method, url, body in routes("hffs-test/many-files", dsha, "README.md", "dataset"):
            self.assertMissing(method, url, body)
        # Others are served; a hidden repo comes back when the knob is cleared.
        self.assertEqual(sim.get("/api/spaces/hffs-test/demo-space").status, 200)
        self.assertEqual(sim.get(f"/api/models/{GATED}").status, 200)
        self.assertEqual(sim.get("/api/whoami-v2", token=sim.token()).status, 200)
        sim.configure(hidden_repos=["spaces/hffs-test/demo-space"])
        self.assertMissing("GET", "/api/spaces/hffs-test/demo-space")
        self.assertEqual(sim.get(f"/api/models/{SAMPLE}").status, 200)
        self.assertEqual(sim.head(f"/hffs-test/old-name/resolve/main/config.json").status, 307)
        for bad in ("no-slash", [1], ["a/b/c/d"]):
            self.assertEqual(sim.request("POST", "/_sim/config", body={"hidden_repos": bad}).status, 400, bad)


class RefuseGated(SimCase):
    def tearDown(self):
        self.sim.configure(refuse_gated=False)

    def answers(self, repo, token):
        sim = self.sim
        sha = sim.repo(repo)["refs"]["main"]
        out = []
        for method, url, body in routes(repo, sha):
            r = sim.request(method, url, body=body, token=token)
            out.append((method, url, r.status, r.h("X-Error-Code"), r.body))
        return out

    def test_gated_and_private_answered_as_to_anonymous(self):
        sim = self.sim
        anonymous = {repo: self.answers(repo, None) for repo in (GATED, PRIVATE)}
        # What the Hub answers anonymously: gated metadata readable, content 401 GatedRepo; private
        # 401 RepoNotFound everywhere.
        self.assertEqual({(a[2], a[3]) for a in anonymous[PRIVATE]}, {(401, "RepoNotFound")})
        codes = {a[1]: (a[2], a[3]) for a in anonymous[GATED] if a[0] == "GET"}
        self.assertEqual(codes[f"/api/models/{GATED}"], (200, None))
        self.assertEqual(codes[f"/{GATED}/resolve/main/config.json"], (401, "GatedRepo"))
        with_token = {repo: self.answers(repo, sim.token()) for repo in (GATED, PRIVATE)}
        self.assertNotEqual(with_token, anonymous, "the Hub itself serves them to the token")
        sim.configure(refuse_gated=True)
        for tok in (sim.token(), sim.env["HUBSIM_TOKEN_NOT_APPROVED"], "hf_not_a_token", None):
            for repo in (GATED, PRIVATE):
                self.assertEqual(self.answers(repo, tok), anonymous[repo], (repo, tok))
        # Public repos: served as before, the token still checked.
        self.assertEqual(sim.head(f"/{SAMPLE}/resolve/main/{LFS}", token=sim.token()).status, 302)
        self.assertEqual(sim.get(f"/api/models/{SAMPLE}", token="hf_not_a_token").status, 401)


class MirrorStartFlags(SimCase):
    SIM_ARGS = ("--lag-commits", "1", "--hidden-repos", "spaces/hffs-test/demo-space,hffs-test/old-name",
                "--refuse-gated")

    def test_flags(self):
        sim = self.sim
        cfg = sim.configure()
        self.assertEqual((cfg["lag_commits"], cfg["hidden_repos"], cfg["refuse_gated"]),
                         (1, ["spaces/hffs-test/demo-space", "hffs-test/old-name"], True))
        self.assertEqual(sim.get(f"/api/models/{SAMPLE}").json()["sha"], sim.repo(SAMPLE)["refs"]["v1.0"])
        self.assertEqual(sim.get("/api/spaces/hffs-test/demo-space").status, 401)
        # An alias in the list hides nothing: repos are hidden by their own id.
        self.assertEqual(sim.head("/hffs-test/old-name/resolve/main/config.json").status, 307)
        r = sim.head(f"/{GATED}/resolve/main/config.json", token=sim.token())
        self.assertEqual((r.status, r.h("X-Error-Code")), (401, "GatedRepo"))


class AuthCounting(EndpointsCase):
    """Every request either leg answers is in the token-leak evidence, whatever answered it."""
    ENDPOINTS = 1

    def test_every_request_of_both_legs_is_counted(self):
        sim = self.sims[0]
        tok = sim.token()
        _, sha = sim.files(SAMPLE)
        loc = sim.head(f"/{SAMPLE}/resolve/main/{LFS}").h("Location")
        sim.configure(hidden_repos=["spaces/hffs-test/demo-space"], refuse_gated=True,
                      faults={"api": {"error_every": 1, "path_regex": "^/api/models/hffs-test/tiny-model$"},
                              "resolve": {"stall_body_every": 1, "stall_ms": 100, "path_regex": "vocab"},
                              "cdn": {"error_every": 2, "error_status": 503}})
        self.addCleanup(sim.configure, clear_faults=True, hidden_repos=[], refuse_gated=False)
        sim.reset()
        sent = [  # (url, token, expected status)
            (f"/api/models/{SAMPLE}", tok, 500),                          # an injected fault
            (f"/api/spaces/hffs-test/demo-space", tok, 404),               # a hidden repo
            (f"/{GATED}/resolve/main/config.json", tok, 401),              # a refused gated repo
            (f"/api/models/{PRIVATE}", tok, 401),                          # a refused private repo
            (f"/api/models/{SAMPLE}/tree/main", "hf_not_a_token", 401),    # an invalid token
            (f"/{SAMPLE}/resolve/main/config.json", tok, 307),
            (f"/api/models/{GATED}", None, 200),
            (loc, tok, 200), (loc, tok, 503),                             # CDN: served, then a fault
            (loc.replace("Signature=", "Signature=x"), tok, 403),          # CDN: forged signature
            (loc, None, 200), (loc, None, 503),
        ]
        for url, token, status in sent:
            self.assertEqual(sim.get(url, token=token).status, status, url)
        # A stalled answer (half the body, then nothing for 100 ms, then closed) is counted too.
        c = sim.conn(sim.endpoint)
        c.request("GET", f"/api/resolve-cache/models/{SAMPLE}/{sha}/vocab.txt",
                  headers={"Authorization": f"Bearer {tok}"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        got = b""
        while chunk := r.read1(65536):
            got += chunk
        c.close()
        self.assertEqual(len(got), int(r.getheader("Content-Length")) // 2)
        st = sim.stats()
        want_api = sum(1 for u, t, _ in sent if t and not u.startswith(sim.cdn)) + 1
        want_cdn = sum(1 for u, t, _ in sent if t and u.startswith(sim.cdn))
        self.assertEqual((st["api_auth_requests"], st["cdn_auth_requests"]), (want_api, want_cdn), st["log"])
        self.assertEqual(st["total_requests"], len(sent) + 1)
        self.assertEqual(sorted((e["status"], e["had_auth"]) for e in st["log"]),
                         sorted([(s, bool(t)) for _, t, s in sent] + [(200, True)]))
        self.assertEqual(st["faults_injected"], {"api.error": 1, "resolve.stall_body": 1, "cdn.error": 2})


if __name__ == "__main__":
    unittest.main()
