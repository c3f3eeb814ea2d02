"""Fault knobs (start flags and POST /_sim/config) and the per-leg "every Nth request" decisions.

Legs: ``api`` (/api/... metadata: repo info, tree, paths-info, refs, commits, auth-check...),
``resolve`` (/resolve/, /raw/ and /api/resolve-cache/) and ``cdn`` (the nginx data leg).
Every leg has its own request counter; a knob ``X_every = N`` fires on requests N, 2N, 3N... of that
leg (counting only requests whose path matches ``path_regex`` when one is set). Counters restart at 0
whenever the configuration changes and on POST /_sim/reset.
"""
import copy
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
    "stall_ms": 0,          # how long a stall lasts; 0 = until the client gives up (or the sim stops)
    "delay_ms": 0,          # every request of the leg waits this long before its first byte
    "ignore_range_every": 0,  # answer 200 with the whole body although Range was sent
    "path_regex": "",       # only requests whose path matches (re.search) count and get faults
}

GLOBAL_KNOBS = {
    "sign_ttl": 3600,       # seconds a signed CDN URL stays valid
    "cdn_rate": 0,          # bytes/s cap per CDN connection (nginx limit_rate); 0 = none
    "cdn_reject_auth": False,  # CDN answers 400 to requests carrying Authorization
    "page_size": 1000,      # tree page size when no limit= is sent (50 with expand=true)
    "quota_api": 100000,    # per 5-minute window; 429 once exhausted (RateLimit headers report it)
    "quota_resolvers": 100000,
    "regular_direct": False,  # serve non-LFS files with 200 on /resolve instead of the 307
    "cdn_scheme": "",       # "http": LFS redirects name the CDN with this scheme (an https -> http downgrade)
}


def default_config():
    c = copy.deepcopy(GLOBAL_KNOBS)
    c["faults"] = {leg: copy.deepcopy(LEG_KNOBS) for leg in LEGS}
    return c


class Decision:
    __slots__ = ("kind", "status", "retry_after", "delay_ms", "stall_ms")

    def __init__(self, kind=None, status=0, retry_after=0, delay_ms=0, stall_ms=0):
        self.kind, self.status, self.retry_after = kind, status, retry_after
        self.delay_ms, self.stall_ms = delay_ms, stall_ms

    def __repr__(self):
        return f"Decision({self.kind}, {self.status}, delay={self.delay_ms})"


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.config = default_config()
        self.counters = {leg: 0 for leg in LEGS}
        self.injected = {}
        self._rx = {}

    def snapshot(self):
        with self.lock:
            return copy.deepcopy(self.config)

    def reset_counters(self):
        with self.lock:
            self.counters = {leg: 0 for leg in LEGS}
            self.injected = {}

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
                    cfg[k] = type(GLOBAL_KNOBS[k])(v) if not isinstance(GLOBAL_KNOBS[k], bool) else bool(v)
                elif k in LEG_KNOBS:
                    for leg in legs:
                        cfg["faults"][leg][k] = self._check(k, v)
                else:
                    raise ValueError(f"unknown knob {k!r}")
            self.config = cfg
            self.counters = {leg: 0 for leg in LEGS}
            self._rx = {}
            return copy.deepcopy(cfg)

    @staticmethod
    def _check(k, v):
        if k not in LEG_KNOBS:
            raise ValueError(f"unknown fault knob {k!r}")
        if k == "path_regex":
            re.compile(v)
            return str(v)
        if k == "error_status":
            return [int(x) for x in v] if isinstance(v, list) else int(v)
        return int(v)

    def cdn_gate_needed(self):
        c = self.config
        f = c["faults"]["cdn"]
        return bool(c["cdn_rate"] or c["cdn_reject_auth"] or any(
            f[k] for k in ("ratelimit_every", "error_every", "drop_every", "stall_every", "delay_ms",
                           "ignore_range_every")))

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

            def hit(k):
                return f[k] and n % f[k] == 0

            if hit("ratelimit_every"):
                d.kind, d.status, d.retry_after = "ratelimit", 429, f["retry_after"]
            elif hit("error_every"):
                st = f["error_status"]
                if isinstance(st, list):
                    st = st[(n // f["error_every"] - 1) % len(st)]
                d.kind, d.status = "error", st
            elif hit("drop_every"):
                d.kind = "drop"
            elif hit("stall_every"):
                d.kind = "stall"
            elif hit("ignore_range_every"):
                d.kind = "ignore_range"
            if d.kind:
                key = f"{leg}.{d.kind}"
                self.injected[key] = self.injected.get(key, 0) + 1
            return d
