"""Fault knobs (start flags and POST /_sim/config) and the per-leg "every Nth request" decisions.

Legs: ``api`` (/api/... metadata: repo info, tree, paths-info, refs, commits, auth-check...),
``resolve`` (/resolve/, /raw/ and /api/resolve-cache/) and ``cdn`` (the nginx data leg).
Every leg has its own request counter; a knob ``X_every = N`` fires on requests N, 2N, 3N... of that
leg (counting only requests whose path matches ``path_regex`` when one is set). Counters restart at 0
whenever the configuration changes and on POST /_sim/reset.

``corrupt`` only applies to responses carrying file content (200/206 of resolve-cache, /raw, a direct
/resolve, the CDN); a request it picks that carries none (a 307/302, a HEAD, a 416) is served normally
and not counted. ``corrupt_count`` caps the corrupted responses of a leg, so ``corrupt_every=1`` +
``path_regex`` makes a file always bad, and adding ``corrupt_count=1`` makes only its first fetch bad.
"""
import copy
import random
import re
import threading

LEGS = ("api", "resolve", "cdn")

LEG_KNOBS = {
    "ratelimit_every": 0,   # 429 + Retry-After + RateLimit r=0
    "retry_after": 1,       # seconds, for ratelimit_every
    "error_every": 0,       # 5xx
    "error_status": 500,    # int, or a list cycled through (e.g. [500, 502, 503, 504])
    "drop_every": 0,        # headers + half the body, then the connection is closed
    "stall_every": 0,       # headers (GET) then no body; HEAD gets nothing at all
    "stall_body_every": 0,  # headers + about half the body, then no more bytes (a stall mid-body)
    "stall_ms": 0,          # how long a stall lasts; 0 = until the client gives up (or the sim stops)
    "delay_ms": 0,          # every request of the leg waits this long before its first byte
    "ignore_range_every": 0,  # answer 200 with the whole body although Range was sent
    "corrupt_every": 0,     # right status, headers and length, wrong bytes (see corrupt_chunk)
    "corrupt_count": 0,     # at most this many corrupted responses per leg (0 = no limit)
    "expire_every": 0,      # signed CDN URL already expired (resolve 302) / 403 "Request has expired" (cdn)
    "path_regex": "",       # only requests whose path matches (re.search) count and get faults
}
KINDS = ("ratelimit", "error", "drop", "stall", "stall_body", "ignore_range", "corrupt", "expire")  # priority order
DEFERRED = ("corrupt", "expire")  # counted when applied: only some responses can carry them
for _k in KINDS:
    LEG_KNOBS[f"{_k}_prob"] = 0.0  # probability per request (one seeded draw per request), after _every

GLOBAL_KNOBS = {
    "sign_ttl": 3600,       # seconds a signed CDN URL stays valid
    "cdn_rate": 0,          # bytes/s cap per CDN connection (nginx limit_rate); 0 = none
    "cdn_reject_auth": False,  # CDN answers 400 to requests carrying Authorization
    "page_size": 1000,      # tree page size when no limit= is sent (50 with expand=true)
    "max_page_size": 0,     # > 0: tree pages hold at most this many entries, whatever limit= asks
    "quota_api": 100000,    # per 5-minute window; 429 once exhausted (RateLimit headers report it)
    "quota_resolvers": 100000,
    "regular_direct": False,  # serve non-LFS files with 200 on /resolve instead of the 307
    "seed": 0,              # seed of the *_prob draws (re-seeded whenever the counters restart)
    "cdn_scheme": "",       # "http": LFS redirects name the CDN with this scheme (an https -> http downgrade)
    # A mirror's view of the Hub (issue 13): see README.md "Mirror knobs".
    "lag_commits": 0,       # every branch (and HEAD) N first-parent commits behind; newer commits unknown
    "hidden_repos": [],     # repo ids ("org/name", "datasets/org/name", "spaces/org/name") not mirrored
    "refuse_gated": False,  # gated and private repos are served as to an anonymous client
}


def default_config():
    c = copy.deepcopy(GLOBAL_KNOBS)
    c["faults"] = {leg: copy.deepcopy(LEG_KNOBS) for leg in LEGS}
    return c


