"""In-memory view of manifest.json: repos, revisions, per-commit file tables and tree listings."""
import copy
import fnmatch
import hashlib
import re
import threading

SHORT_SHA = re.compile(r"^[0-9a-f]{5,40}$")
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PLURAL = {v: k for k, v in TYPES.items()}
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


class Commit:
    def __init__(self, sha, c):
        self.sha = sha
        self.title = c["title"]
        self.message = c.get("message", "")
        self.date = c["date"]
        self.parents = c["parents"]
        self.tree = c["tree"]
        self.files = {f["path"]: f for f in c["files"]}
        self.dir_oids = dict(c["dirs"])
        self.children = {"": ([], [])}  # dir -> (subdir names, file names)
        for d in sorted(self.dir_oids):
            self.children.setdefault(d, ([], []))
        for d in sorted(self.dir_oids):
            parent, _, name = d.rpartition("/")
            self.children[parent][0].append(name)
        for p in sorted(self.files):
            parent, _, name = p.rpartition("/")
            self.children[parent][1].append(name)
        for v in self.children.values():
            v[0].sort()
            v[1].sort()
        self.last_commit = {}  # path -> sha of the commit that last changed it
        self._listings = {}  # (dir, recursive) -> [entries walked so far, the walk or None when done]
        self._listing_lock = threading.Lock()

    def is_dir(self, path):
        return path == "" or path in self.dir_oids

    def listing(self, d, recursive):
        """Paths under directory d, "tree first": at each level the folders (each followed by its
        content when recursive), then the files; names sorted."""
        return self.listing_upto(d, recursive, None)[0]

    def listing_upto(self, d, recursive, n):
        """(the first n or more entries of listing(d, recursive), whether that is all of it). Walked
        only as far as asked, as the Hub pages a listing: the first page of a million-file repo
        costs a page, not a walk of the whole tree."""
        with self._listing_lock:
            st = self._listings.get((d, recursive))
            if st is None:
                st = self._listings[(d, recursive)] = [[], self._walk(d, recursive)]
            items, gen = st
            while gen is not None and (n is None or len(items) < n):
                nxt = next(gen, None)
                if nxt is None:
                    st[1] = gen = None
                else:
                    items.append(nxt)
            return items, gen is None

    def _walk(self, dd, recursive):
        subs, files = self.children.get(dd, ([], []))
        pre = dd + "/" if dd else ""
        for s in subs:
            yield ("directory", pre + s)
            if recursive:
                yield from self._walk(pre + s, recursive)
        for f in files:
            yield ("file", pre + f)


class Repo:
    def __init__(self, m):
        self.type = m["type"]
        self.id = m["id"]
        self.private = m["private"]
        self.gated = m["gated"]
        self.disabled = m.get("disabled", False)
        self.aliases = m.get("aliases", [])
        self.default_branch = m.get("default_branch", "main")
        self.object_id = m["repo_object_id"]
        self.created_at = m["created_at"]
        self.card = m.get("card", {})
        self.branches = m["branches"]
        self.tags = m["tags"]
        self.prs = m["pull_requests"]
        self.commits = {sha: Commit(sha, c) for sha, c in m["commits"].items()}
        self._lagged = {}
        self._compute_last_commits()

    def lagged(self, n):
        """The repo as a mirror that has not synced the last ``n`` commits of every branch sees it:
        each branch at the commit ``n`` first-parent steps behind its head (the oldest commit when
        the history is shorter); it has the commits reachable (through every parent) from those
        heads and no other; tags and pull requests pointing to a commit it lacks are unknown."""
        if n <= 0:
            return self
        view = self._lagged.get(n)
        if view is not None:
            return view
        branches = {}
        for b, sha in self.branches.items():
            for _ in range(n):
                parents = self.commits[sha].parents
                if not parents:
                    break
                sha = parents[0]
            branches[b] = sha
        have, todo = set(), list(branches.values())
        while todo:
            sha = todo.pop()
            if sha not in have:
                have.add(sha)
                todo += self.commits[sha].parents
        view = copy.copy(self)
        view.branches = branches
        view.tags = {k: v for k, v in self.tags.items() if v in have}
        view.prs = {k: v for k, v in self.prs.items() if v in have}
        view.commits = {k: v for k, v in self.commits.items() if k in have}
        view._lagged = {}
        self._lagged[n] = view
        return view

    def _compute_last_commits(self):
        done = set()

        def visit(sha):
            if sha in done:
                return
            c = self.commits[sha]
            par = self.commits[c.parents[0]] if c.parents else None
            if par:
                visit(par.sha)
            for p, f in c.files.items():
                same = par and p in par.files and par.files[p]["oid"] == f["oid"]
                c.last_commit[p] = par.last_commit[p] if same else sha
            for d, oid in c.dir_oids.items():
                same = par and par.dir_oids.get(d) == oid
                c.last_commit[d] = par.last_commit[d] if same else sha
            done.add(sha)

        for sha in self.commits:
            visit(sha)

    def resolve(self, rev):
        """Commit sha for a branch, tag, refs/pr/N, HEAD, full or short (>= 5 hex) sha; else None."""
        if rev == "HEAD":
            rev = self.default_branch
        if rev in self.branches:
            return self.branches[rev]
        if rev.startswith("refs/heads/") and rev[11:] in self.branches:
            return self.branches[rev[11:]]
        if rev in self.tags:
            return self.tags[rev]
        if rev.startswith("refs/tags/") and rev[10:] in self.tags:
            return self.tags[rev[10:]]
        m = re.fullmatch(r"refs/pr/(\d+)", rev)
        if m and m.group(1) in self.prs:
            return self.prs[m.group(1)]
        if SHORT_SHA.match(rev):
            hits = [s for s in self.commits if s.startswith(rev)]
            if len(hits) == 1:
                return hits[0]
        return None

    def history(self, sha):
        out = []
        while sha:
            out.append(self.commits[sha])
            p = self.commits[sha].parents
            sha = p[0] if p else None
        return out


