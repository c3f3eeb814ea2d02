"""Helpers for the simulator's own tests: one simulator per test class (own state dir), raw HTTP
requests with http.client (redirects are never followed implicitly), manifest lookups."""
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
HUBSIM = os.path.dirname(HERE)
RUN = os.path.join(HUBSIM, "run")
# Content is deterministic and keyed by spec, so all test classes share one cache (fast starts).
CACHE = os.environ.get("HUBSIM_TEST_CACHE", "/tmp/hffs-hubsim-testcache")
SAMPLE = "hffs-test/tiny-model"


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def h(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Resp {self.status} {dict(self.headers)} {self.body[:200]!r}>"


class Sim:
    def __init__(self, *args, name="sim"):
        self.state = tempfile.mkdtemp(prefix=f"hubsim-{name}-")
        self.args = list(args)
        self.env = {}
        self.stdout = ""

    def start(self):
        r = subprocess.run([RUN, "start", "--state-dir", self.state, "--cache-dir", CACHE, *self.args],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"run start failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        self.stdout = r.stdout
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            self.env[k] = v
        with open(os.path.join(self.state, "manifest.json")) as f:
            self.manifest = json.load(f)
        with open(os.path.join(self.state, "config.json")) as f:
            self.config = json.load(f)
        return self

    def stop(self):
        subprocess.run([RUN, "stop", "--state-dir", self.state], capture_output=True, timeout=60)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    @property
    def endpoint(self):
        return self.env["HF_ENDPOINT"]

    @property
    def cdn(self):
        return self.env["HUBSIM_CDN"]

    def ssl_ctx(self):
        ca = self.env.get("HUBSIM_CA_FILE")
        return ssl.create_default_context(cafile=ca) if ca else None

    # --------------------------------------------------------------------- HTTP
    def conn(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=self.ssl_ctx())
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

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
                loc = r.h("Location")
                nxt = urllib.parse.urljoin(url, loc)
                if urllib.parse.urlsplit(nxt).netloc != urllib.parse.urlsplit(url).netloc:
                    kw.pop("token", None)  # never send the Hub token to another host
                url = nxt
                continue
            return r, hops
        raise AssertionError(f"too many redirects: {hops}")

    def control(self, path, body=None):
        r = self.request("POST" if body is not None else "GET", "/_sim/" + path, body=body if body is not None else None)
        assert r.status == 200, r
        return r.json()

    def stats(self, log=True):
        return self.control("stats" + ("" if log else "?log=0"))

    def reset(self):
        self.control("reset", {})

    def configure(self, **knobs):
        return self.control("config", knobs)

    # --------------------------------------------------------------------- manifest
    def repo(self, rid, rtype="model"):
        for r in self.manifest["repos"]:
            if r["id"] == rid and r["type"] == rtype:
                return r
        raise KeyError(rid)

    def files(self, rid, rev="main", rtype="model"):
        r = self.repo(rid, rtype)
        sha = r["refs"].get(rev, rev)
        return {f["path"]: f for f in r["commits"][sha]["files"]}, sha

    def token(self):
        return self.env["HUBSIM_TOKEN"]

    def wait_for(self, pred, timeout=10, what="condition"):
        """Poll pred() until truthy (deadline, never a fixed sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")


class SimCase(unittest.TestCase):
    SIM_ARGS = ()
    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(*cls.SIM_ARGS, name=cls.__name__.lower()).start()

    @classmethod
    def tearDownClass(cls):
        if cls.sim:
            cls.sim.cleanup()

    def assertStdHeaders(self, r):
        for h in ("RateLimit", "RateLimit-Policy", "X-Request-Id"):
            self.assertTrue(r.h(h), f"{h} missing in {r}")
