"""The API + resolve server (Python standard library, HTTP/1.1 keep-alive).

Routes follow hub-protocol.md section 1.5; see README.md for the full list. The raw request path is
split on "/" *before* percent-decoding, so a revision sent as one segment (``refs%2Fpr%2F1``) stays
one segment, and tree folders work as ``a/b`` and ``a%2Fb``.
"""
import base64
import email.utils
import hashlib
import http.server
import json
import math
import mimetypes
import os
import select
import socket
import socketserver
import threading
import time
import urllib.parse

from . import cdn as cdnmod
from .faults import corrupt_chunk
from .repos import PLURAL, PREFIX, TYPES, Registry, token_id

STOP = threading.Event()

EXPOSE = ("X-Repo-Commit, X-Request-Id, X-Error-Code, X-Error-Message, X-Total-Count, ETag, Link, "
          "Accept-Ranges, Content-Range, X-Linked-Size, X-Linked-ETag, X-Xet-Hash")
REASONS = http.server.BaseHTTPRequestHandler.responses


class HttpError(Exception):
    def __init__(self, status, message, code=None, headers=()):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, list(headers)


def _bool(v, default=False):
    if v is None:
        return default
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def parse_range(h, size):
    """(start, end_inclusive) | None (no/ignored Range) | "unsatisfiable"."""
    if not h or not h.strip().lower().startswith("bytes="):
        return None
    spec = h.split("=", 1)[1].strip()
    if "," in spec:
        return None  # multi-range: serve the whole body, as many servers do
    a, _, b = spec.partition("-")
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                return "unsatisfiable"
            return (max(0, size - n), size - 1) if size else "unsatisfiable"
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


def etag_matches(header, etag):
    if not header:
        return False
    for part in header.split(","):
        p = part.strip()
        if p == "*":
            return True
        if p.startswith("W/"):
            p = p[2:]
        if p.strip('"') == etag:
            return True
    return False


class Stats:
    """Request log and counters since the last reset, for both hosts."""

    def __init__(self, access_log_path, faults, cdn_status_url=None, ssl_ctx=None):
        self.lock = threading.Lock()
        self.api = []
        self.cdn = []
        self.alog = cdnmod.AccessLog(access_log_path)
        self.faults = faults
        self.cdn_status_url = cdn_status_url
        self.ssl_ctx = ssl_ctx
        self.seq = 0

    def record(self, e):
        with self.lock:
            self.api.append(e)

    def _settle_cdn(self):
        """Wait (<= 250 ms) until nginx has no request in flight but the status probe itself, so a
        response that just completed is in the access log."""
        if not self.cdn_status_url:
            return
        import urllib.request
        deadline = time.monotonic() + 0.25
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.cdn_status_url, timeout=1, context=self.ssl_ctx) as r:
                    txt = r.read().decode()
                writing = int(txt.split("Writing:")[1].split()[0])
                if writing <= 1:
                    return
            except Exception:
                return
            time.sleep(0.01)

    def _pull_cdn(self):
        for e in self.alog.read_new():
            self.cdn.append({"host": "cdn", "kind": "cdn", "method": e.get("m"), "path": e.get("u"),
                             "status": e.get("s"), "range": e.get("r") or None, "had_auth": bool(e.get("a")),
                             "bytes": e.get("b", 0), "t": e.get("t"), "request_id": e.get("id"),
                             "protocol": e.get("p"), "conn": e.get("c")})

    def reset(self):
        self._settle_cdn()
        with self.lock:
            self._pull_cdn()
            self.api = []
            self.cdn = []
        self.faults.reset_counters()

    def snapshot(self, with_log=True):
        self._settle_cdn()
        with self.lock:
            self._pull_cdn()
            entries = sorted(self.api + self.cdn, key=lambda e: e["t"] or 0)
        by_kind, by_host, by_status = {}, {"api": 0, "cdn": 0}, {}
        bytes_by_host = {"api": 0, "cdn": 0}
        cdn_auth = api_auth = 0
        for e in entries:
            by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
            by_host[e["host"]] += 1
            by_status[str(e["status"])] = by_status.get(str(e["status"]), 0) + 1
            bytes_by_host[e["host"]] += e["bytes"] or 0
            if e["had_auth"]:
                if e["host"] == "cdn":
                    cdn_auth += 1
                else:
                    api_auth += 1
        with self.faults.lock:
            injected = dict(self.faults.injected)
        out = {"total_requests": len(entries), "by_kind": by_kind, "by_host": by_host, "by_status": by_status,
               "bytes_served": sum(bytes_by_host.values()), "bytes_by_host": bytes_by_host,
               "cdn_auth_requests": cdn_auth, "api_auth_requests": api_auth, "faults_injected": injected}
        if with_log:
            out["log"] = entries
        return out


