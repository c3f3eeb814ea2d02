"""The standard Hugging Face cache ($HF_HUB_CACHE, hub-protocol.md section 8) both ways: files it
already holds are served without a data request, and with --publish-hf-cache every file hffs has
fetched and verified is written into it in the layout Python tools read without the mount."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from harness import Mount, SimTestCase, sha256_file, wait_for

SAMPLE = "hffs-test/tiny-model"
FOLDER = "models--hffs-test--tiny-model"
DATA_KINDS = ("cdn", "resolve", "resolve_cache")


def etag_of(f):
    return f["sha256"] if f["lfs"] else f["git_sha1"]


def try_to_load_from_cache(cache_dir, repo_id, filename, revision="main", repo_type="model"):
    """hub-protocol.md 8.2 (huggingface_hub.try_to_load_from_cache): a path, None (not cached),
    or the string "_NO_EXIST" (known not to exist)."""
    repo_dir = os.path.join(cache_dir, "--".join([f"{repo_type}s", *repo_id.split("/")]))
    if not os.path.isdir(repo_dir):
        return None
    ref = os.path.join(repo_dir, "refs", revision)
    if os.path.isfile(ref):
        with open(ref) as f:
            revision = f.read()  # raw, as Python does: a trailing newline would break the lookup
    if os.path.isfile(os.path.join(repo_dir, ".no_exist", revision, filename)):
        return "_NO_EXIST"
    snap = os.path.join(repo_dir, "snapshots", revision, filename)
    return snap if os.path.isfile(snap) else None


def load_safetensors(path):
    """{name: np.ndarray} memory-mapped from a .safetensors file (no torch/safetensors needed)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        dt = np.dtype(dtypes[t["dtype"]])
        shape = tuple(t["shape"])
        count = int(np.prod(shape)) if shape else 1
        assert count * dt.itemsize == end - begin, name
        out[name] = np.memmap(path, dtype=dt, mode="r", offset=8 + n + begin, shape=shape or (1,))
    return out


