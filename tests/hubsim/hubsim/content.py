"""Deterministic file content: generators and the content-addressed blob store.

Every file of every fixture is produced by a *generator spec* (a small JSON value, see README.md
"Fixture format"). Content is written once into ``<cache>/blobs/<sha256>`` and remembered in
``<cache>/index.json`` under a key derived from the spec, so a restart (or a second simulator that
shares the cache dir) does not generate anything again.
"""
import fcntl
import hashlib
import io
import json
import os
import struct
import tempfile
import threading

GEN_VERSION = 4  # bump when any generator's output changes
CHUNK = 64 << 20
MIB = 1 << 20

_M64 = (1 << 64) - 1


def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def spec_key(spec):
    return hashlib.sha1(json.dumps({"v": GEN_VERSION, "spec": spec}, sort_keys=True).encode()).hexdigest()


def git_blob_sha1_bytes(data):
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256, size):
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


# ------------------------------------------------------------------------------------------------
# Byte streams. Each generator yields chunks (bytes or numpy arrays) of the file, in order.

def random_stream(size, seed, mask=None):
    """Fast deterministic pseudo-random bytes: one 1 MiB PCG64 block, XOR-ed with a per-MiB
    splitmix64 word, so every MiB differs and generation runs at ~1.5 GB/s.
    ``mask`` (uint64) is AND-ed in, e.g. to keep float16/32 values finite."""
    import numpy as np
    base = np.random.Generator(np.random.PCG64(seed)).bit_generator.random_raw(MIB // 8).astype(np.uint64)
    blocks_per_chunk = CHUNK // MIB
    nblocks = (size + MIB - 1) // MIB
    done = 0
    b = 0
    while b < nblocks:
        n = min(blocks_per_chunk, nblocks - b)
        keys = np.array([_splitmix64((seed << 32) ^ (b + i)) for i in range(n)], dtype=np.uint64)
        arr = base[None, :] ^ keys[:, None]
        if mask is not None:
            arr &= np.uint64(mask)
        raw = arr.reshape(-1).view(np.uint8)
        take = min(size - done, raw.size)
        yield raw[:take]
        done += take
        b += n


DTYPES = {  # name -> (numpy dtype name or None, itemsize, finite mask for random bits)
    "F64": ("float64", 8, 0xBFFFFFFFFFFFFFFF), "F32": ("float32", 4, 0xBFFFFFFFBFFFFFFF),
    "F16": ("float16", 2, 0xBFFFBFFFBFFFBFFF), "BF16": (None, 2, 0xBFFFBFFFBFFFBFFF),
    "I64": ("int64", 8, None), "I32": ("int32", 4, None), "I16": ("int16", 2, None),
    "I8": ("int8", 1, None), "U8": ("uint8", 1, None), "BOOL": ("bool", 1, 0x0101010101010101),
}


def _tensor_stream(t, seed):
    """Chunks of one tensor's little-endian data. init: normal (default for floats), arange
    (default for ints), random (fast random bits, finite for floats), zeros."""
    import numpy as np
    dt = t["dtype"]
    npname, isz, mask = DTYPES[dt]
    n = 1
    for d in t["shape"]:
        n *= d
    nbytes = n * isz
    init = t.get("init") or ("arange" if dt.startswith(("I", "U")) else "normal")
    tseed = t.get("seed", seed)
    if init == "random" or npname is None:
        yield from random_stream(nbytes, tseed, mask)
    elif init == "zeros":
        left = nbytes
        while left:
            k = min(left, CHUNK)
            yield bytes(k)
            left -= k
    elif init == "arange":
        yield (np.arange(n, dtype=np.int64) % 1000003).astype(npname).astype("<" + np.dtype(npname).str[1:]).tobytes()
    else:  # normal
        g = np.random.default_rng(tseed)
        yield (g.standard_normal(n) * 0.02).astype(npname).astype(np.dtype(npname).newbyteorder("<")).tobytes()


def safetensors_layout(spec):
    """(header bytes incl. 8-byte length prefix, [(tensor spec, seed)]) of a safetensors spec."""
    tensors = spec["tensors"]
    header = {}
    off = 0
    for t in tensors:
        isz = DTYPES[t["dtype"]][1]
        n = 1
        for d in t["shape"]:
            n *= d
        header[t["name"]] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [off, off + n * isz]}
        off += n * isz
    if spec.get("metadata") is not None:
        header["__metadata__"] = spec["metadata"]
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)  # pad to 8 bytes like the reference writer
    return struct.pack("<Q", len(hj)) + hj, off


def safetensors_stream(spec):
    head, _ = safetensors_layout(spec)
    yield head
    seed = spec.get("seed", 0)
    for i, t in enumerate(spec["tensors"]):
        yield from _tensor_stream(t, seed * 1000 + i)


def torch_stream(spec):
    import torch  # Debian python3-torch; only imported when a fixture needs it
    sd = {}
    seed = spec.get("seed", 0)
    for i, t in enumerate(spec["tensors"]):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        dt = {"F32": torch.float32, "F16": torch.float16, "F64": torch.float64, "I64": torch.int64,
              "I32": torch.int32, "BF16": torch.bfloat16}[t["dtype"]]
        if dt.is_floating_point:
            sd[t["name"]] = (torch.randn(*t["shape"], generator=g) * 0.02).to(dt)
        else:
            n = 1
            for d in t["shape"]:
                n *= d
            sd[t["name"]] = torch.arange(n, dtype=torch.int64).reshape(t["shape"]).to(dt)
    buf = io.BytesIO()
    torch.save(sd, buf)
    yield buf.getvalue()


