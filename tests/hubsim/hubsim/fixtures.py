"""Fixture loading: a fixture JSON (README.md "Fixture format") becomes repos, git-like commits with
exact shas, and ``manifest.json`` (README.md "Manifest format") with content in the blob store."""
import calendar
import copy
import hashlib
import json
import os
import random
import time

from . import content

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_DIR = os.path.join(os.path.dirname(HERE), "fixtures")

DEFAULT_LFS_EXT = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".h5", ".msgpack",
                   ".parquet", ".arrow", ".npy", ".npz", ".pkl", ".tflite", ".ot", ".model"]
DEFAULT_LFS_THRESHOLD = 64 * 1024


def fixture_path(name):
    if os.path.sep in name or name.endswith(".json"):
        return os.path.abspath(name)
    return os.path.join(FIXTURE_DIR, name + ".json")


def load_fixture(name, _seen=None):
    """Fixture dict with ``include``s merged (later repos/tokens/env override earlier ones)."""
    path = fixture_path(name)
    _seen = _seen or set()
    if path in _seen:
        raise ValueError(f"fixture include cycle at {path}")
    _seen.add(path)
    with open(path) as f:
        fx = json.load(f)
    merged = {"tokens": {}, "env": {}, "repos": [], "lfs": {}}
    for inc in fx.get("include", []):
        sub = load_fixture(inc if os.path.isabs(inc) or not inc.endswith(".json")
                           else os.path.join(os.path.dirname(path), inc), _seen)
        merged["tokens"].update(sub["tokens"])
        merged["env"].update(sub["env"])
        merged["lfs"].update(sub["lfs"])
        merged["repos"].extend(sub["repos"])
    merged["tokens"].update(fx.get("tokens", {}))
    merged["env"].update(fx.get("env", {}))
    merged["lfs"].update(fx.get("lfs", {}))
    ids = {(r.get("type", "model"), r["id"]) for r in fx.get("repos", [])}
    merged["repos"] = [r for r in merged["repos"] if (r.get("type", "model"), r["id"]) not in ids]
    merged["repos"].extend(fx.get("repos", []))
    return merged


# ------------------------------------------------------------------------------------------------
# git object ids

def _git_obj(kind, body):
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(body)) + body).hexdigest()


