#!/usr/bin/python3
"""Writes the simulator fixture of one huge dataset for bench/run.sh's huge row (issue 15):
hugefixture.py COUNT REPO_ID OUT.json. COUNT files of 16-64 bytes (+ a README), dataset-shaped:
55% under data/train/shard-NNN/, 45% under data/img/shard-NNN/, about 1000 files per directory.
The content is generated once into the simulator's content cache (keyed by this spec)."""
import json
import sys

count, repo, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
train = count * 55 // 100
sets = []
for prefix, n, ext, seed in (("data/train", train, "txt", 1), ("data/img", count - train, "bin", 2)):
    sets.append({"prefix": prefix, "count": n, "fanout": [max(1, n // 1000)], "name": "{i:07d}." + ext,
                 "dir_name": "shard-{n:04d}", "seed": seed, "min_size": 16, "max_size": 64})
fx = {"format": "hubsim-fixture/1", "repos": [{
    "type": "dataset", "id": repo, "commits": [{
        "name": "c1", "date": "2024-01-10T12:00:00.000Z", "title": "Huge dataset", "message": "",
        "files": {"README.md": "huge\n"}, "file_sets": sets}], "branches": {"main": "c1"}}]}
with open(out, "w") as f:
    json.dump(fx, f)
