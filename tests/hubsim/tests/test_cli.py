"""`run start/stop` (issue point 7), the fixtures and manifest (point 3) and the stats endpoints
(point 6)."""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest
import urllib.parse

from simtest import CACHE, RUN, SAMPLE, Sim, SimCase, sha256_bytes


def pids_of(state):
    """Processes whose command line mentions the state dir (daemon and nginx)."""
    out = subprocess.run(["pgrep", "-f", state], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


class StartStop(unittest.TestCase):
    def test_start_output_env_file_and_stop(self):
        a = Sim(name="cli-a").start()
        b = None
        try:
            lines = a.stdout.strip().splitlines()
            keys = [ln.split("=", 1)[0] for ln in lines]
            self.assertEqual(keys[-1], "HF_ENDPOINT")
            for k in ("HFFS_SAMPLE_REPO", "HUBSIM_STATE_DIR", "HUBSIM_TOKEN", "HUBSIM_TOKEN_NOT_APPROVED", "HUBSIM_CDN"):
                self.assertIn(k, keys)
            self.assertNotIn("HUBSIM_CA_FILE", keys)
            self.assertEqual(a.env["HFFS_SAMPLE_REPO"], SAMPLE)
            self.assertEqual(a.env["HUBSIM_STATE_DIR"], a.state)
            self.assertRegex(a.endpoint, r"^http://127\.0\.0\.1:\d+$")
            out = subprocess.run(["bash", "-c", f"set -e; source {a.state}/env; echo $HF_ENDPOINT $HUBSIM_TOKEN"],
                                 capture_output=True, text=True, check=True).stdout.split()
            self.assertEqual(out, [a.endpoint, a.env["HUBSIM_TOKEN"]])
            # a second simulator at the same time, other state dir, other ports
            b = Sim(name="cli-b").start()
            self.assertNotEqual(a.endpoint, b.endpoint)
            self.assertNotEqual(a.cdn, b.cdn)
            self.assertEqual(b.get(f"/api/models/{SAMPLE}").status, 200)
            # starting twice in one state dir is refused
            r = subprocess.run([RUN, "start", "--state-dir", a.state, "--cache-dir", CACHE], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("already running", r.stderr)
            self.assertEqual(subprocess.run([RUN, "status", "--state-dir", a.state], capture_output=True).returncode, 0)
            self.assertTrue(pids_of(a.state))
            r = subprocess.run([RUN, "stop", "--state-dir", a.state], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(pids_of(a.state), [])
            for n in ("hubsim.pid", "ready.json", "cdn/nginx.pid"):
                self.assertFalse(os.path.exists(os.path.join(a.state, n)), n)
            self.assertNotEqual(subprocess.run([RUN, "status", "--state-dir", a.state], capture_output=True).returncode, 0)
            self.assertEqual(b.get(f"/api/models/{SAMPLE}").status, 200, "the other simulator still runs")
            # restart in the same state dir works and serves the same commits
            before = a.manifest
            a.start()
            self.assertEqual(a.manifest["repos"], before["repos"])
            self.assertEqual(a.get(f"/api/models/{SAMPLE}").status, 200)
        finally:
            a.cleanup()
            if b:
                b.cleanup()
        self.assertEqual(pids_of(a.state), [])
        self.assertEqual(pids_of(b.state), [])

    def test_stop_after_daemon_was_killed(self):
        a = Sim(name="cli-kill").start()
        try:
            pid = int(a.env["HUBSIM_PID"])
            os.kill(pid, 9)  # nginx is left without its parent; stop must still clean up the group
            r = subprocess.run([RUN, "stop", "--state-dir", a.state], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(pids_of(a.state), [])
        finally:
            a.cleanup()

    def test_fixed_ports(self):
        import socket
        ports = []
        for host in ("127.0.0.1", "127.0.0.2"):
            s = socket.socket()
            s.bind((host, 0))
            ports.append(s.getsockname()[1])
            s.close()
        a = Sim("--api-port", str(ports[0]), "--cdn-port", str(ports[1]), name="cli-ports").start()
        try:
            self.assertEqual(a.endpoint, f"http://127.0.0.1:{ports[0]}")
            self.assertEqual(a.cdn, f"http://127.0.0.2:{ports[1]}")
        finally:
            a.cleanup()

    def test_generation_is_cached_by_spec(self):
        state = tempfile.mkdtemp(prefix="hubsim-gen-")
        try:
            r1 = subprocess.run([RUN, "generate", "--state-dir", state], capture_output=True, text=True, check=True)
            blobs = os.path.join(state, "cache", "blobs")
            stamp = {n: os.stat(os.path.join(blobs, n)).st_mtime_ns for n in os.listdir(blobs)}
            with open(os.path.join(state, "manifest.json")) as f:
                m1 = json.load(f)
            subprocess.run([RUN, "generate", "--state-dir", state], capture_output=True, text=True, check=True)
            with open(os.path.join(state, "manifest.json")) as f:
                m2 = json.load(f)
            self.assertEqual(m1, m2)
            self.assertEqual({n: os.stat(os.path.join(blobs, n)).st_mtime_ns for n in os.listdir(blobs)}, stamp,
                             "nothing regenerated")
            # deterministic: a generation in another cache (the shared test cache) gives the same commits
            state2 = os.path.join(state, "other")
            subprocess.run([RUN, "generate", "--state-dir", state2, "--cache-dir", CACHE], capture_output=True,
                           check=True)
            with open(os.path.join(state2, "manifest.json")) as f:
                m3 = json.load(f)

            def strip(m):
                return [{**r, "commits": {s: {**c, "files": [{k: v for k, v in x.items() if k != "source"}
                                                             for x in c["files"]]} for s, c in r["commits"].items()}}
                        for r in m["repos"]]
            self.assertEqual(strip(m1), strip(m3))
            self.assertIn("file versions", r1.stdout)
        finally:
            shutil.rmtree(state, ignore_errors=True)


class Fixture(SimCase):
    def test_manifest_is_exact(self):
        m = self.sim.manifest
        self.assertEqual(m["format"], "hubsim-manifest/1")
        seen = {}
        for r in m["repos"]:
            for k in ("type", "id", "private", "gated", "refs", "commits"):
                self.assertIn(k, r)
            for ref, sha in r["refs"].items():
                self.assertIn(sha, r["commits"], ref)
            for sha, c in r["commits"].items():
                self.assertRegex(sha, r"^[0-9a-f]{40}$")
                for f in c["files"]:
                    for k in ("path", "size", "sha256", "git_sha1", "lfs", "source"):
                        self.assertIn(k, f)
                    self.assertTrue(os.path.isabs(f["source"]))
                    if f["source"] not in seen:
                        with open(f["source"], "rb") as fh:
                            data = fh.read()
                        seen[f["source"]] = (len(data), hashlib.sha256(data).hexdigest(),
                                             hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
                    self.assertEqual(seen[f["source"]], (f["size"], f["sha256"], f["git_sha1"]), f["path"])
        self.assertGreater(len(seen), 10000)

    def test_repos_and_access(self):
        m = {(r["type"], r["id"]): r for r in self.sim.manifest["repos"]}
        self.assertEqual(set(m), {("model", SAMPLE), ("dataset", "hffs-test/many-files"),
                                  ("space", "hffs-test/demo-space"), ("model", "hffs-test/gated-model"),
                                  ("model", "hffs-test/private-model")})
        self.assertTrue(m[("model", "hffs-test/private-model")]["private"])
        self.assertEqual(m[("model", "hffs-test/gated-model")]["gated"], "manual")
        self.assertEqual(m[("model", SAMPLE)]["aliases"], ["hffs-test/old-name"])
        files, _ = self.sim.files("hffs-test/many-files", repo_type="dataset")
        data = [p for p in files if p.startswith("data/")]
        self.assertEqual(len(data), 10000)
        self.assertGreater(len({os.path.dirname(p) for p in data}), 50)  # nested dirs
        sp, _ = self.sim.files("hffs-test/demo-space", repo_type="space")
        self.assertTrue({"app.py", "requirements.txt"} <= set(sp))

    def test_sample_repo_shape(self):
        repo = self.sim.repo(SAMPLE)
        refs = repo["refs"]
        self.assertEqual(set(refs), {"main", "v1.0", "refs/pr/1"})
        main, _ = self.sim.files(SAMPLE, "main")
        v1, _ = self.sim.files(SAMPLE, "v1.0")
        pr, _ = self.sim.files(SAMPLE, "refs/pr/1")
        self.assertEqual(repo["commits"][refs["main"]]["parents"], [refs["v1.0"]])  # two commits on main
        self.assertEqual(repo["commits"][refs["v1.0"]]["parents"], [])
        self.assertNotEqual(main["config.json"]["sha256"], v1["config.json"]["sha256"])
        self.assertNotEqual(pr["config.json"]["sha256"], main["config.json"]["sha256"])
        self.assertNotEqual(set(main), set(v1))
        for p in ("config.json", "tokenizer.json", "tokenizer_config.json", "README.md", "generation_config.json",
                  "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                  "model.safetensors.index.json", "pytorch_model.bin", "onnx/model.onnx", "a/b/c/deep.txt",
                  "weird/名前 #1?%+.txt", "empty.txt", "data/exact_2MiB.bin", "data/one_MiB_plus_1.bin"):
            self.assertIn(p, main)
        self.assertEqual(main["empty.txt"]["size"], 0)
        self.assertEqual(main["data/exact_2MiB.bin"]["size"] % (1 << 20), 0)
        self.assertEqual(main["data/one_MiB_plus_1.bin"]["size"], (1 << 20) + 1)
        for p, f in main.items():
            want_lfs = f["size"] >= 65536 or p.endswith((".safetensors", ".bin", ".onnx"))
            self.assertEqual(f["lfs"], want_lfs, p)
        self.assertFalse(main["config.json"]["lfs"])

    def test_safetensors_valid_and_index_consistent(self):
        import numpy as np
        main, _ = self.sim.files(SAMPLE)
        idx = json.load(open(main["model.safetensors.index.json"]["source"]))
        total = 0
        dtypes = set()
        for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
            f = main[shard]
            self.assertGreater(f["size"], 1 << 20)
            with open(f["source"], "rb") as fh:
                raw = fh.read()
            (n,) = struct.unpack("<Q", raw[:8])
            header = json.loads(raw[8:8 + n])
            base = 8 + n
            ends = []
            for name, t in header.items():
                if name == "__metadata__":
                    continue
                dtypes.add(t["dtype"])
                a, b = t["data_offsets"]
                item = {"F32": 4, "F16": 2, "I64": 8}[t["dtype"]]
                self.assertEqual(b - a, int(np.prod(t["shape"])) * item, name)
                arr = np.frombuffer(raw[base + a:base + b], dtype={"F32": "<f4", "F16": "<f2", "I64": "<i8"}[t["dtype"]])
                self.assertTrue(np.all(np.isfinite(arr)) if t["dtype"] != "I64" else True, name)
                self.assertEqual(idx["weight_map"][name], shard)
                ends.append((a, b))
                total += b - a
            ends.sort()
            self.assertEqual(ends[0][0], 0)
            self.assertEqual(base + ends[-1][1], len(raw))
            for (a1, b1), (a2, b2) in zip(ends, ends[1:]):
                self.assertEqual(b1, a2)
        self.assertEqual(dtypes, {"F32", "F16", "I64"})
        self.assertEqual(idx["metadata"]["total_size"], total)

    def test_pytorch_bin_loads_with_debian_torch(self):
        import torch
        main, _ = self.sim.files(SAMPLE)
        sd = torch.load(main["pytorch_model.bin"]["source"], map_location="cpu")
        self.assertIn("model.embed_tokens.weight", sd)
        self.assertEqual(tuple(sd["model.embed_tokens.weight"].shape), (256, 64))
        self.assertEqual(sd["model.layers.0.position_ids"].dtype, torch.int64)


class Stats(SimCase):
    def test_counts_per_kind_host_bytes_and_reset(self):
        files, sha = self.sim.files(SAMPLE)
        tok = self.sim.token()
        self.sim.reset()
        st = self.sim.stats()
        self.assertEqual((st["total_requests"], st["log"]), (0, []))
        self.sim.get(f"/api/models/{SAMPLE}")
        self.sim.get(f"/api/models/{SAMPLE}/tree/main?recursive=true")
        self.sim.request("POST", f"/api/models/{SAMPLE}/paths-info/main", body={"paths": ["config.json"]})
        self.sim.get(f"/api/models/{SAMPLE}/refs")
        r, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/main/config.json", token=tok)  # resolve + resolve_cache
        r2, _ = self.sim.follow("GET", f"/{SAMPLE}/resolve/main/model-00001-of-00002.safetensors", token=tok,
                                headers={"Range": "bytes=0-99"})
        self.assertEqual(r2.status, 206)
        st = self.sim.stats()
        self.assertEqual(st["by_kind"], {"repo_info": 1, "tree": 1, "paths_info": 1, "refs": 1, "resolve": 2,
                                         "resolve_cache": 1, "cdn": 1})
        self.assertEqual(st["by_host"], {"api": 7, "cdn": 1})
        self.assertEqual(st["total_requests"], 8)
        self.assertEqual(st["bytes_by_host"]["cdn"], 100)
        self.assertEqual(st["cdn_auth_requests"], 0)
        self.assertEqual(st["api_auth_requests"], 3)  # 2 resolve + resolve_cache
        self.assertEqual(st["bytes_served"], sum(e["bytes"] for e in st["log"]))
        cdn = [e for e in st["log"] if e["host"] == "cdn"][0]
        self.assertEqual((cdn["method"], cdn["status"], cdn["range"], cdn["had_auth"]), ("GET", 206, "bytes=0-99", False))
        self.assertTrue(cdn["path"].endswith(files["model-00001-of-00002.safetensors"]["sha256"]))
        rc = [e for e in st["log"] if e["kind"] == "resolve_cache"][0]
        self.assertEqual((rc["status"], rc["bytes"], rc["had_auth"]), (200, files["config.json"]["size"], True))
        for e in st["log"]:
            for k in ("method", "path", "status", "range", "had_auth", "host", "kind", "bytes"):
                self.assertIn(k, e)
        self.assertNotIn("log", self.sim.stats(log=False))
        self.sim.reset()
        st = self.sim.stats()
        self.assertEqual((st["total_requests"], st["bytes_served"], st["by_kind"]), (0, 0, {}))


if __name__ == "__main__":
    unittest.main()
