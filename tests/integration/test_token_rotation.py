"""Token rotation (issue 16): a mount whose token comes from a file goes on reading a private repo
after the Hub revokes the token the mount started with, once the file holds a new one: found by
the file's change (no 401 at all), or, when the change does not show in the file's inode, size or
mtime, by the 401 itself (one 401, then the same request with the new token). A token from the
environment does not rotate: revoked, reads fail with EACCES as before. --token is scrubbed from
the daemon's argv and warned about once; no token is ever in the log."""
import hashlib
import os
import subprocess
import unittest

from harness import HFFS, Mount, SimTestCase, sha256_file

PRIVATE = "hffs-test/private-model"
GATED = "hffs-test/gated-model"
GRANT = {"private": ["hffs-test/*"], "gated": ["hffs-test/*"]}


def token_id(tok):
    return hashlib.sha256(tok.encode()).hexdigest()[:12]


class MountFromHome(Mount):
    """`hffs mount` run in its home directory (relative paths are relative to it)."""

    def run(self):
        self.result = subprocess.run(
            [HFFS, "mount", self.repo, self.dir, "--cache-dir", self.cache_dir,
             "--log-file", os.path.join(self.home, "hffs.log"), *self.extra],
            env=self.env, cwd=self.home, capture_output=True, text=True, timeout=120)
        self.mounted = self.result.returncode == 0
        return self.result


