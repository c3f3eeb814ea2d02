"""The simulator process: binds the API server, runs nginx as its child (same process group), serves
until SIGTERM. Started by ``run start`` (cli.py) with ``--state-dir``; reads ``<state>/config.json``."""
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.request

from . import cdn, server
from .faults import Faults


def free_port(host):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, ctx, deadline, proc=None):
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.02)
    return False


def main():
    state = os.path.abspath(sys.argv[sys.argv.index("--state-dir") + 1])
    with open(os.path.join(state, "config.json")) as f:
        cfg = json.load(f)
    mpath = os.path.join(state, "manifest.json")
    with open(mpath) as f:
        manifest = json.load(f)
    faults = Faults()
    faults.update(cfg["knobs"])
    tls = cfg.get("tls")
    scheme = "https" if tls else "http"
    ssl_ctx = None
    if tls:
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(tls["cert"], tls["key"])
    hub = server.Hub(manifest, state=state, faults=faults, secret=cfg["secret"], cdn_base=None, manifest_path=mpath)
    api_host = cfg.get("api_host") or "127.0.0.1"
    httpd = server.Server((api_host, cfg.get("api_port") or 0), server.Handler, hub, ssl_ctx)
    httpd.blobs = cfg["blobs"]
    api_port = httpd.server_address[1]
    hub.api_base = f"{scheme}://{api_host}:{api_port}"
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    internal = httpd
    if ssl_ctx is not None:
        # nginx reaches /_sim/cdn-gate and /_sim/cdn-fault over plain HTTP on a loopback-only port.
        internal = server.Server((api_host, 0), server.Handler, hub, None)
        internal.blobs = cfg["blobs"]
        threading.Thread(target=internal.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    internal_addr = f"{api_host}:{internal.server_address[1]}"

    client_ctx = None
    if tls:
        client_ctx = ssl.create_default_context(cafile=tls["ca"])
    try:  # counters start from zero on every start
        os.unlink(os.path.join(state, "cdn", "access.log"))
    except FileNotFoundError:
        pass
    nginx = None
    for attempt in range(8):
        cdn_port = cfg.get("cdn_port") or free_port(cfg["cdn_host"])
        conf = cdn.write_config(state, blobs=cfg["blobs"], host=cfg["cdn_host"], port=cdn_port, api_addr=internal_addr,
                                secret=cfg["secret"], tls=tls, http2=cfg.get("cdn_http2", False))
        nginx = cdn.start_nginx(state, conf)
        base = f"{scheme}://{cfg['cdn_host']}:{cdn_port}"
        if wait_http(base + "/_hubsim_health", client_ctx, time.monotonic() + 15, nginx):
            break
        if nginx.poll() is None:
            nginx.terminate()
            nginx.wait()
        nginx = None
        if cfg.get("cdn_port"):
            break
    if nginx is None:
        print("hubsim: nginx did not start; see", os.path.join(state, "cdn", "error.log"), file=sys.stderr)
        httpd.shutdown()
        sys.exit(1)
    hub.cdn_base = base
    hub.stats = server.Stats(os.path.join(state, "cdn", "access.log"), faults,
                             base + "/_hubsim_status", client_ctx)
    hub.sync_gate()

    done = threading.Event()

    def stop(*_):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready = {"pid": os.getpid(), "api_port": api_port, "cdn_port": cdn_port, "api": hub.api_base, "cdn": base,
             "nginx_pid": nginx.pid}
    tmp = os.path.join(state, "ready.json.tmp")
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.replace(tmp, os.path.join(state, "ready.json"))
    print(f"hubsim: api {hub.api_base} cdn {base} pid {os.getpid()} nginx {nginx.pid}", flush=True)
    while not done.wait(0.5):
        if nginx.poll() is not None:
            print(f"hubsim: nginx exited with {nginx.returncode}", file=sys.stderr, flush=True)
            break
    server.STOP.set()
    if nginx.poll() is None:
        nginx.terminate()  # fast shutdown
        try:
            nginx.wait(5)
        except Exception:
            nginx.kill()
    for srv in {httpd, internal}:
        srv.shutdown()
        srv.server_close()
    for n in ("ready.json",):
        try:
            os.unlink(os.path.join(state, n))
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    main()
