"""``run restart | kill | revive``: a simulator goes down and comes back as the same endpoint.

All three first *capture* the running simulator: its ports and its runtime knobs (read from
``/_sim/config``) go into ``config.json``, which already holds the addresses, the URL-signing secret
and the TLS files; ``manifest.json`` holds the content. Starting the daemon from that config again
gives the same endpoint: same addresses and ports, signed URLs still valid, same knobs, same
content (not regenerated). Stats and fault counters restart from zero (they live in the daemon).

* ``restart``: capture, stop (SIGTERM, then SIGKILL), stay down ``--down-seconds``, start again.
* ``kill``: capture, SIGKILL the whole process group at once (API server and nginx: transfers in
  flight are cut mid-body, new connections are refused), and stay down until ``revive``.
* ``revive``: start a killed simulator again; prints the env lines as ``start`` does, once both legs
  answer.
"""
import json
import os
import signal
import ssl
import sys
import time
import urllib.request

from .cli import _forget, _group_running, _launch, _read_pid, _stop, _write_config, read_state


def _capture(state, op):
    """(ready, cfg, manifest) of the simulator running in ``state``, after saving its ports and runtime
    knobs in config.json; None (with a message) when none runs there."""
    pid = _read_pid(state)
    try:
        ready, cfg, manifest = read_state(state)
        if not (pid and _group_running(pid)):
            raise OSError("its processes are gone")
    except (OSError, ValueError) as e:
        print(f"hubsim: {op}: no running simulator in {state} ({e}); use `run start`", file=sys.stderr)
        return None
    ctx = ssl.create_default_context(cafile=cfg["tls"]["ca"]) if cfg.get("tls") else None
    try:
        with urllib.request.urlopen(ready["api"] + "/_sim/config", timeout=5, context=ctx) as r:
            cfg["knobs"] = json.load(r)
    except Exception as e:  # keep the knobs of the last start
        print(f"hubsim: {op}: could not read the runtime knobs ({e}); keeping the start knobs", file=sys.stderr)
    cfg["api_port"], cfg["cdn_port"] = ready["api_port"], ready["cdn_port"]
    _write_config(state, cfg)
    return ready, cfg, manifest


def cmd_restart(a):
    """A Hub restart: stop everything, stay down --down-seconds, start again as the same endpoint."""
    state = os.path.abspath(a.state_dir)
    got = _capture(state, "restart")
    if not got:
        return 1
    ready, cfg, manifest = got
    if not _stop(state):
        print("hubsim: restart: could not stop every process", file=sys.stderr)
        return 1
    time.sleep(max(0.0, a.down_seconds))  # the outage the caller asked for, not a synchronisation
    rc = _launch(state, cfg, manifest, time.monotonic() + a.timeout, quiet=True)  # env lines unchanged
    if rc == 0:
        print(f"hubsim: restarted (api {ready['api']}, cdn {ready['cdn']}, down {a.down_seconds:g}s)", file=sys.stderr)
    return rc


def cmd_kill(a):
    """The endpoint dies: one SIGKILL to its whole process group, nothing gets to say goodbye."""
    state = os.path.abspath(a.state_dir)
    got = _capture(state, "kill")
    if not got:
        return 1
    ready = got[0]
    pgid = _read_pid(state)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while _group_running(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _group_running(pgid):
        print(f"hubsim: kill: process group {pgid} still alive after SIGKILL", file=sys.stderr)
        return 1
    _forget(state)
    print(f"hubsim: killed (api {ready['api']}, cdn {ready['cdn']}); `run revive` starts it again", file=sys.stderr)
    return 0


def cmd_revive(a):
    """Start a killed simulator again on the addresses and ports it had, with its secret and knobs."""
    state = os.path.abspath(a.state_dir)
    pid = _read_pid(state)
    if pid and _group_running(pid):
        print(f"hubsim: revive: a simulator already runs in {state} (pid {pid})", file=sys.stderr)
        return 2
    try:
        with open(os.path.join(state, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(state, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        print(f"hubsim: revive: nothing to revive in {state} ({e}); use `run start`", file=sys.stderr)
        return 1
    if not (cfg.get("api_port") and cfg.get("cdn_port")):
        print(f"hubsim: revive: {state} was never killed (no saved ports); use `run start`", file=sys.stderr)
        return 1
    _forget(state)
    return _launch(state, cfg, manifest, time.monotonic() + a.timeout)
