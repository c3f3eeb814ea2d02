"""``tests/hubsim/run start|stop|status|env|generate`` (see README.md)."""
import argparse
import json
import os
import secrets
import shlex
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from . import content, fixtures, tlsgen
from .faults import GLOBAL_KNOBS, KINDS, LEG_KNOBS, LEGS

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
DEFAULT_STATE = "/tmp/hffs-hubsim"



def read_state(state):
    """(ready, config, manifest) of a simulator's state dir; OSError/ValueError when unreadable."""
    out = []
    for name in ("ready.json", "config.json", "manifest.json"):
        with open(os.path.join(state, name)) as f:
            out.append(json.load(f))
    return tuple(out)

def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _group_running(pgid):
    """True while a process of group ``pgid`` still runs. A killed process stays a zombie until its
    parent (here: init, which may reap late) collects it; its sockets are closed at exit already, so a
    zombie counts as gone."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _read_pid(state):
    try:
        with open(os.path.join(state, "hubsim.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def parser():
    ap = argparse.ArgumentParser(prog="tests/hubsim/run", description="Hugging Face Hub simulator for hffs tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=os.environ.get("HUBSIM_STATE_DIR", DEFAULT_STATE))
    st = sub.add_parser("start", parents=[common], help="generate fixtures, start API + CDN, print KEY=VALUE lines")
    st.add_argument("--repos", default="default", help="fixture name (fixtures/<name>.json: default, big) or a path")
    st.add_argument("--cache-dir", default=os.environ.get("HUBSIM_CACHE_DIR"),
                    help="content cache (blobs + index); default <state-dir>/cache; may be shared")
    st.add_argument("--tls", action="store_true", help="both legs serve HTTPS with a fresh test CA")
    st.add_argument("--api-port", type=int, default=0)
    st.add_argument("--cdn-port", type=int, default=0)
    st.add_argument("--api-host", default="127.0.0.1", help="loopback address of the API leg (HF_ENDPOINT)")
    st.add_argument("--cdn-host", default="127.0.0.2", help="loopback address of the CDN leg (HUBSIM_CDN)")
    st.add_argument("--cdn-http2", action="store_true", help="offer HTTP/2 on the CDN (with --tls)")
    st.add_argument("--cdn-rate", type=int, default=0, help="bytes/s per CDN connection (0 = no cap)")
    st.add_argument("--cdn-delay-ms", type=int, default=0, help="first-byte delay of every CDN response")
    st.add_argument("--cdn-reject-auth", action="store_true", help="CDN answers 400 to requests with Authorization")
    st.add_argument("--sign-ttl", type=int, default=3600, help="lifetime of signed CDN URLs, seconds")
    st.add_argument("--page-size", type=int, default=1000, help="tree page size without limit=")
    st.add_argument("--max-page-size", type=int, default=0, help="cap on tree page size, whatever limit= asks")
    st.add_argument("--regular-direct", action="store_true", help="serve non-LFS files with 200 on /resolve (no 307)")
    st.add_argument("--quota-api", type=int, default=GLOBAL_KNOBS["quota_api"])
    st.add_argument("--quota-resolvers", type=int, default=GLOBAL_KNOBS["quota_resolvers"])
    st.add_argument("--fault-legs", default=",".join(LEGS), help="legs the fault options below apply to")
    st.add_argument("--ratelimit-every", type=int, default=0)
    st.add_argument("--retry-after", type=int, default=1)
    st.add_argument("--error-every", type=int, default=0)
    st.add_argument("--error-status", default="500", help="status or comma list cycled through")
    st.add_argument("--drop-every", type=int, default=0)
    st.add_argument("--stall-every", type=int, default=0)
    st.add_argument("--stall-body-every", type=int, default=0, help="headers, half the body, then a stall")
    st.add_argument("--stall-ms", type=int, default=0)
    st.add_argument("--delay-ms", type=int, default=0, help="first-byte delay on the fault legs")
    st.add_argument("--ignore-range-every", type=int, default=0)
    st.add_argument("--corrupt-every", type=int, default=0, help="right length, wrong bytes (content only)")
    st.add_argument("--corrupt-count", type=int, default=0, help="at most N corrupted responses per leg")
    st.add_argument("--expire-every", type=int, default=0, help="resolve: 302 to an expired URL; cdn: 403 expired")
    st.add_argument("--prob", default="", help="KIND=P,... per-request fault probabilities on the fault legs "
                    f"(kinds: {', '.join(KINDS)})")
    st.add_argument("--seed", type=int, default=0, help="seed of the --prob draws")
    st.add_argument("--fault-path-regex", default="")
    st.add_argument("--lag-commits", type=int, default=0, help="mirror: every branch N commits behind the fixture")
    st.add_argument("--hidden-repos", default="", help="mirror: comma list of repo ids it does not serve")
    st.add_argument("--refuse-gated", action="store_true", help="mirror: gated/private repos as for anonymous")
    st.add_argument("--timeout", type=float, default=600, help="seconds to wait for generation + readiness")
    sub.add_parser("stop", parents=[common], help="stop the simulator of a state dir")
    rs = sub.add_parser("restart", parents=[common], help="stop, stay down, start again on the same ports")
    rs.add_argument("--down-seconds", type=float, default=0, help="time both legs stay down (default 0)")
    rs.add_argument("--timeout", type=float, default=60, help="seconds to wait for readiness")
    sub.add_parser("kill", parents=[common], help="SIGKILL the whole simulator at once, keeping what revive needs")
    rv = sub.add_parser("revive", parents=[common], help="start a killed simulator again, same addresses and ports")
    rv.add_argument("--timeout", type=float, default=60, help="seconds to wait for readiness")
    sub.add_parser("status", parents=[common], help="exit 0 when running")
    sub.add_parser("env", parents=[common], help="print the KEY=VALUE lines of a running simulator")
    g = sub.add_parser("generate", parents=[common], help="only generate content + manifest.json")
    g.add_argument("--repos", default="default")
    g.add_argument("--cache-dir", default=os.environ.get("HUBSIM_CACHE_DIR"))
    return ap


def knobs_from_args(a):
    legs = [x for x in a.fault_legs.split(",") if x]
    status = [int(x) for x in a.error_status.split(",")]
    leg = {"ratelimit_every": a.ratelimit_every, "retry_after": a.retry_after, "error_every": a.error_every,
           "error_status": status if len(status) > 1 else status[0], "drop_every": a.drop_every,
           "stall_every": a.stall_every, "stall_body_every": a.stall_body_every, "stall_ms": a.stall_ms,
           "delay_ms": a.delay_ms,
           "ignore_range_every": a.ignore_range_every, "corrupt_every": a.corrupt_every,
           "corrupt_count": a.corrupt_count, "expire_every": a.expire_every, "path_regex": a.fault_path_regex}
    for item in filter(None, a.prob.split(",")):
        k, _, v = item.partition("=")
        if k not in KINDS:
            raise SystemExit(f"hubsim: --prob: unknown fault kind {k!r} (kinds: {', '.join(KINDS)})")
        leg[f"{k}_prob"] = float(v)
    faults = {l: dict(leg) for l in legs}
    if a.cdn_delay_ms:
        faults.setdefault("cdn", {})["delay_ms"] = a.cdn_delay_ms
    return {"sign_ttl": a.sign_ttl, "cdn_rate": a.cdn_rate, "cdn_reject_auth": a.cdn_reject_auth,
            "page_size": a.page_size, "max_page_size": a.max_page_size, "quota_api": a.quota_api, "quota_resolvers": a.quota_resolvers,
            "regular_direct": a.regular_direct, "seed": a.seed, "lag_commits": a.lag_commits,
            "hidden_repos": [x for x in a.hidden_repos.split(",") if x], "refuse_gated": a.refuse_gated,
            "faults": faults}


def generate(state, fixture, cache_dir):
    store = content.BlobStore(cache_dir or os.path.join(state, "cache"))
    t0 = time.time()
    manifest = fixtures.build(fixture, store, log=lambda m: print("hubsim: " + m, file=sys.stderr))
    tmp = os.path.join(state, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, ensure_ascii=False)
    os.replace(tmp, os.path.join(state, "manifest.json"))
    return manifest, store, time.time() - t0


def cmd_start(a):
    state = os.path.abspath(a.state_dir)
    os.makedirs(state, exist_ok=True)
    pid = _read_pid(state)
    if pid and _group_running(pid):
        print(f"hubsim: already running in {state} (pid {pid}); run `tests/hubsim/run stop --state-dir {state}`",
              file=sys.stderr)
        return 2
    for n in ("ready.json", "hubsim.pid", "env"):
        try:
            os.unlink(os.path.join(state, n))
        except FileNotFoundError:
            pass
    deadline = time.monotonic() + a.timeout
    manifest, store, _ = generate(state, a.repos, a.cache_dir)
    tls = tlsgen.make(os.path.join(state, "tls"), [a.api_host, a.cdn_host]) if a.tls else None
    cfg = {"secret": secrets.token_hex(16), "tls": tls, "api_port": a.api_port, "cdn_port": a.cdn_port,
           "api_host": a.api_host, "cdn_host": a.cdn_host, "cdn_http2": a.cdn_http2, "blobs": store.blobs,
           "knobs": knobs_from_args(a), "fixture": a.repos}
    _write_config(state, cfg)
    return _launch(state, cfg, manifest, deadline)


def _write_config(state, cfg):
    p = os.path.join(state, "config.json")
    with open(p + ".tmp", "w") as f:
        json.dump(cfg, f, indent=1)
    os.chmod(p + ".tmp", 0o600)
    os.replace(p + ".tmp", p)


def _launch(state, cfg, manifest, deadline, quiet=False):
    """Start the daemon of ``state`` with ``cfg`` (config.json), wait until both legs answer, write the
    env file and print its lines (unless ``quiet``)."""
    tls = cfg["tls"]
    log = open(os.path.join(state, "hubsim.log"), "ab")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = HERE + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen([PY, "-m", "hubsim.daemon", "--state-dir", state], cwd=HERE, env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    with open(os.path.join(state, "hubsim.pid"), "w") as f:
        f.write(f"{proc.pid}\n")  # the daemon leads its own process group: pgid == pid
    ready_path = os.path.join(state, "ready.json")
    ctx = ssl.create_default_context(cafile=tls["ca"]) if tls else None
    ready = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if os.path.exists(ready_path):
            with open(ready_path) as f:
                ready = json.load(f)
            break
        time.sleep(0.02)
    ok = False
    if ready:
        ok = all(_wait_ok(u, ctx, deadline) for u in (ready["api"] + "/_sim/health", ready["cdn"] + "/_hubsim_health"))
    if not ok:
        print("hubsim: failed to start; log follows", file=sys.stderr)
        _stop(state)
        try:
            with open(os.path.join(state, "hubsim.log"), errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
        except OSError:
            pass
        return 1
    lines = [(k, v) for k, v in manifest.get("env", {}).items()]
    lines.append(("HUBSIM_STATE_DIR", state))
    if tls:
        lines.append(("HUBSIM_CA_FILE", tls["ca"]))
    lines += [("HUBSIM_CDN", ready["cdn"]), ("HUBSIM_MANIFEST", os.path.join(state, "manifest.json")),
              ("HUBSIM_PID", str(ready["pid"])), ("HF_ENDPOINT", ready["api"])]
    text = "".join(f"{k}={v}\n" for k, v in lines)
    with open(os.path.join(state, "env"), "w") as f:
        f.write("".join(f"{k}={shlex.quote(v)}\n" for k, v in lines))
    if not quiet:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def _wait_ok(url, ctx, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.02)
    return False


def _stop(state):
    pgid = _read_pid(state)
    stopped = True
    if pgid and _group_running(pgid):
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_running(pgid):
            try:  # reap if it is our child (start failure path)
                os.waitpid(pgid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.02)
        if _group_running(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _group_running(pgid):
                time.sleep(0.02)
            stopped = not _group_running(pgid)
    # add-ons that daemonize their own nginx next to the simulator (hubsim/plainindex.py) stop with it
    try:
        with open(os.path.join(state, "plain", "nginx.pid")) as f:
            extra = int(f.read().strip())
        os.kill(extra, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(extra):
            time.sleep(0.02)
        if _pid_alive(extra):
            os.kill(extra, signal.SIGKILL)
        os.unlink(os.path.join(state, "plain", "nginx.pid"))
    except (OSError, ValueError):
        pass
    _forget(state)
    return stopped


def _forget(state):
    """Remove what says a simulator runs in ``state`` (its pid, ready.json, env, nginx pid, gate)."""
    for n in ("hubsim.pid", "ready.json", "env", os.path.join("cdn", "nginx.pid"), os.path.join("cdn", "gate")):
        try:
            os.unlink(os.path.join(state, n))
        except FileNotFoundError:
            pass


def cmd_stop(a):
    state = os.path.abspath(a.state_dir)
    ok = _stop(state)
    if not ok:
        print("hubsim: could not stop every process", file=sys.stderr)
        return 1
    return 0


def cmd_status(a):
    state = os.path.abspath(a.state_dir)
    pid = _read_pid(state)
    if pid and _group_running(pid) and os.path.exists(os.path.join(state, "ready.json")):
        print(f"running (pid {pid})")
        return 0
    print("stopped")
    return 1


def cmd_env(a):
    p = os.path.join(os.path.abspath(a.state_dir), "env")
    if cmd_status(argparse.Namespace(state_dir=a.state_dir)) != 0 or not os.path.exists(p):
        return 1
    with open(p) as f:
        sys.stdout.write(f.read())
    return 0


def cmd_generate(a):
    state = os.path.abspath(a.state_dir)
    os.makedirs(state, exist_ok=True)
    m, store, dt = generate(state, a.repos, a.cache_dir)
    n = sum(len(c["files"]) for r in m["repos"] for c in r["commits"].values())
    print(f"hubsim: {len(m['repos'])} repos, {n} file versions in {dt:.1f}s; manifest {state}/manifest.json")
    return 0


def main(argv=None):
    from . import downup  # restart, kill, revive (they use this module's process helpers)
    a = parser().parse_args(argv)
    return {"start": cmd_start, "restart": downup.cmd_restart, "kill": downup.cmd_kill, "revive": downup.cmd_revive,
            "stop": cmd_stop, "status": cmd_status, "env": cmd_env, "generate": cmd_generate}[a.cmd](a)