def git_trees(files):
    """{dir path ('' = root): tree sha1} for {path: blob sha1 as stored in git}."""
    root = {}
    for p, oid in files.items():
        node = root
        parts = p.split("/")
        for d in parts[:-1]:
            node = node.setdefault(d, {})
        node[parts[-1]] = oid
    out = {}

    def walk(node, prefix):
        ents = []
        for name, v in node.items():
            if isinstance(v, dict):
                sub = walk(v, f"{prefix}{name}/")
                ents.append((name.encode() + b"/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(sub)))
            else:
                ents.append((name.encode(), b"100644 " + name.encode() + b"\0" + bytes.fromhex(v)))
        ents.sort(key=lambda e: e[0])
        sha = _git_obj("tree", b"".join(e[1] for e in ents))
        out[prefix.rstrip("/")] = sha
        return sha

    walk(root, "")
    return out


def _epoch(date):
    return calendar.timegm(time.strptime(date[:19], "%Y-%m-%dT%H:%M:%S"))


def commit_sha(tree, parents, date, title, message):
    ts = _epoch(date)
    body = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
    body += f"author hubsim <hubsim@example.com> {ts} +0000\ncommitter hubsim <hubsim@example.com> {ts} +0000\n"
    body += f"\n{title}\n" + (f"\n{message}\n" if message else "")
    return _git_obj("commit", body.encode())


# ------------------------------------------------------------------------------------------------

def _set_paths(fs):
    """Paths of a ``file_sets`` entry: prefix/<dir per fanout level>/<name>."""
    count = fs["count"]
    fan = fs.get("fanout", [])
    leaves = 1
    for f in fan:
        leaves *= f
    per = max(1, -(-count // leaves))
    name = fs.get("name", "file-{i:05d}.txt")
    dirname = fs.get("dir_name", "part-{n:02d}")
    out = []
    for i in range(count):
        leaf = i // per
        dirs = []
        for f in reversed(fan):
            dirs.append(dirname.format(n=leaf % f))
            leaf //= f
        out.append("/".join([fs["prefix"]] if fs.get("prefix") else []) + ("/" if fs.get("prefix") else "")
                   + "".join(d + "/" for d in reversed(dirs)) + name.format(i=i))
    return out


def _make_set(store, fs):
    key = content.spec_key({"file_set": fs})
    e = store.index.get(key)
    if e and all(os.path.exists(store.path(x[0])) for x in e):
        return e
    rnd = random.Random(fs.get("seed", 0))
    lo, hi = fs.get("min_size", 16), fs.get("max_size", 256)
    entries = []
    for i, p in enumerate(_set_paths(fs)):
        head = f"{p} #{i} seed={fs.get('seed', 0)}\n".encode()  # unique per file
        body = head + bytes(rnd.choice(b"0123456789abcdef") for _ in range(rnd.randint(lo, hi)))
        sha = hashlib.sha256(body).hexdigest()
        bp = store.path(sha)
        if not os.path.exists(bp):
            tmp = bp + f".tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(body)
            os.chmod(tmp, 0o644)
            os.replace(tmp, bp)
        entries.append([sha, len(body), content.git_blob_sha1_bytes(body)])
    store.index[key] = entries
    store.dirty[key] = entries
    return entries


def _is_lfs(path, size, spec, lfs_cfg):
    if isinstance(spec, dict) and "lfs" in spec:
        return bool(spec["lfs"])
    ext = os.path.splitext(path)[1].lower()
    if ext in lfs_cfg.get("extensions", DEFAULT_LFS_EXT):
        return True
    return size >= lfs_cfg.get("threshold", DEFAULT_LFS_THRESHOLD)


def _index_json(files_so_far, store):
    """model.safetensors.index.json derived from the commit's sharded safetensors files."""
    weight_map = {}
    total = 0
    for p in sorted(files_so_far):
        if not (p.endswith(".safetensors") and "-of-" in p):
            continue
        with open(files_so_far[p]["source"], "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            hdr = json.loads(f.read(n))
        for name, t in hdr.items():
            if name == "__metadata__":
                continue
            weight_map[name] = os.path.basename(p)
            total += t["data_offsets"][1] - t["data_offsets"][0]
    return (json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
                       indent=2) + "\n").encode()


def build(fixture_name, store, log=lambda *a: None):
    """Generate every file of the fixture into ``store`` and return the manifest dict."""
    fx = load_fixture(fixture_name)
    lfs_global = fx.get("lfs", {})
    repos = []
    for r in fx["repos"]:
        rtype = r.get("type", "model")
        lfs_cfg = dict(lfs_global)
        lfs_cfg.update(r.get("lfs", {}))
        by_name = {}
        commits = {}
        for c in r["commits"]:
            parent = by_name.get(c.get("parent")) if c.get("parent") else None
            files = copy.deepcopy(commits[parent]["_files"]) if parent else {}
            for p in c.get("delete", []):
                files.pop(p, None)
            derived = []
            for p, spec in c.get("files", {}).items():
                if isinstance(spec, dict) and spec.get("derive") == "safetensors_index":
                    derived.append((p, spec))
                    continue
                gen = {k: v for k, v in spec.items() if k != "lfs"} if isinstance(spec, dict) else spec
                t0 = time.time()
                sha, size, git = store.get_or_make(gen)
                if time.time() - t0 > 1:
                    log(f"generated {r['id']}/{p} ({size} bytes) in {time.time() - t0:.1f}s")
                files[p] = {"path": p, "size": size, "sha256": sha, "git_sha1": git,
                            "lfs": _is_lfs(p, size, spec, lfs_cfg), "source": store.path(sha)}
            for fs in c.get("file_sets", []):
                for p, (sha, size, git) in zip(_set_paths(fs), _make_set(store, fs)):
                    files[p] = {"path": p, "size": size, "sha256": sha, "git_sha1": git,
                                "lfs": _is_lfs(p, size, None, lfs_cfg), "source": store.path(sha)}
            for p, spec in derived:
                data = _index_json(files, store)
                sha, size, git = store.put_bytes(content.spec_key({"derived": data.decode()}), data)
                files[p] = {"path": p, "size": size, "sha256": sha, "git_sha1": git,
                            "lfs": _is_lfs(p, size, spec, lfs_cfg), "source": store.path(sha)}
            for f in files.values():
                if f["lfs"]:
                    ptr = content.lfs_pointer(f["sha256"], f["size"])
                    f["oid"] = content.git_blob_sha1_bytes(ptr)
                    f["pointer_size"] = len(ptr)
                else:
                    f["oid"] = f["git_sha1"]
                    f.pop("pointer_size", None)
            trees = git_trees({p: f["oid"] for p, f in files.items()})
            date = c.get("date", "2024-01-01T00:00:00.000Z")
            parents = [parent] if parent else []
            title = c.get("title", c["name"])
            sha = commit_sha(trees[""], parents, date, title, c.get("message", ""))
            by_name[c["name"]] = sha
            commits[sha] = {"name": c["name"], "title": title, "message": c.get("message", ""), "date": date,
                            "parents": parents, "tree": trees[""],
                            "dirs": {d: t for d, t in trees.items() if d}, "_files": files}
        branches = {k: by_name[v] for k, v in r.get("branches", {"main": r["commits"][-1]["name"]}).items()}
        tags = {k: by_name[v] for k, v in r.get("tags", {}).items()}
        prs = {str(k): by_name[v] for k, v in r.get("pull_requests", {}).items()}
        refs = dict(branches)
        refs.update(tags)
        refs.update({f"refs/pr/{k}": v for k, v in prs.items()})
        for sha, c in commits.items():
            c["files"] = sorted(c.pop("_files").values(), key=lambda f: f["path"])
        repos.append({
            "type": rtype, "id": r["id"], "private": bool(r.get("private", False)),
            "gated": r.get("gated", False), "disabled": bool(r.get("disabled", False)),
            "aliases": r.get("aliases", []), "default_branch": r.get("default_branch", "main"),
            "repo_object_id": hashlib.sha1(f"{rtype}/{r['id']}".encode()).hexdigest()[:24],
            "created_at": r.get("created_at", r["commits"][0].get("date", "2024-01-01T00:00:00.000Z")),
            "card": r.get("card", {}),
            "refs": refs, "branches": branches, "tags": tags, "pull_requests": prs,
            "commits": commits,
        })
    store.flush()
    return {"format": "hubsim-manifest/1", "fixture": fixture_name, "tokens": fx["tokens"],
            "env": fx["env"], "repos": repos}