class HfCache(SimTestCase):
    def setUp(self):
        self.hub = tempfile.mkdtemp(prefix="hffs-hfcache-")
        self.addCleanup(shutil.rmtree, self.hub, True)

    def data_requests(self):
        by = self.sim.stats()["by_kind"]
        return {k: by[k] for k in DATA_KINDS if by.get(k)}

    def test_served_from_existing_hf_cache_without_data_requests(self):
        files, sha = self.sim.files(SAMPLE)
        repo_dir = os.path.join(self.hub, FOLDER)
        # Lay the cache out by hand, as huggingface_hub would have after a snapshot_download.
        for p, f in files.items():
            blob = os.path.join(repo_dir, "blobs", etag_of(f))
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            shutil.copyfile(f["source"], blob)
            link = os.path.join(repo_dir, "snapshots", sha, p)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)
        os.makedirs(os.path.join(repo_dir, "refs"))
        with open(os.path.join(repo_dir, "refs", "main"), "w") as fh:
            fh.write(sha)
        self.sim.reset()
        with Mount(self.sim, SAMPLE, env={"HF_HUB_CACHE": self.hub}) as mnt:
            self.assert_all_sha256(mnt, files)
            self.assertEqual(self.data_requests(), {}, mnt.log())
            self.assertIn("served from the Hugging Face cache", mnt.log())

    def test_publish_hf_cache_layout_is_loadable_without_the_mount(self):
        files, sha = self.sim.files(SAMPLE)
        repo_dir = os.path.join(self.hub, FOLDER)
        with Mount(self.sim, SAMPLE, "--publish-hf-cache", env={"HF_HUB_CACHE": self.hub}) as mnt:
            self.assert_all_sha256(mnt, files)

            def published():
                return all(os.path.isfile(os.path.join(repo_dir, "snapshots", sha, p)) for p in files) and \
                    os.path.isfile(os.path.join(repo_dir, "refs", "main"))
            wait_for(published, 30, what="every file published into the HF cache")
            log = mnt.log()
        self.assertNotIn("publish-hf-cache:", log)  # no warning

        # The mount is gone: everything below reads the HF cache alone.
        with open(os.path.join(repo_dir, "refs", "main"), "rb") as fh:
            self.assertEqual(fh.read(), sha.encode())  # no trailing newline
        blobs = os.listdir(os.path.join(repo_dir, "blobs"))
        self.assertEqual(sorted(blobs), sorted({etag_of(f) for f in files.values()}))  # no .incomplete left
        for p, f in files.items():
            link = os.path.join(repo_dir, "snapshots", sha, p)
            self.assertTrue(os.path.islink(link), p)
            target = os.readlink(link)
            self.assertEqual(target, "../" * (2 + p.count("/")) + "blobs/" + etag_of(f), p)
            self.assertEqual(sha256_file(link), f["sha256"], p)
            got = try_to_load_from_cache(self.hub, SAMPLE, p)
            self.assertIsNotNone(got, p)
            self.assertEqual(sha256_file(got), f["sha256"], p)
            self.assertTrue(os.path.exists(os.path.join(self.hub, ".locks", FOLDER, etag_of(f) + ".lock")) or
                            f["size"] == 0, p)
        self.assertIsNone(try_to_load_from_cache(self.hub, SAMPLE, "no-such-file.bin"))
        self.assertIsNone(try_to_load_from_cache(self.hub, SAMPLE, "config.json", revision="v1.0"))

        # A model loader memory-maps the shards straight from the snapshot path.
        shards = sorted(p for p in files if p.endswith(".safetensors"))
        self.assertTrue(shards)
        with open(try_to_load_from_cache(self.hub, SAMPLE, "model.safetensors.index.json")) as fh:
            index = json.load(fh)
        for shard in shards:
            mine = load_safetensors(try_to_load_from_cache(self.hub, SAMPLE, shard))
            ref = load_safetensors(files[shard]["source"])
            self.assertEqual(set(mine), set(ref))
            self.assertTrue(mine)
            for name, arr in mine.items():
                self.assertEqual(index["weight_map"].get(name), shard, name)
                self.assertTrue(np.array_equal(arr, ref[name], equal_nan=arr.dtype.kind == "f"), name)

    def test_publish_writes_the_ref_of_a_tag_and_only_files_read(self):
        files, sha = self.sim.files(SAMPLE, "v1.0")
        repo_dir = os.path.join(self.hub, FOLDER)
        with Mount(self.sim, SAMPLE, "--publish-hf-cache", "--revision", "v1.0",
                   env={"HF_HUB_CACHE": self.hub}) as mnt:
            self.assertEqual(sha256_file(mnt.path("config.json")), files["config.json"]["sha256"])
            wait_for(lambda: try_to_load_from_cache(self.hub, SAMPLE, "config.json", revision="v1.0") is not None,
                     30, what="config.json of v1.0 published")
        with open(os.path.join(repo_dir, "refs", "v1.0")) as fh:
            self.assertEqual(fh.read(), sha)
        self.assertFalse(os.path.exists(os.path.join(repo_dir, "refs", "main")))
        # Unread files are not published.
        self.assertIsNone(try_to_load_from_cache(self.hub, SAMPLE, "model-00001-of-00002.safetensors", "v1.0"))

    def test_corrupt_cached_bytes_are_never_published(self):
        files, sha = self.sim.files(SAMPLE)
        p = "model-00002-of-00002.safetensors"
        key = files[p]["sha256"]
        cache_dir = os.path.join(self.hub, "blockcache")
        with Mount(self.sim, SAMPLE, cache_dir=cache_dir) as mnt:  # cached, not published
            self.assertEqual(sha256_file(mnt.path(p)), key)
            mapf = os.path.join(cache_dir, "hffs-v1", "data", key[:2], key + ".map")
            wait_for(lambda: all(b == 2 for b in open(mapf, "rb").read()[16:]), 30, what="the file to be verified")
        with open(os.path.join(cache_dir, "hffs-v1", "data", key[:2], key), "r+b") as f:
            f.seek(3 << 20)
            f.write(b"rot")
        # A mount publishes what the block cache already holds: the damaged copy is refused.
        with Mount(self.sim, SAMPLE, "--publish-hf-cache", cache_dir=cache_dir,
                   env={"HF_HUB_CACHE": self.hub}) as mnt:
            wait_for(lambda: "publish-hf-cache: " + p in mnt.log(), 30, what="the refusal in the log")
            self.assertIn("not published", mnt.log())
        repo_dir = os.path.join(self.hub, FOLDER)
        self.assertFalse(os.path.exists(os.path.join(repo_dir, "blobs", key)))
        self.assertIsNone(try_to_load_from_cache(self.hub, SAMPLE, p))
        self.assertEqual([b for b in os.listdir(os.path.join(repo_dir, "blobs")) if b.endswith(".incomplete")], [])


if __name__ == "__main__":
    unittest.main()