class Hub:
    """Everything the handlers share: registry, config, stats, endpoints."""

    def __init__(self, manifest, *, state, faults, secret, cdn_base, manifest_path):
        self.reg = Registry(manifest)
        self.state = state
        self.faults = faults
        self.secret = secret
        self.cdn_base = cdn_base
        self.api_base = None  # set once bound
        self.manifest_path = manifest_path
        self.stats = None
        self.started = time.time()
        self.quota_lock = threading.Lock()
        self.window = (0, {"api": 0, "resolvers": 0})
        self.req_seq = 0
        self.pending_cdn = {}
        self.pending_lock = threading.Lock()
        self._hidden = ((), set())  # (hidden_repos it was parsed from, {(type, lowercase id)})

    def next_request_id(self):
        with self.quota_lock:
            self.req_seq += 1
            n = self.req_seq
        return "Root=1-%08x-%s" % (int(time.time()), hashlib.sha1(b"%d" % n).hexdigest()[:24])

    def quota(self, bucket):
        """(remaining, seconds to reset, quota, exhausted) after counting one request."""
        cfg = self.faults.config
        q = cfg["quota_api"] if bucket == "api" else cfg["quota_resolvers"]
        now = time.time()
        with self.quota_lock:
            k = int((now - self.started) // 300)
            if self.window[0] != k:
                self.window = (k, {"api": 0, "resolvers": 0})
            self.window[1][bucket] += 1
            used = self.window[1][bucket]
        t = max(1, math.ceil(self.started + (k + 1) * 300 - now))
        return max(0, q - used), t, q, used > q

    def hidden(self, repo):
        """True when the mirror knob ``hidden_repos`` names this repo (by its canonical id, any case)."""
        names = self.faults.config["hidden_repos"]
        if not names:
            return False
        key = tuple(names)
        if self._hidden[0] != key:
            self._hidden = (key, {Registry.parse_id(n) for n in names})
        return (repo.type, repo.id.lower()) in self._hidden[1]

    def sync_gate(self):
        cdnmod.set_gate(self.state, self.faults.cdn_gate_needed())


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, handler, hub, ssl_ctx=None):
        self.hub = hub
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        if self.ssl_ctx is not None:  # handshake in the worker thread, never in the accept loop
            try:
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        pass  # client resets, TLS errors: nothing to report


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, a small body waits for the ACK of
    # the headers, which the client delays (~40 ms), and every small file cost 40 ms here.
    disable_nagle_algorithm = True
    server_version = "hubsim"
    sys_version = ""
    timeout = 600

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    # ------------------------------------------------------------------ plumbing
    @property
    def hub(self):
        return self.server.hub

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, headers=(), body=b"", file=None):
        """One complete response. ``body`` bytes, or ``file`` = (path, start, length)."""
        fault = self.fault
        length = file[2] if file else len(body)
        hs = [("Date", email.utils.formatdate(usegmt=True)), ("X-Request-Id", self.request_id)]
        hs += self.extra_headers
        hs += list(headers)
        # Logged: a test can wait on what a redirect handed out (e.g. until a signed URL expires).
        self.location = next((v for k, v in hs if k == "Location"), None)
        hs.append(("Content-Length", str(length)))
        if self.close_connection:
            hs.append(("Connection", "close"))
        head = f"HTTP/1.1 {status} {REASONS.get(status, ('',))[0]}\r\n".encode()
        head += b"".join(f"{k}: {v}\r\n".encode("utf-8") for k, v in hs) + b"\r\n"
        is_head = self.command == "HEAD"
        sent = 0
        if fault and fault.kind == "drop":
            if is_head or length == 0:
                self._abort()
            else:
                self.wfile.write(head)
                half = length // 2
                if file:
                    with open(file[0], "rb") as f:
                        f.seek(file[1])
                        self.wfile.write(f.read(half))
                else:
                    self.wfile.write(body[:half])
                sent = half
                self._abort()
            self._log(status, sent)
            return
        if fault and fault.kind == "stall":
            if not is_head:
                self.wfile.write(head)
            self._stall(fault.stall_ms)
            self._log(status, 0)
            return
        if fault and fault.kind == "stall_body":
            if is_head or length == 0:
                self._stall(fault.stall_ms)  # no body to stall in: nothing at all, as stall on HEAD
            else:
                self.wfile.write(head)
                sent = length // 2
                if file:
                    with open(file[0], "rb") as f:
                        self.connection.sendfile(f, file[1], sent)
                else:
                    self.wfile.write(body[:sent])
                self._stall(fault.stall_ms)
            self._log(status, sent)
            return
        self.wfile.write(head)
        if fault and fault.kind == "corrupt" and not is_head and length and status in (200, 206) \
                and self.content and self.hub.faults.claim(fault.leg, "corrupt"):
            self._send_corrupt(body, file, length)
            self._log(status, length)
            return
        if not is_head and length:
            if file:
                with open(file[0], "rb") as f:
                    self.connection.sendfile(f, file[1], file[2])
            else:
                self.wfile.write(body)
            sent = length
        self._log(status, sent)

    def _send_corrupt(self, body, file, length):
        """The body with corrupt_chunk applied: same length, wrong bytes."""
        if not file:
            self.wfile.write(corrupt_chunk(body, 0, length))
            return
        with open(file[0], "rb") as f:
            f.seek(file[1])
            done = 0
            while done < length:
                data = f.read(min(1 << 20, length - done))
                if not data:
                    break
                self.wfile.write(corrupt_chunk(data, done, length))
                done += len(data)

    def _abort(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stall(self, ms):
        self.close_connection = True
        deadline = time.monotonic() + ms / 1000 if ms else None
        while not STOP.is_set():
            if deadline and time.monotonic() >= deadline:
                break
            r, _, _ = select.select([self.connection], [], [], 0.2)
            if r:
                try:
                    if not socket.socket.recv(self.connection, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                        break  # peer closed
                except BlockingIOError:
                    pass
                except OSError:
                    break
                time.sleep(0.2)
        self._abort()

    def _log(self, status, nbytes):
        if self.kind is None:
            return
        self.hub.stats.record({"host": "api", "kind": self.kind, "method": self.command, "path": self.raw_path,
                               "query": self.raw_query, "status": status, "range": self.headers.get("Range"),
                               "had_auth": bool(self.headers.get("Authorization")),
                               "token_id": token_id(self.headers.get("Authorization")), "bytes": nbytes,
                               "t": self.t0, "request_id": self.request_id, "location": self.location})

    def json(self, status, obj, headers=()):
        self.send(status, [("Content-Type", "application/json; charset=utf-8")] + list(headers),
                  json.dumps(obj, ensure_ascii=False).encode())

    def error(self, e):
        hs = list(e.headers)
        if e.code:
            hs.append(("X-Error-Code", e.code))
        hs.append(("X-Error-Message", e.message))
        self.json(e.status, {"error": e.message}, hs)

    # ------------------------------------------------------------------ dispatch
    def dispatch(self):
        self.t0 = time.time()
        self.fault = None
        self.kind = None
        self.content = False  # set by the handlers whose body is file content (corrupt applies)
        self.extra_headers = []
        self.location = None
        self.request_id = self.hub.next_request_id()
        raw = self.path
        if raw.startswith("http://") or raw.startswith("https://"):
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        self.raw_path, _, self.raw_query = raw.partition("?")
        self.query = urllib.parse.parse_qs(self.raw_query, keep_blank_values=True)
        self.body = self._body() if self.command == "POST" else b""
        segs = self.raw_path.split("/")[1:]
        try:
            if segs and segs[0] == "_sim":
                return self.control(segs[1:])
            route = self.classify(segs)
            self.kind = route[0]
            leg = "resolve" if self.kind in ("resolve", "resolve_cache", "raw") else "api"
            bucket = "resolvers" if leg == "resolve" else "api"
            r, t, q, exhausted = self.hub.quota(bucket)
            self.extra_headers = [("RateLimit", f'"{bucket}";r={r};t={t}'),
                                  ("RateLimit-Policy", f'"fixed window";"{bucket}";q={q};w=300'),
                                  ("Access-Control-Expose-Headers", EXPOSE),
                                  ("Vary", "Origin, Accept")]
            if exhausted:
                self.extra_headers.append(("Retry-After", str(t)))
                raise HttpError(429, "You have exceeded our rate limit. Please retry later.")
            d = self.hub.faults.decide(leg, self.raw_path)
            if d.delay_ms:
                time.sleep(d.delay_ms / 1000)
            if d.kind == "ratelimit":
                self.extra_headers[0] = ("RateLimit", f'"{bucket}";r=0;t={d.retry_after}')
                self.extra_headers.append(("Retry-After", str(d.retry_after)))
                raise HttpError(429, "Rate limit exceeded (injected fault). Retry after the delay.")
            if d.kind == "error":
                raise HttpError(d.status, "Internal Error - injected fault")
            self.fault = d if d.kind else None
            route[1](*route[2:])
        except HttpError as e:
            self.error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug: answer 500 and keep serving
            import traceback
            traceback.print_exc()
            self.close_connection = True
            try:
                self.error(HttpError(500, f"hubsim internal error: {e!r}"))
            except OSError:
                pass

    def classify(self, segs):
        """(kind, handler, *args) for a request path split on '/' (still percent-encoded)."""
        if len(segs) >= 2 and segs[0] == "api":
            if segs[1] == "whoami-v2":
                return ("whoami", self.h_whoami)
            if segs[1] == "resolve-cache" and len(segs) >= 7 and segs[2] in TYPES:
                return ("resolve_cache", self.h_resolve_cache, TYPES[segs[2]], segs[3], segs[4], segs[5],
                        "/".join(segs[6:]))
            if segs[1] in TYPES and len(segs) >= 3 and "%2f" in segs[2].lower():
                return ("other", self.h_bad_repo_id)  # the Hub answers 400 to an encoded "/" (2025-12)
            if segs[1] in TYPES and len(segs) >= 4:
                rtype, ns, name, rest = TYPES[segs[1]], segs[2], segs[3], segs[4:]
                if not rest or rest == [""]:
                    return ("repo_info", self.h_repo_info, rtype, ns, name, None)
                op = rest[0]
                if op == "revision" and len(rest) >= 2:
                    return ("repo_info", self.h_repo_info, rtype, ns, name, "/".join(rest[1:]))
                if op == "tree" and len(rest) >= 2:
                    return ("tree", self.h_tree, rtype, ns, name, rest[1], "/".join(rest[2:]))
                if op == "paths-info" and len(rest) >= 2:
                    return ("paths_info", self.h_paths_info, rtype, ns, name, "/".join(rest[1:]))
                if op == "refs" and len(rest) == 1:
                    return ("refs", self.h_refs, rtype, ns, name)
                if op == "commits" and len(rest) >= 2:
                    return ("commits", self.h_commits, rtype, ns, name, "/".join(rest[1:]))
                if op == "auth-check":
                    return ("auth_check", self.h_auth_check, rtype, ns, name)
            return ("other", self.h_not_found)
        s = segs
        rtype = "model"
        if s and s[0] in ("datasets", "spaces"):
            rtype = TYPES[s[0]]
            s = s[1:]
        if len(s) >= 5 and s[2] in ("resolve", "raw"):
            return (s[2], self.h_resolve, rtype, s[0], s[1], s[2], s[3], "/".join(s[4:]))
        return ("other", self.h_not_found)

    # ------------------------------------------------------------------ auth and lookup
    def user(self):
        """None (anonymous) or the token's user dict; 401 for an unknown token."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        tok = h.split(None, 1)[1].strip() if h.lower().startswith("bearer ") else h.strip()
        u = self.hub.reg.tokens.get(tok)
        if u is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        return u

    def repo(self, rtype, ns, name, *, content):
        """The repo a request may see, after the token check, renames/case (307) and the privacy
        rule (401 anonymous / 404 with a token). ``content``: gated repos need approval.

        Mirror knobs: a repo in ``hidden_repos`` is missing (under every name); with ``refuse_gated``
        a gated or private repo is answered as to an anonymous client, whatever token came (even an
        invalid one); with ``lag_commits`` the repo returned is the lagging mirror's view of it."""
        cfg = self.hub.faults.config
        try:
            user, bad_token = self.user(), None
        except HttpError as e:
            user, bad_token = None, e
        rid = urllib.parse.unquote(ns) + "/" + urllib.parse.unquote(name)
        repo, exact = self.hub.reg.find(rtype, rid)
        if repo and self.hub.hidden(repo):
            repo = None
        if repo and cfg["refuse_gated"] and (repo.gated or repo.private):
            user = None  # answered as to an anonymous client: the token, even an invalid one, is ignored
        elif bad_token:
            raise bad_token
        visible = repo and (not repo.private or self.hub.reg.can_read_private(user, repo))
        if not visible:
            if user is None:
                raise HttpError(401, "Invalid username or password.", "RepoNotFound")
            raise HttpError(404, "Repository not found", "RepoNotFound")
        if not exact:
            old = f"/{ns}/{name}/"
            new = f"/{repo.id}/"
            i = self.raw_path.find(old)
            loc = self.raw_path[:i] + new + self.raw_path[i + len(old):] if i >= 0 else self.raw_path
            if i < 0 and self.raw_path.endswith(f"/{ns}/{name}"):
                loc = self.raw_path[: -len(f"{ns}/{name}")] + repo.id
            if self.raw_query:
                loc += "?" + self.raw_query
            body = f"Temporary Redirect. Redirecting to {loc}".encode()
            self.send(307, [("Location", loc), ("Content-Type", "text/plain; charset=utf-8")], body)
            return None, user
        if repo.disabled:
            raise HttpError(403, "Access to this resource is disabled.")
        if content and repo.gated and not self.hub.reg.gated_approved(user, repo):
            what = f"{repo.type if repo.type != 'model' else 'model'} {repo.id}"
            if user is None:
                raise HttpError(401, f"Access to {what} is restricted. You must have access to it and be "
                                     "authenticated to access it. Please log in.", "GatedRepo")
            raise HttpError(403, f"Access to {what} is restricted and you are not in the authorized list. "
                                 f"Visit {self.base()}/{PREFIX[repo.type]}{repo.id} to ask for access.", "GatedRepo")
        return repo.lagged(cfg["lag_commits"]), user

    def commit(self, repo, rev_raw):
        rev = urllib.parse.unquote(rev_raw)
        sha = repo.resolve(rev)
        if not sha:
            raise HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[sha]

    def base(self):
        host = self.headers.get("Host")
        scheme = "https" if self.server.ssl_ctx else "http"
        return f"{scheme}://{host}" if host else self.hub.api_base

    # ------------------------------------------------------------------ API handlers
    def h_not_found(self):
        raise HttpError(404, "Sorry, we can't find the page you are looking for.")

    def h_bad_repo_id(self):
        raise HttpError(400, "Invalid repo id: the '/' between namespace and name must not be encoded")

    def h_whoami(self):
        u = self.user()
        if u is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        self.json(200, {"type": "user", "id": hashlib.sha1(u["user"].encode()).hexdigest()[:24], "name": u["user"],
                        "fullname": u["user"], "orgs": [], "auth": {"type": "access_token",
                                                                    "accessToken": {"role": "read"}}})

    def h_auth_check(self, rtype, ns, name):
        repo, _ = self.repo(rtype, ns, name, content=True)
        if repo:
            self.json(200, {})

    def entry(self, repo, c, kind, path, expand):
        if kind == "directory":
            e = {"type": "directory", "oid": c.dir_oids[path], "size": 0, "path": path}
        else:
            f = c.files[path]
            e = {"type": "file", "oid": f["oid"], "size": f["size"], "path": path}
            if f["lfs"]:
                e["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": f["pointer_size"]}
        if expand:
            lc = repo.commits[c.last_commit[path]]
            e["lastCommit"] = {"id": lc.sha, "title": lc.title, "date": lc.date}
            if kind == "file":
                e["securityFileStatus"] = {"status": "safe", "avScan": {"status": "safe"},
                                           "pickleImportScan": {"status": "unscanned"}}
        return e

    def h_repo_info(self, rtype, ns, name, rev_raw):
        repo, _ = self.repo(rtype, ns, name, content=False)
        if not repo:
            return
        c = self.commit(repo, rev_raw if rev_raw is not None else repo.default_branch)
        blobs = _bool(self.query.get("blobs", [None])[0])
        expand = []
        for v in self.query.get("expand", []) + self.query.get("expand[]", []):
            expand += [x for x in v.split(",") if x]
        # What expand= leaves out is not computed: siblings of a million-file repo take seconds.
        siblings = []
        for p in (sorted(c.files) if not expand or "siblings" in expand else []):
            f = c.files[p]
            s = {"rfilename": p}
            if blobs:
                s.update({"size": f["size"], "blobId": f["oid"]})
                if f["lfs"]:
                    s["lfs"] = {"sha256": f["sha256"], "size": f["size"], "pointerSize": f["pointer_size"]}
            siblings.append(s)
        info = {"_id": repo.object_id, "id": repo.id, "author": repo.id.split("/")[0], "sha": c.sha,
                "lastModified": c.date, "createdAt": repo.created_at, "private": repo.private,
                "gated": repo.gated, "disabled": repo.disabled, "downloads": 0, "likes": 0,
                "tags": ["hffs-test"], "cardData": repo.card, "siblings": siblings,
                "usedStorage": sum(f["size"] for f in c.files.values()) if not expand or "usedStorage" in expand
                else 0}
        if rtype == "model":
            info.update({"modelId": repo.id, "library_name": "transformers", "pipeline_tag": "text-generation"})
        elif rtype == "space":
            info.update({"sdk": "gradio", "subdomain": repo.id.replace("/", "-"),
                         "runtime": {"stage": "RUNNING", "hardware": {"current": "cpu-basic"}}})
        if expand:
            info = {k: v for k, v in info.items() if k in expand or k in ("_id", "id")}
        self.json(200, info)

    def h_tree(self, rtype, ns, name, rev_raw, path_raw):
        repo, _ = self.repo(rtype, ns, name, content=False)
        if not repo:
            return
        c = self.commit(repo, rev_raw)
        d = urllib.parse.unquote(path_raw).strip("/")
        if not c.is_dir(d):
            raise HttpError(404, f'{d} does not exist on "{urllib.parse.unquote(rev_raw)}"', "EntryNotFound",
                            [("X-Repo-Commit", c.sha)])
        recursive = _bool(self.query.get("recursive", [None])[0])
        expand = _bool(self.query.get("expand", [None])[0])
        cfg = self.hub.faults.config
        try:
            limit = int(self.query.get("limit", [0])[0] or 0)
        except ValueError:
            raise HttpError(400, "Invalid limit")
        page = limit if limit > 0 else (50 if expand else cfg["page_size"])
        page = min(page, 100 if expand else 10000)
        if cfg.get("max_page_size"):
            page = min(page, cfg["max_page_size"])
        key = hashlib.sha1(f"{c.sha}:{d}:{recursive}".encode()).hexdigest()[:12]
        start = 0
        cur = self.query.get("cursor", [None])[0]
        if cur:
            try:
                k, off = base64.urlsafe_b64decode(cur + "=" * (-len(cur) % 4)).decode().split(":")
                start = int(off)
                assert k == key and 0 <= start
            except Exception:
                raise HttpError(400, "Invalid cursor")
        items, _ = c.listing_upto(d, recursive, start + page + 1)
        if start > len(items):
            raise HttpError(400, "Invalid cursor")
        chunk = items[start:start + page]
        body = [self.entry(repo, c, kind, p, expand) for kind, p in chunk]
        hs = []
        if start + page < len(items):
            nxt = base64.urlsafe_b64encode(f"{key}:{start + page}".encode()).decode().rstrip("=")
            q = [p for p in self.raw_query.split("&") if p and not p.startswith("cursor=")]
            q.append("cursor=" + nxt)
            hs.append(("Link", f'<{self.base()}{self.raw_path}?{"&".join(q)}>; rel="next"'))
        self.json(200, body, hs)

    def h_paths_info(self, rtype, ns, name, rev_raw):
        repo, _ = self.repo(rtype, ns, name, content=False)
        if not repo:
            return
        c = self.commit(repo, rev_raw)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json":
            try:
                doc = json.loads(self.body or b"{}")
            except ValueError:
                raise HttpError(400, "Invalid JSON body")
            paths, expand = doc.get("paths", []), bool(doc.get("expand", False))
            if isinstance(paths, str):
                paths = [paths]
        else:
            form = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            paths = form.get("paths", []) + form.get("paths[]", [])
            expand = _bool((form.get("expand") or [None])[0])
        out = []
        seen = set()
        for p in paths:
            p = p.strip("/")
            if p in seen:
                continue
            seen.add(p)
            if p in c.files:
                out.append(self.entry(repo, c, "file", p, expand))
            elif p and p in c.dir_oids:
                out.append(self.entry(repo, c, "directory", p, expand))
        self.json(200, out)

    def h_refs(self, rtype, ns, name):
        repo, _ = self.repo(rtype, ns, name, content=False)
        if not repo:
            return
        out = {"branches": [{"name": k, "ref": f"refs/heads/{k}", "targetCommit": v} for k, v in repo.branches.items()],
               "converts": [],
               "tags": [{"name": k, "ref": f"refs/tags/{k}", "targetCommit": v} for k, v in repo.tags.items()]}
        if _bool(self.query.get("include_prs", [None])[0]):
            out["pullRequests"] = [{"name": f"refs/pr/{k}", "ref": f"refs/pr/{k}", "targetCommit": v}
                                   for k, v in repo.prs.items()]
        self.json(200, out)

    def h_commits(self, rtype, ns, name, rev_raw):
        repo, _ = self.repo(rtype, ns, name, content=False)
        if not repo:
            return
        c = self.commit(repo, rev_raw)
        hist = repo.history(c.sha)
        try:
            p = int(self.query.get("p", ["0"])[0] or 0)
            limit = int(self.query.get("limit", ["50"])[0] or 50)
        except ValueError:
            raise HttpError(400, "Invalid page")
        chunk = hist[p * limit:(p + 1) * limit]
        hs = [("X-Total-Count", str(len(hist)))]
        if (p + 1) * limit < len(hist):
            q = [x for x in self.raw_query.split("&") if x and not x.startswith("p=")] + [f"p={p + 1}"]
            hs.append(("Link", f'<{self.base()}{self.raw_path}?{"&".join(q)}>; rel="next"'))
        self.json(200, [{"id": x.sha, "title": x.title, "message": x.message, "date": x.date,
                         "authors": [{"user": "hubsim"}]} for x in chunk], hs)

    # ------------------------------------------------------------------ resolve
    def h_resolve(self, rtype, ns, name, op, rev_raw, path_raw):
        repo, _ = self.repo(rtype, ns, name, content=True)
        if not repo:
            return
        c = self.commit(repo, rev_raw)
        path = urllib.parse.unquote(path_raw)
        f = c.files.get(path)
        if f is None:
            raise HttpError(404, "Entry not found", "EntryNotFound", [("X-Repo-Commit", c.sha)])
        if op == "raw":
            if f["lfs"]:
                from .content import lfs_pointer
                ptr = lfs_pointer(f["sha256"], f["size"])
                self.content = True
                return self.send(200, [("Content-Type", "text/plain; charset=utf-8"), ("X-Repo-Commit", c.sha),
                                       ("ETag", f'"{f["oid"]}"')], ptr)
            return self.serve_file(f, c.sha, etag=f["git_sha1"], conditional=False)
        cfg = self.hub.faults.config
        inm = self.headers.get("If-None-Match")
        if f["lfs"]:
            meta = [("X-Linked-Etag", f'"{f["sha256"]}"'), ("X-Linked-Size", str(f["size"])),
                    ("X-Repo-Commit", c.sha)]
            if etag_matches(inm, f["sha256"]):
                return self.send(304, meta)
            ttl = cfg["sign_ttl"]
            if self.fault and self.fault.kind == "expire" and self.hub.faults.claim(self.fault.leg, "expire"):
                ttl = -1  # already expired: the CDN answers 403 "Request has expired"
            base = self.hub.cdn_base
            if cfg["cdn_scheme"]:
                base = cfg["cdn_scheme"] + base[base.index("://"):]
            url = cdnmod.signed_url(base, repo.object_id, f["sha256"], ttl, self.hub.secret)
            body = f"Found. Redirecting to {url}".encode()
            return self.send(302, [("Location", url), ("Content-Type", "text/plain; charset=utf-8")] + meta, body)
        if etag_matches(inm, f["git_sha1"]):
            return self.send(304, [("ETag", f'"{f["git_sha1"]}"'), ("X-Repo-Commit", c.sha)])
        if cfg["regular_direct"]:
            return self.serve_file(f, c.sha, etag=f["git_sha1"])
        rev = urllib.parse.unquote(rev_raw)
        q = urllib.parse.quote(f"/{repo.id}/resolve/{rev}/{path}", safe="")
        loc = (f"/api/resolve-cache/{PLURAL[rtype]}/{repo.id}/{c.sha}/{urllib.parse.quote(path)}"
               f"?{q}=&etag=%22{f['git_sha1']}%22")
        body = f"Temporary Redirect. Redirecting to {loc}".encode()
        self.send(307, [("Location", loc), ("Content-Type", "text/plain; charset=utf-8"),
                        ("X-Repo-Commit", c.sha)], body)

    def h_resolve_cache(self, rtype, ns, name, sha_raw, path_raw):
        repo, _ = self.repo(rtype, ns, name, content=True)
        if not repo:
            return
        sha = urllib.parse.unquote(sha_raw)
        c = repo.commits.get(sha)
        if c is None:
            raise HttpError(404, f"Invalid rev id: {sha}", "RevisionNotFound")
        f = c.files.get(urllib.parse.unquote(path_raw))
        if f is None:
            raise HttpError(404, "Entry not found", "EntryNotFound", [("X-Repo-Commit", c.sha)])
        self.serve_file(f, c.sha, etag=f["sha256"] if f["lfs"] else f["git_sha1"])

    def serve_file(self, f, commit, etag, conditional=True):
        size = f["size"]
        hs = [("ETag", f'"{etag}"'), ("X-Repo-Commit", commit), ("Accept-Ranges", "bytes"),
              ("Content-Type", mimetypes.guess_type(f["path"])[0] or "application/octet-stream")]
        if conditional and etag_matches(self.headers.get("If-None-Match"), etag):
            return self.send(304, hs[:2])
        rng = parse_range(self.headers.get("Range"), size)
        self.content = True
        if self.fault and self.fault.kind == "ignore_range":
            rng = None
        if rng == "unsatisfiable":
            return self.send(416, [("Content-Range", f"bytes */{size}"), ("X-Repo-Commit", commit)])
        if rng:
            a, b = rng
            return self.send(206, hs + [("Content-Range", f"bytes {a}-{b}/{size}")], file=(f["source"], a, b - a + 1))
        self.send(200, hs, file=(f["source"], 0, size))

    # ------------------------------------------------------------------ control endpoints
    def control(self, segs):
        op = "/".join(segs)
        hub = self.hub
        if op == "health":
            return self.json(200, {"ok": True, "api": hub.api_base, "cdn": hub.cdn_base})
        if op == "stats":
            return self.json(200, hub.stats.snapshot(with_log=_bool(self.query.get("log", ["1"])[0], True)))
        if op == "reset" and self.command == "POST":
            hub.stats.reset()
            return self.json(200, {"ok": True})
        if op == "config":
            if self.command == "POST":
                try:
                    cfg = hub.faults.update(json.loads(self.body or b"{}"))
                except (ValueError, TypeError) as e:
                    return self.json(400, {"error": str(e)})
                hub.sync_gate()
                return self.json(200, cfg)
            return self.json(200, hub.faults.snapshot())
        if op == "manifest":
            with open(hub.manifest_path, "rb") as fh:
                return self.send(200, [("Content-Type", "application/json")], fh.read())
        if op == "tokens":
            return self.tokens_control()
        if op == "commit" and self.command == "POST":
            return self.push_commit()
        if op == "cdn-gate":
            return self.cdn_gate()
        if op == "cdn-fault":
            return self.cdn_fault()
        self.json(404, {"error": f"unknown control endpoint /_sim/{op}"})

    def tokens_control(self):
        """GET: {"tokens": {token_id: user}}; POST {"add": {token: user dict}, "revoke": [token]}:
        the change, answered like GET (400 on a malformed body)."""
        reg = self.hub.reg
        if self.command == "POST":
            try:
                body = json.loads(self.body or b"{}")
                reg.change_tokens(body.get("add"), body.get("revoke", []))
            except (ValueError, TypeError, AttributeError) as e:
                return self.json(400, {"error": str(e)})
        return self.json(200, {"tokens": {token_id("Bearer " + t): u["user"] for t, u in reg.tokens.items()}})

    def push_commit(self):
        """A new commit on a branch (hubsim/push.py)."""
        from . import push
        try:
            body = json.loads(self.body or b"{}")
            rtype = body.get("type", "model")
            repo = self.hub.reg.repos.get((rtype, body.get("repo", "")))
            if repo is None:
                return self.json(404, {"error": f"no {rtype} repo {body.get('repo')!r}"})
            return self.json(200, push.push(repo, body, self.server.blobs))
        except (ValueError, TypeError, KeyError) as e:
            return self.json(400, {"error": str(e)})

    def cdn_gate(self):
        """auth_request target: 204 = serve (X-Hubsim-Rate feeds limit_rate), 401 = fault."""
        hub = self.hub
        cfg = hub.faults.config
        rid = self.headers.get("X-Hubsim-Id", "")
        uri = self.headers.get("X-Original-URI", "").split("?")[0]
        if cfg["cdn_reject_auth"] and self.headers.get("X-Hubsim-Has-Auth") == "1":
            from .faults import Decision
            d = Decision("reject_auth", 400)
        else:
            d = hub.faults.decide("cdn", uri)
            if d.delay_ms:
                time.sleep(d.delay_ms / 1000)
        if d.kind:
            with hub.pending_lock:
                hub.pending_cdn[rid] = d
                if len(hub.pending_cdn) > 10000:
                    hub.pending_cdn.clear()
            return self.send(401)
        self.send(204, [("X-Hubsim-Rate", str(cfg["cdn_rate"] or 0))])

    def cdn_fault(self):
        hub = self.hub
        rid = self.headers.get("X-Hubsim-Id", "")
        with hub.pending_lock:
            d = hub.pending_cdn.pop(rid, None)
        uri = self.headers.get("X-Original-URI", "").split("?")[0]
        xml = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{}</Code><Message>{}</Message></Error>'
        if d is None:
            return self.send(500, [("Content-Type", "application/xml")], xml.format("InternalError", "no decision").encode())
        if d.kind == "reject_auth":
            return self.send(400, [("Content-Type", "application/xml")], xml.format(
                "InvalidArgument", "Only one auth mechanism allowed").encode())
        if d.kind == "ratelimit":
            return self.send(429, [("Content-Type", "application/xml"), ("Retry-After", str(d.retry_after))],
                             xml.format("SlowDown", "Please reduce your request rate.").encode())
        if d.kind == "error":
            return self.send(d.status, [("Content-Type", "application/xml")],
                             xml.format("InternalError", "injected fault").encode())
        if d.kind == "expire":
            hub.faults.claim("cdn", "expire")
            return self.send(403, [("Content-Type", "application/xml")],
                             xml.format("AccessDenied", "Request has expired").encode())
        sha = uri.rsplit("/", 1)[-1]
        path = os.path.join(self.server.blobs, sha)
        size = os.path.getsize(path)
        self.fault = d if d.kind in ("drop", "stall", "stall_body", "corrupt") else None
        self.content = True
        hs = [("ETag", f'"{sha}"'), ("Accept-Ranges", "bytes"), ("Content-Type", "application/octet-stream"),
              ("Last-Modified", email.utils.formatdate(os.path.getmtime(path), usegmt=True)),
              ("Cache-Control", "public, max-age=31536000, immutable"), ("X-Cache", "Hit from cloudfront")]
        rng = None if d.kind == "ignore_range" else parse_range(self.headers.get("Range"), size)
        if rng == "unsatisfiable":
            self.fault = None
            return self.send(416, [("Content-Range", f"bytes */{size}")])
        if rng:
            a, b = rng
            hs = [h for h in hs if h[0] != "Accept-Ranges"]  # nginx sends it on 200 only
            return self.send(206, hs + [("Content-Range", f"bytes {a}-{b}/{size}")], file=(path, a, b - a + 1))
        self.send(200, hs, file=(path, 0, size))
