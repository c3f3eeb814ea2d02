"""A site cache (deploy/site-cache/run) for the tests and bench/fleet.py, and what the Hub simulator
counts of the bytes it sent: one copy for the loopback test, the namespace test and the bench."""
import json
import os
import shutil
import subprocess
import tempfile

from harness import ROOT, wait_for

RUN = os.path.join(ROOT, "deploy", "site-cache", "run")


class SiteCache:
    """One site cache with its own state dir. `runner` runs `run start` (subprocess.run, or a
    namespace's run so that it listens on an address of that host); stop/kill/stats find nginx by
    its pid file and run here."""

    def __init__(self, upstream, listen=None, state_root=None, name="sc", runner=subprocess.run):
        self.state = tempfile.mkdtemp(prefix=f"hffs-it-sitecache-{name}-", dir=state_root)
        self.upstream = upstream
        self.listen = listen
        self.runner = runner
        self.url = None

    def start(self, *extra):
        argv = [RUN, "start", "--upstream", self.upstream, "--state-dir", self.state]
        argv += ["--listen", self.listen] if self.listen else []
        r = self.runner(argv + list(extra), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"site cache start failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        last = r.stdout.strip().splitlines()[-1]
        if not last.startswith("SITE_CACHE=http://"):
            raise AssertionError(f"last line of `run start` is {last!r}, not SITE_CACHE=http://...")
        self.url = last.split("=", 1)[1]
        return self

    def _run(self, op):
        return subprocess.run([RUN, op, "--state-dir", self.state], capture_output=True, text=True, timeout=60)

    def kill(self):
        r = self._run("kill")
        if r.returncode != 0:
            raise AssertionError(f"site cache kill failed: {r.stderr}")

    def stop(self):
        self._run("stop")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    def stats(self):
        r = self._run("stats")
        if r.returncode != 0:
            raise AssertionError(f"site cache stats failed: {r.stderr}")
        return json.loads(r.stdout)

    def access_log(self):
        """The node requests the site cache answered, one dict per access.log line."""
        with open(os.path.join(self.state, "access.log")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def log_text(self):
        out = []
        for name in ("access.log", "fetch.log", "error.log"):
            try:
                with open(os.path.join(self.state, name)) as f:
                    out.append(f.read())
            except FileNotFoundError:
                pass
        return "\n".join(out)


def wait_cdn_idle(hub, timeout=60):
    """Until the simulator's CDN has no transfer in flight but the status probe itself (its nginx stub
    status): a site cache may still be filling a slice after a node got its range."""
    def idle():
        r = hub.get(hub.cdn + "/_hubsim_status", timeout=5)
        return int(r.body.decode().split("Writing:")[1].split()[0]) <= 1
    wait_for(idle, timeout, "the hub's CDN idle")


def cdn_bytes(hub):
    """Bytes the CDN has sent since the simulator's last reset, once it is idle."""
    wait_cdn_idle(hub)
    return hub.stats(log=False)["bytes_by_host"]["cdn"]


def file_bytes_from_hub(hub, repo):
    """Bytes of file content the Hub sent: CDN answers, resolve (and resolve-cache) bodies of `repo`."""
    n = 0
    for e in hub.requests():
        if e["status"] in (200, 206) and (e["kind"] == "cdn" or
                                          (e["kind"] in ("resolve", "resolve_cache") and repo in e["path"])):
            n += e["bytes"] or 0
    return n