class TokenRotation(SimTestCase):
    def setUp(self):
        self.sim.reset()  # the request log of this test only

    def add_tokens(self, *toks):
        self.sim.tokens(add={t: dict(GRANT, user="rotating-" + t[-1]) for t in toks})
        self.addCleanup(self.sim.tokens, revoke=list(toks))

    def hub_requests(self):
        return [e for e in self.sim.requests() if e["host"] == "api"]

    def assert_no_token_in(self, text, *toks):
        for t in toks:
            self.assertNotIn(t, text)

    def test_file_token_rotates_by_change_then_by_401(self):
        a, b, c = "hf_rotation_token_a", "hf_rotation_token_b", "hf_rotation_token_c"
        self.add_tokens(a, b, c)
        files, _ = self.sim.files(PRIVATE)
        first, second, third = "config.json", "README.md", "model.safetensors"
        self.assertEqual(set(files), {first, second, third})
        # The file is looked at on every request (HFFS_TOKEN_RECHECK_MS=0), so which path finds
        # the new token depends only on what changed in the file, not on timing.
        m = MountFromHome(self.sim, PRIVATE, env={"HFFS_TOKEN_RECHECK_MS": "0"})
        tok_file = os.path.join(m.home, "secret", "token")
        os.makedirs(os.path.dirname(tok_file))
        with open(tok_file, "w") as f:
            f.write(a + "\n")
        # Given relative to the caller's directory: the daemon, in "/", still finds it.
        m.extra += ["--token-file", os.path.relpath(tok_file, m.home)]
        with m:
            self.assertEqual(sha256_file(m.path(first)), files[first]["sha256"])
            self.assertTrue(self.hub_requests())
            self.assertEqual({e["token_id"] for e in self.hub_requests()}, {token_id(a)})

            # 1. A new token renamed over the file (as a secret manager does), then the old one revoked.
            self.sim.reset()
            with open(tok_file + ".new", "w") as f:
                f.write(b + "\n")
            os.rename(tok_file + ".new", tok_file)
            self.sim.tokens(revoke=[a])
            self.assertEqual(sha256_file(m.path(second)), files[second]["sha256"])
            log = self.hub_requests()
            self.assertTrue(log)
            self.assertEqual([e for e in log if e["status"] == 401], [])
            self.assertEqual({e["token_id"] for e in log}, {token_id(b)})

            # 2. Rewritten in place with a token of the same length and the old mtime: the file
            # looks unchanged, so only the 401 to the revoked token makes the daemon read it.
            self.sim.reset()
            st = os.stat(tok_file)
            with open(tok_file, "r+") as f:
                f.write(c + "\n")
            os.utime(tok_file, ns=(st.st_atime_ns, st.st_mtime_ns))
            after = os.stat(tok_file)
            self.assertEqual((after.st_ino, after.st_size, after.st_mtime_ns), (st.st_ino, st.st_size, st.st_mtime_ns))
            self.sim.tokens(revoke=[b])
            self.assertEqual(sha256_file(m.path(third)), files[third]["sha256"])
            log = self.hub_requests()
            rejected = [e for e in log if e["status"] == 401]
            self.assertEqual(len(rejected), 1, log)
            self.assertEqual(rejected[0]["token_id"], token_id(b))
            later = log[log.index(rejected[0]) + 1:]
            self.assertTrue(later)
            self.assertEqual(later[0]["path"], rejected[0]["path"])  # the same request, sent again
            self.assertEqual({e["token_id"] for e in later}, {token_id(c)})
            self.assertTrue(all(e["status"] < 400 for e in later), later)

            # Every byte again, from the cache now, and the log names the file, never a token.
            for p, f in files.items():
                self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)
            text = m.log()
            self.assertIn("changed: the new token is used from now on", text)
            self.assertIn("rejected the token; sending the request again", text)
            self.assert_no_token_in(text, a, b, c)

    def test_gone_file_keeps_the_last_token(self):
        d = "hf_rotation_token_d"
        self.add_tokens(d)
        files, _ = self.sim.files(GATED)
        m = Mount(self.sim, GATED, env={"HFFS_TOKEN_RECHECK_MS": "0"})
        home_tok = os.path.join(m.home, "token")
        with open(home_tok, "w") as f:
            f.write(d + "\n")
        m.extra += ["--token-file", home_tok]
        with m:
            os.unlink(home_tok)
            for p, f in files.items():
                self.assertEqual(sha256_file(m.path(p)), f["sha256"], p)
            text = m.log()
            self.assertEqual(text.count(f"token file {home_tok} is gone"), 1, text)
            self.assert_no_token_in(text, d)

    def test_environment_token_does_not_rotate(self):
        e = "hf_rotation_token_e"
        self.add_tokens(e)
        files, _ = self.sim.files(GATED)
        with Mount(self.sim, GATED, token=e) as m:
            self.assertEqual(sha256_file(m.path("config.json")), files["config.json"]["sha256"])
            self.sim.reset()
            self.sim.tokens(revoke=[e])
            with self.assertRaises(OSError) as cm:
                sha256_file(m.path("README.md"))
            self.assertIn(cm.exception.errno, (13,), cm.exception)  # EACCES, as before rotation existed
            log = self.hub_requests()
            self.assertTrue(log)
            self.assertTrue(all(x["status"] == 401 and x["token_id"] == token_id(e) for x in log), log)
            # The file read before the revocation is served from the cache.
            self.assertEqual(sha256_file(m.path("config.json")), files["config.json"]["sha256"])
            self.assert_no_token_in(m.log(), e)

    def test_command_line_token_is_scrubbed_and_warned_once(self):
        f = "hf_rotation_token_f"
        self.add_tokens(f)
        files, _ = self.sim.files(PRIVATE)
        with Mount(self.sim, PRIVATE, "--token", f) as m:
            self.assertEqual(sha256_file(m.path("README.md")), files["README.md"]["sha256"])
            pid = m.daemon_pid()
            self.assertIsNotNone(pid)
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            self.assertIn(b"--token", argv)
            self.assertNotIn(f.encode(), b"\0".join(argv))
            self.assertIn(b"x" * len(f), argv)  # overwritten in place, same length
            text = m.log()
            self.assertEqual(text.count("--token was visible to other local users"), 1, text)
            self.assertIn("(token: --token)", text)
            self.assert_no_token_in(text, f)


if __name__ == "__main__":
    unittest.main()
