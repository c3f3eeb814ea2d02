"""Tokens changed at run time (POST /_sim/tokens): a revoked token gets 401 on every route that checks
it, an added one reads what its patterns grant at once, and the request log names the token of each
request by a fingerprint (never the token)."""
import hashlib
import unittest

from simtest import SimCase

PRIVATE = "hffs-test/private-model"
GATED = "hffs-test/gated-model"


def fingerprint(tok):
    return hashlib.sha256(tok.encode()).hexdigest()[:12]


class Tokens(SimCase):
    def test_add_then_revoke(self):
        new = "hf_sim_added_token_1"
        self.assertEqual(self.sim.get(f"/api/models/{PRIVATE}", token=new).status, 401)
        valid = self.sim.tokens(add={new: {"user": "rotated", "private": ["hffs-test/*"], "gated": ["hffs-test/*"]}})
        self.assertEqual(valid[fingerprint(new)], "rotated")
        self.assertEqual(valid[fingerprint(self.sim.token())], "hffs-user")  # the others stay
        files, sha = self.sim.files(GATED)
        path = sorted(files)[0]
        for url in (f"/api/models/{PRIVATE}", f"/api/models/{GATED}/revision/main"):
            self.assertEqual(self.sim.get(url, token=new).status, 200, url)
        r, _ = self.sim.follow("GET", f"/{GATED}/resolve/{sha}/{path}", token=new)
        self.assertEqual(r.status, 200)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), files[path]["sha256"])

        self.sim.reset()
        valid = self.sim.tokens(revoke=[new])
        self.assertNotIn(fingerprint(new), valid)
        for method, url in (("GET", f"/api/models/{PRIVATE}"), ("GET", f"/api/models/{GATED}/tree/main"),
                            ("HEAD", f"/{GATED}/resolve/{sha}/{path}")):
            r = self.sim.request(method, url, token=new)
            self.assertEqual(r.status, 401, (method, url))
            if method == "GET":
                self.assertIn("Invalid credentials", r.json()["error"])
        # The old token was not touched; the public repo still answers anonymous requests.
        self.assertEqual(self.sim.get(f"/api/models/{PRIVATE}", token=self.sim.token()).status, 200)
        self.assertEqual(self.sim.get("/api/models/hffs-test/tiny-model").status, 200)
        log = self.sim.requests()
        self.assertEqual([e["token_id"] for e in log], [fingerprint(new)] * 3 + [fingerprint(self.sim.token()), None])
        self.assertEqual([e["status"] for e in log], [401, 401, 401, 200, 200])

    def test_scope_of_an_added_token(self):
        tok = "hf_sim_added_token_2"
        self.sim.tokens(add={tok: {"user": "visitor2", "private": [], "gated": []}})
        self.addCleanup(self.sim.tokens, revoke=[tok])
        self.assertEqual(self.sim.get(f"/api/models/{PRIVATE}", token=tok).status, 404)
        files, sha = self.sim.files(GATED)
        r = self.sim.head(f"/{GATED}/resolve/{sha}/{sorted(files)[0]}", token=tok)
        self.assertEqual(r.status, 403)

    def test_malformed_changes(self):
        for body in ({"add": {"hf_x": "not-an-object"}}, {"add": {"hf_x": {"private": []}}},
                     {"add": {"hf_x": {"user": "u", "gated": [1]}}}, {"revoke": "hf_x"}, {"add": []}):
            r = self.sim.request("POST", "/_sim/tokens", body=body)
            self.assertEqual(r.status, 400, body)
        self.assertNotIn(fingerprint("hf_x"), self.sim.tokens())


if __name__ == "__main__":
    unittest.main()