class Registry:
    def __init__(self, manifest):
        self.repos = {}
        self.lower = {}
        self.alias = {}
        for m in manifest["repos"]:
            r = Repo(m)
            self.repos[(r.type, r.id)] = r
            self.lower[(r.type, r.id.lower())] = r
            for a in r.aliases:
                self.alias[(r.type, a.lower())] = r
        self.tokens = manifest.get("tokens", {})

    def change_tokens(self, add=None, revoke=()):
        """Adds (or replaces) and revokes tokens at run time (``POST /_sim/tokens``): ``add`` maps a
        token to its user dict (``user``, and the ``private`` / ``gated`` repo id patterns it reads),
        ``revoke`` lists tokens that become invalid (401). Raises ValueError on a malformed change.
        The dict is replaced whole, so a request in flight sees the old or the new set."""
        add = {} if add is None else add
        if not isinstance(add, dict) or not isinstance(revoke, (list, tuple)):
            raise ValueError("'add' is an object of token -> user, 'revoke' a list of tokens")
        for tok, u in add.items():
            if not tok or not isinstance(u, dict) or not isinstance(u.get("user"), str):
                raise ValueError(f"token {tok!r}: give an object with a 'user' name")
            for k in ("private", "gated"):
                if not all(isinstance(p, str) for p in u.get(k, [])):
                    raise ValueError(f"token {tok!r}: '{k}' is a list of repo id patterns")
        tokens = dict(self.tokens)
        for tok in revoke:
            tokens.pop(tok, None)
        for tok, u in add.items():
            tokens[tok] = {"user": u["user"], "private": list(u.get("private", [])), "gated": list(u.get("gated", []))}
        self.tokens = tokens
        return tokens

    @staticmethod
    def parse_id(spec):
        """(type, lowercase id) of "org/name", "models/org/name", "datasets/org/name", "spaces/org/name"."""
        head, _, rest = spec.strip("/").partition("/")
        if head in TYPES and rest.count("/") == 1:
            return TYPES[head], rest.lower()
        return "model", spec.strip("/").lower()

    def find(self, rtype, rid):
        """(repo, exact) for an id: exact match, else an alias or a case-insensitive match."""
        r = self.repos.get((rtype, rid))
        if r:
            return r, True
        r = self.alias.get((rtype, rid.lower())) or self.lower.get((rtype, rid.lower()))
        return r, False

    def can_read_private(self, user, repo):
        return bool(user) and any(fnmatch.fnmatchcase(repo.id, p) for p in user.get("private", []))

    def gated_approved(self, user, repo):
        return bool(user) and any(fnmatch.fnmatchcase(repo.id, p) for p in user.get("gated", []))


def token_id(authorization):
    """What the request log keeps of an ``Authorization`` header: the first 12 hex digits of the
    SHA-256 of its token (never the token), or None without one."""
    if not authorization:
        return None
    tok = authorization.split(None, 1)[1].strip() if authorization.lower().startswith("bearer ") else authorization.strip()
    return hashlib.sha256(tok.encode()).hexdigest()[:12]
