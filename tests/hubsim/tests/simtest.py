"""Helpers for the simulator's own tests: one simulator per test class (own state dir), raw HTTP
requests with http.client (redirects are never followed implicitly), manifest lookups. The launcher
and client are hubsim/launch.py, shared with the integration tests (tests/integration/harness.py)."""
import hashlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
HUBSIM = os.path.dirname(HERE)
sys.path.insert(0, HUBSIM)
from hubsim import launch  # noqa: E402
from hubsim.launch import RUN, Resp, wait_for  # noqa: E402,F401  (re-exported for the tests)

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


class Sim(launch.Simulator):
    def __init__(self, *args, name="sim"):
        super().__init__(*args, name=name, prefix="hubsim-", cache_dir=CACHE)


class SimCase(unittest.TestCase):
    SIM_ARGS = ()
    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(*cls.SIM_ARGS, name=cls.__name__.lower())
        # Registered before start: even a failing setUpClass leaves no simulator running.
        cls.addClassCleanup(cls.sim.cleanup)
        cls.sim.start()

    def assertStdHeaders(self, r):
        for h in ("RateLimit", "RateLimit-Policy", "X-Request-Id"):
            self.assertTrue(r.h(h), f"{h} missing in {r}")


class EndpointsCase(unittest.TestCase):
    """Several simulators at once, the endpoints of one mount (launch.start_endpoints): endpoint i on
    127.0.0.(11 + 2i) (API) and 127.0.0.(12 + 2i) (CDN), one content cache."""
    ENDPOINTS = 2
    SIM_ARGS = ()
    sims = ()

    @classmethod
    def setUpClass(cls):
        cls.sims = launch.start_endpoints(cls.ENDPOINTS, *cls.SIM_ARGS, cache_dir=CACHE, name=cls.__name__.lower())
        for s in cls.sims:
            cls.addClassCleanup(s.cleanup)
