"""One simulator for a test, started with ``tests/hubsim/run start`` in a state dir of its own (so tests
may run in parallel), and the client side a test needs: its env lines, manifest and config, raw HTTP
requests (redirects never followed implicitly), the control endpoints, and ``wait_for``.

Shared by the simulator's own tests (tests/hubsim/tests/simtest.py) and hffs's integration tests
(tests/integration/harness.py). Standard library only; it never imports the server modules.
"""
import contextlib
import ctypes
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

HUBSIM = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(HUBSIM, "run")


NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000


def netns_argv(netns):
    """The argv prefix that runs a command in network namespace ``netns`` (``ip netns add`` name) and
    nothing else: unlike ``ip netns exec`` it keeps the mount namespace, so a FUSE mount made there
    is seen by everyone. Empty for None (the caller's own namespace)."""
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", "--"] if netns else []


@contextlib.contextmanager
def in_netns(netns):
    """The calling thread (only it: setns of a network namespace is per thread) in ``netns`` for the
    block; a socket made inside stays in that namespace after it. None: no change."""
    if not netns:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"{NETNS_DIR}/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns into {netns}: {os.strerror(e)}")
        try:
            yield
        finally:
            if libc.setns(own, _CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns back from {netns}: {os.strerror(e)}")
    finally:
        os.close(target)
        os.close(own)


class _NetnsHTTP(http.client.HTTPConnection):
    netns = None

    def connect(self):
        with in_netns(self.netns):
            super().connect()


class _NetnsHTTPS(http.client.HTTPSConnection):
    netns = None

    def connect(self):
        with in_netns(self.netns):
            super().connect()


def wait_for(cond, timeout=20.0, what="condition", interval=0.02):
    """Polls ``cond`` until it returns something truthy (returned), or fails after ``timeout`` s.

    The way to wait for something another process does: the condition is what the test needs
    (a counter in the simulator's stats, a file, a process gone), the deadline only bounds a hang.
    Never a fixed sleep standing in for "surely done by now".
    """
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def h(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Resp {self.status} {dict(self.headers)} {self.body[:200]!r}>"


class Simulator:
    """One running simulator (API server + nginx CDN). ``args`` go to ``run start``; ``cache_dir``
    shares generated content between simulators (it is keyed by spec), None = in the state dir.
    ``netns``: the network namespace it runs in (``run`` under nsenter, requests from sockets made
    there); ``state_root``: where its state dir is made (default: the temp dir)."""

    def __init__(self, *args, name="sim", prefix="hubsim-", cache_dir=None, netns=None, state_root=None):
        self.state = tempfile.mkdtemp(prefix=f"{prefix}{name}-", dir=state_root)
        self.args = list(args)
        self.cache_dir = cache_dir
        self.netns = netns
        self.env = {}
        self.stdout = ""
        self.manifest = self.config = None

    @property
    def state_dir(self):
        return self.state

    def start(self):
        cmd = netns_argv(self.netns) + [RUN, "start", "--state-dir", self.state]
        if self.cache_dir:
            cmd += ["--cache-dir", self.cache_dir]
        r = subprocess.run(cmd + self.args, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"run start failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        self._took_env(r)
        with open(os.path.join(self.state, "manifest.json")) as f:
            self.manifest = json.load(f)
        with open(os.path.join(self.state, "config.json")) as f:
            self.config = json.load(f)
        return self

    def _took_env(self, r):
        """Reads the KEY=VALUE lines ``run start`` / ``run revive`` printed."""
        self.stdout = r.stdout
        self.env = {}
        for line in r.stdout.splitlines():
            k, eq, v = line.partition("=")
            if eq and not line.startswith(" "):
                self.env[k.strip()] = v.strip()
        if "HF_ENDPOINT" not in self.env:
            raise AssertionError(f"run printed no HF_ENDPOINT:\n{r.stdout}\n{r.stderr}")

    def stop(self):
        subprocess.run([RUN, "stop", "--state-dir", self.state], capture_output=True, timeout=60)

    def kill(self):
        """The endpoint dies at once (``run kill``: SIGKILL to its process group): transfers in flight
        are cut, new connections refused. ``revive()`` brings it back as the same endpoint."""
        r = subprocess.run([RUN, "kill", "--state-dir", self.state], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"run kill failed ({r.returncode}):\n{r.stderr}")

    def revive(self):
        """``run revive``: returns once both legs answer again, on the same addresses and ports, with
        the same signing secret, knobs and content. Its stats start from zero."""
        before = (self.env.get("HF_ENDPOINT"), self.env.get("HUBSIM_CDN"))
        r = subprocess.run(netns_argv(self.netns) + [RUN, "revive", "--state-dir", self.state],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"run revive failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        self._took_env(r)
        if (self.endpoint, self.cdn) != before:
            raise AssertionError(f"revived on other addresses: {(self.endpoint, self.cdn)} != {before}")
        return self

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    @property
    def endpoint(self):
        return self.env["HF_ENDPOINT"]

    @property
    def cdn(self):
        return self.env["HUBSIM_CDN"]

    def token(self):
        return self.env["HUBSIM_TOKEN"]

    def ssl_ctx(self):
        ca = self.env.get("HUBSIM_CA_FILE")
        return ssl.create_default_context(cafile=ca) if ca else None

    # --------------------------------------------------------------------- HTTP
    def conn(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        if u.scheme == "https":
            c = _NetnsHTTPS(u.hostname, u.port, timeout=timeout, context=self.ssl_ctx())
        else:
            c = _NetnsHTTP(u.hostname, u.port, timeout=timeout)
        c.netns = self.netns
        return c

    def request(self, method, url, headers=None, body=None, token=None, timeout=30, conn=None):
        """One request; ``url`` absolute or a path on the API endpoint. Redirects are not followed."""
        if url.startswith("/"):
            url = self.endpoint + url
        u = urllib.parse.urlsplit(url)
        hs = dict(headers or {})
        if token:
            hs["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hs.setdefault("Content-Type", "application/json")
        c = conn or self.conn(url, timeout)
        path = u.path + ("?" + u.query if u.query else "")
        c.request(method, path, body=body, headers=hs)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return Resp(r.status, r.headers, data)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def head(self, url, **kw):
        return self.request("HEAD", url, **kw)

    def follow(self, method, url, max_hops=5, **kw):
        """Follow redirects by hand (relative ones against the current URL); returns (resp, hops)."""
        hops = []
        for _ in range(max_hops):
            if url.startswith("/"):
                url = self.endpoint + url
            r = self.request(method, url, **kw)
            hops.append((url, r))
            if r.status in (301, 302, 303, 307, 308):
                nxt = urllib.parse.urljoin(url, r.h("Location"))
                if urllib.parse.urlsplit(nxt).netloc != urllib.parse.urlsplit(url).netloc:
                    kw.pop("token", None)  # never send the Hub token to another host
                url = nxt
                continue
            return r, hops
        raise AssertionError(f"too many redirects: {hops}")

    # --------------------------------------------------------------------- control endpoints
    def control(self, op, body=None):
        """``/_sim/<op>`` (``op`` may also be given as the full path): POST when ``body`` is given."""
        path = op if op.startswith("/") else "/_sim/" + op
        r = self.request("POST" if body is not None else "GET", path, body=body)
        assert r.status == 200, r
        return r.json() if r.body else None

    def stats(self, log=True):
        return self.control("stats" + ("" if log else "?log=0"))

    def reset(self):
        self.control("reset", {})

    def configure(self, **knobs):
        return self.control("config", knobs)

    def tokens(self, add=None, revoke=()):
        """Adds ({token: {"user": ..., "private": [...], "gated": [...]}}) and revokes tokens now;
        returns {token_id: user} of the valid ones (repos.token_id)."""
        if add is None and not revoke:
            return self.control("tokens")["tokens"]
        return self.control("tokens", {"add": add or {}, "revoke": list(revoke)})["tokens"]

    def requests(self, kind=None, path=None):
        """Requests the simulator has logged since the last reset (both hosts), oldest first."""
        return [e for e in self.stats()["log"]
                if (kind is None or e["kind"] == kind) and (path is None or e["path"] == path)]

    def wait_for(self, pred, timeout=10, what="condition"):
        return wait_for(pred, timeout, what)

    # --------------------------------------------------------------------- manifest
    def repo(self, repo_id, repo_type="model"):
        for r in self.manifest["repos"]:
            if r["id"] == repo_id and r.get("type", "model") == repo_type:
                return r
        raise KeyError(repo_id)

    def files(self, repo_id, revision="main", repo_type="model"):
        """({path: file-dict}, commit sha) of the repo at a revision (branch, tag, ref or sha)."""
        r = self.repo(repo_id, repo_type)
        sha = r["refs"].get(revision, revision)
        return {f["path"]: f for f in r["commits"][sha]["files"]}, sha


def endpoint_hosts(i, base=10):
    """(API address, CDN address) of endpoint ``i`` (0-based) of ``start_endpoints``: 127.0.0.11 and
    127.0.0.12 for the first, .13/.14 for the second, ... (``base`` + 2i + 1, + 2)."""
    a = base + 2 * i + 1
    if a + 1 > 254:
        raise ValueError(f"endpoint {i}: no loopback address left above 127.0.0.{base}")
    return f"127.0.0.{a}", f"127.0.0.{a + 1}"


def start_endpoints(n, *args, cache_dir, name="ep", prefix="hubsim-", base=10):
    """Starts ``n`` simulators at once, the endpoints of one mount (first = preferred mirror), each on
    its own pair of loopback addresses (``endpoint_hosts``) with its own CDN, all serving the same
    content from the shared ``cache_dir``. ``args`` go to every ``run start``. Returns them in order;
    the caller stops them with ``cleanup()`` as any other simulator. If one fails to start, the others
    are cleaned up and the error raised."""
    sims = []
    for i in range(n):
        api, cdn = endpoint_hosts(i, base)
        sims.append(Simulator("--api-host", api, "--cdn-host", cdn, *args, name=f"{name}{i + 1}",
                              prefix=prefix, cache_dir=cache_dir))
    errors = []

    def start(sim):
        try:
            sim.start()
        except BaseException as e:  # reported below, after every start returned
            errors.append(e)

    # Starting them together is safe: content missing from the shared cache may be generated by more
    # than one of them, but blobs are written by atomic renames and the index is merged under flock.
    threads = [threading.Thread(target=start, args=(s,)) for s in sims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for s in sims:
            s.cleanup()
        raise errors[0]
    return sims