class Decision:
    __slots__ = ("kind", "status", "retry_after", "delay_ms", "stall_ms", "leg")

    def __init__(self, kind=None, status=0, retry_after=0, delay_ms=0, stall_ms=0):
        self.kind, self.status, self.retry_after = kind, status, retry_after
        self.delay_ms, self.stall_ms = delay_ms, stall_ms
        self.leg = None

    def __repr__(self):
        return f"Decision({self.kind}, {self.status}, delay={self.delay_ms})"


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.config = default_config()
        self.counters = {leg: 0 for leg in LEGS}
        self.injected = {}
        self.corrupted = {leg: 0 for leg in LEGS}
        self._rx = {}
        self.rng = random.Random(0)

    def snapshot(self):
        with self.lock:
            return copy.deepcopy(self.config)

    def reset_counters(self):
        with self.lock:
            self.counters = {leg: 0 for leg in LEGS}
            self.corrupted = {leg: 0 for leg in LEGS}
            self.injected = {}
            self.rng = random.Random(self.config["seed"])

    def update(self, body):
        """Apply a /_sim/config body. Flat leg knobs go to ``legs`` (default: all legs);
        ``faults: {leg: {...}}`` targets legs; ``clear_faults: true`` first resets all leg knobs."""
        body = dict(body or {})
        with self.lock:
            cfg = copy.deepcopy(self.config)
            if body.pop("clear_faults", False) or body.get("faults", 0) is None:
                cfg["faults"] = {leg: copy.deepcopy(LEG_KNOBS) for leg in LEGS}
                body.pop("faults", None)
            legs = body.pop("legs", None) or list(LEGS)
            if isinstance(legs, str):
                legs = [x for x in legs.split(",") if x]
            for leg in legs:
                if leg not in LEGS:
                    raise ValueError(f"unknown leg {leg!r} (legs: {', '.join(LEGS)})")
            if "cdn_delay_ms" in body:
                cfg["faults"]["cdn"]["delay_ms"] = int(body.pop("cdn_delay_ms"))
            for k, v in body.pop("faults", {}).items():
                if k not in LEGS:
                    raise ValueError(f"unknown leg {k!r}")
                for kk, vv in v.items():
                    cfg["faults"][k][kk] = self._check(kk, vv)
            for k, v in body.items():
                if k in GLOBAL_KNOBS:
                    cfg[k] = self._check_global(k, v)
                elif k in LEG_KNOBS:
                    for leg in legs:
                        cfg["faults"][leg][k] = self._check(k, v)
                else:
                    raise ValueError(f"unknown knob {k!r}")
            self.config = cfg
            self.counters = {leg: 0 for leg in LEGS}
            self.corrupted = {leg: 0 for leg in LEGS}
            self._rx = {}
            self.rng = random.Random(cfg["seed"])
            return copy.deepcopy(cfg)

    @staticmethod
    def _check_global(k, v):
        if k == "hidden_repos":
            if isinstance(v, str):
                v = [x for x in v.split(",") if x]
            if not isinstance(v, list) or not all(isinstance(x, str) and x.count("/") in (1, 2) for x in v):
                raise ValueError(f"hidden_repos must be a list of repo ids, got {v!r}")
            return [x.strip("/") for x in v]
        if k == "lag_commits" and int(v) < 0:
            raise ValueError(f"lag_commits must be >= 0, got {v!r}")
        kind = type(GLOBAL_KNOBS[k])
        return bool(v) if kind is bool else kind(v)

    @staticmethod
    def _check(k, v):
        if k not in LEG_KNOBS:
            raise ValueError(f"unknown fault knob {k!r}")
        if k == "path_regex":
            re.compile(v)
            return str(v)
        if k == "error_status":
            return [int(x) for x in v] if isinstance(v, list) else int(v)
        if k.endswith("_prob"):
            p = float(v)
            if not 0 <= p <= 1:
                raise ValueError(f"{k} must be within 0..1, got {v!r}")
            return p
        return int(v)

    def cdn_gate_needed(self):
        c = self.config
        f = c["faults"]["cdn"]
        return bool(c["cdn_rate"] or c["cdn_reject_auth"] or f["delay_ms"] or any(
            f[f"{k}_every"] or f[f"{k}_prob"] for k in KINDS))

    def decide(self, leg, path):
        with self.lock:
            f = self.config["faults"][leg]
            rx = f["path_regex"]
            if rx:
                r = self._rx.get(rx) or self._rx.setdefault(rx, re.compile(rx))
                if not r.search(path):
                    return Decision()
            self.counters[leg] += 1
            n = self.counters[leg]
            d = Decision(delay_ms=f["delay_ms"], stall_ms=f["stall_ms"])

            kind = next((k for k in KINDS if f[f"{k}_every"] and n % f[f"{k}_every"] == 0), None)
            st = f["error_status"]
            if kind == "error" and isinstance(st, list):
                st = st[(n // f["error_every"] - 1) % len(st)]
            if kind is None and any(f[f"{k}_prob"] for k in KINDS):
                u, acc = self.rng.random(), 0.0
                for k in KINDS:
                    acc += f[f"{k}_prob"]
                    if u < acc:
                        kind = k
                        break
                if kind == "error" and isinstance(st, list):
                    st = self.rng.choice(st)
            d.kind, d.leg = kind, leg
            if kind == "ratelimit":
                d.status, d.retry_after = 429, f["retry_after"]
            elif kind == "error":
                d.status = st
            elif kind in DEFERRED:
                return d  # counted by claim() once a response that can carry it is sent
            if d.kind:
                key = f"{leg}.{d.kind}"
                self.injected[key] = self.injected.get(key, 0) + 1
            return d

    def claim(self, leg, kind):
        """True when a deferred fault (corrupt, expire) is applied now (within corrupt_count); counts it."""
        with self.lock:
            if kind == "corrupt":
                cap = self.config["faults"][leg]["corrupt_count"]
                if cap and self.corrupted[leg] >= cap:
                    return False
                self.corrupted[leg] += 1
            key = f"{leg}.{kind}"
            self.injected[key] = self.injected.get(key, 0) + 1
            return True


CORRUPT_STRIDE = 4096
CORRUPT_XOR = 0x5A


def corrupt_chunk(data, offset, total):
    """Corrupt ``data`` (bytes at ``offset`` of a response body of ``total`` bytes): XOR 0x5a into one
    byte every 4096, at body offsets (total // 2) % 4096 + k * 4096. Every response of >= 1 byte
    changes, every 4 KiB window of it holds exactly one wrong byte (so every page a reader gets is
    wrong), the length never changes: a length or Content-Range check passes, a hash does not."""
    first = (total // 2) % CORRUPT_STRIDE
    i = (first - offset) % CORRUPT_STRIDE
    if i >= len(data):
        return data
    b = bytearray(data)
    for j in range(i, len(b), CORRUPT_STRIDE):
        b[j] ^= CORRUPT_XOR
    return bytes(b)