def tokenizer_stream(spec):
    """A tokenizer.json shaped like a real BPE one, with a deterministic vocabulary."""
    import random
    rnd = random.Random(spec.get("seed", 0))
    n = spec.get("vocab_size", 1000)
    letters = "abcdefghijklmnopqrstuvwxyzĠ"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    while len(vocab) < n:
        w = "".join(rnd.choice(letters) for _ in range(rnd.randint(2, 9)))
        vocab.setdefault(w, len(vocab))
    words = list(vocab)
    merges = [f"{words[rnd.randrange(3, n)]} {words[rnd.randrange(3, n)]}" for _ in range(n // 2)]
    doc = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": i, "content": w, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for i, w in enumerate(words[:3])],
           "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "vocab": vocab, "merges": merges}}
    yield json.dumps(doc, indent=2, ensure_ascii=False).encode()


def lines_stream(spec):
    import random
    rnd = random.Random(spec.get("seed", 0))
    out = []
    for i in range(spec.get("count", 10)):
        out.append(f"{i:08d} " + "".join(rnd.choice("0123456789abcdef") for _ in range(spec.get("width", 56))))
    yield ("\n".join(out) + "\n").encode()


def spec_stream(spec):
    """Chunks of one file from its generator spec (see README: Fixture format)."""
    if isinstance(spec, str):
        yield spec.encode()
        return
    if "text" in spec:
        yield spec["text"].encode()
    elif "json" in spec:
        yield (json.dumps(spec["json"], indent=2, ensure_ascii=False) + "\n").encode()
    elif "random" in spec:
        r = spec["random"]
        yield from random_stream(r["size"], r.get("seed", 0))
    elif "safetensors" in spec:
        yield from safetensors_stream(spec["safetensors"])
    elif "torch" in spec:
        yield from torch_stream(spec["torch"])
    elif "tokenizer" in spec:
        yield from tokenizer_stream(spec["tokenizer"])
    elif "lines" in spec:
        yield from lines_stream(spec["lines"])
    else:
        raise ValueError(f"unknown generator spec: {json.dumps(spec)[:200]}")


def spec_size(spec):
    """Exact size of a spec's content when known without generating it, else None."""
    if isinstance(spec, dict):
        if "random" in spec:
            return spec["random"]["size"]
        if "safetensors" in spec:
            head, n = safetensors_layout(spec["safetensors"])
            return len(head) + n
    return None


# ------------------------------------------------------------------------------------------------

class BlobStore:
    """``<root>/blobs/<sha256>`` files plus ``<root>/index.json`` {spec key: [sha256, size, git_sha1]}."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.blobs = os.path.join(self.root, "blobs")
        os.makedirs(self.blobs, exist_ok=True)
        self.index_path = os.path.join(self.root, "index.json")
        self._lock = threading.Lock()
        self.index = self._read_index()
        self.dirty = {}

    def _read_index(self):
        try:
            with open(self.index_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def path(self, sha256):
        return os.path.join(self.blobs, sha256)

    def lookup(self, key):
        e = self.index.get(key)
        if e and os.path.exists(self.path(e[0])):
            return e
        return None

    def put_stream(self, key, chunks, size_hint=None):
        """Write chunks, hashing on the way. Returns [sha256, size, git_sha1].
        With ``size_hint`` (the exact size) the git blob sha1 is computed in the same pass, in a
        second thread (hashlib releases the GIL); otherwise the file is re-read for it."""
        import numpy as np
        fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".tmp-")
        sha256 = hashlib.sha256()
        git = hashlib.sha1(b"blob %d\0" % size_hint) if size_hint is not None else None
        size = 0
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                if isinstance(c, np.ndarray):
                    c = memoryview(np.ascontiguousarray(c)).cast("B")
                if git is not None and len(c) >= (4 << 20):
                    t = threading.Thread(target=git.update, args=(c,))
                    t.start()
                    sha256.update(c)
                    t.join()
                else:
                    sha256.update(c)
                    if git is not None:
                        git.update(c)
                f.write(c)
                size += len(c)
        if git is None or size != size_hint:
            git = hashlib.sha1(b"blob %d\0" % size)
            with open(tmp, "rb") as f:
                while True:
                    b = f.read(CHUNK)
                    if not b:
                        break
                    git.update(b)
        digest = sha256.hexdigest()
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path(digest))
        entry = [digest, size, git.hexdigest()]
        with self._lock:
            self.index[key] = entry
            self.dirty[key] = entry
        return entry

    def put_bytes(self, key, data):
        return self.lookup(key) or self.put_stream(key, [data], len(data))

    def get_or_make(self, spec):
        key = spec_key(spec)
        e = self.lookup(key)
        if e:
            return e
        return self.put_stream(key, spec_stream(spec), spec_size(spec))

    def flush(self):
        """Merge new entries into index.json under an exclusive lock (caches may be shared)."""
        if not self.dirty:
            return
        lockf = open(self.index_path + ".lock", "w")
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            cur = self._read_index()
            cur.update(self.dirty)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".index-")
            with os.fdopen(fd, "w") as f:
                json.dump(cur, f)
            os.replace(tmp, self.index_path)
            self.dirty = {}
        finally:
            lockf.close()
