"""A test "site" built of network namespaces: a hub host, a site host and N node hosts on one switch.

    with Fleet(5) as f:
        hub = f.start_hub("--repos", "fleet", "--cdn-rate", "50000000")   # the simulator, on hub_ip
        site = f.start_site(hub)                                          # deploy/site-cache, site_ip
        with f.mount("node0", hub, site, "hffs-test/fleet-model") as m:  # hffs, --endpoint SITE HUB
            open(m.path("shard.bin"), "rb").read()                         # read from the root namespace

Topology: namespace PREFIX+"sw" holds a Linux bridge; each host namespace (PREFIX+"hub", "site",
"node0".."nodeN-1") has one veth "eth0" with its address in SUBNET.0/24, its peer a port of the
bridge; loopback is up everywhere. Nothing is added to the root namespace: commands run in a host
with `nsenter --net` (network namespace only, so a FUSE mount made in a node is seen by every process
of the root mount namespace), sockets of the test are made there with launch.in_netns.

`cap_uplink` puts a tbf on the hub's egress: all the hub sends (to the site and to nodes reading it
directly) shares that one rate, the site's uplink. Cleanup: `close()` (also `__exit__`) stops what it
started, kills every process left in its namespaces, detaches its mounts and deletes the namespaces;
a new Fleet first removes leftovers of the same prefix (a run that was killed).
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile

from harness import HFFS, Mount, launch
from site_cache import SiteCache

HUB_IF = "eth0"


def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def netns_names(prefix):
    r = _ip("-j", "netns", "list", check=False)
    try:
        return sorted(n["name"] for n in json.loads(r.stdout or "[]") if n["name"].startswith(prefix))
    except ValueError:
        return []


def pids_in_netns(name):
    """Every process whose network namespace is ``name``'s."""
    try:
        target = os.stat(f"{launch.NETNS_DIR}/{name}")
    except FileNotFoundError:
        return []
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = os.stat(f"/proc/{d}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                pids.append(int(d))
    return pids


def fuse_mounts_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mp = parts[4].replace("\\040", " ")
            if mp.startswith(root):
                out.append(mp)
    return out


def remove_netns(names, mount_root=None):
    """Kills what runs in namespaces ``names``, detaches mounts under ``mount_root`` (a path
    prefix), deletes the namespaces. For leftovers of a killed run and for a normal close alike."""
    if mount_root:
        for mp in sorted(fuse_mounts_under(mount_root), reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30)
    for name in names:
        for pid in pids_in_netns(name):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    for name in names:
        _ip("netns", "del", name, check=False)


def netns_probe(prefix):
    """None if a network namespace with a veth can be made here, else why not."""
    name = prefix + "probe"
    _ip("netns", "del", name, check=False)
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return f"cannot make a network namespace: {r.stderr.strip()}"
    try:
        r = _ip("-n", name, "link", "add", "name", "a", "type", "veth", "peer", "name", "b", check=False)
        return None if r.returncode == 0 else f"cannot make a veth pair: {r.stderr.strip()}"
    finally:
        _ip("netns", "del", name, check=False)


class Fleet:
    def __init__(self, nodes, prefix="hffsnet-", subnet="10.231.0", uplink_mbytes=None, workdir_root=None):
        if nodes < 1 or nodes > 200:
            raise ValueError(f"nodes must be 1..200, got {nodes}")
        self.prefix = prefix
        self.hub_ip = f"{subnet}.1"
        self.site_ip = f"{subnet}.2"
        self.node_ips = [f"{subnet}.{10 + i}" for i in range(nodes)]
        self.hosts = ["hub", "site"] + [f"node{i}" for i in range(nodes)]
        # Work dirs (simulator and site state, mountpoints): /tmp/net-* for prefix "hffsnet-".
        short = prefix[4:] if prefix.startswith("hffs") else prefix
        self.work_prefix = workdir_root or f"{tempfile.gettempdir()}/{short}fleet-"
        self._started = []  # objects with cleanup(), newest last
        self.workdir = None
        remove_netns(netns_names(prefix), self.work_prefix)
        for d in _glob_dirs(self.work_prefix):
            shutil.rmtree(d, ignore_errors=True)
        try:
            self.workdir = tempfile.mkdtemp(prefix=os.path.basename(self.work_prefix),
                                            dir=os.path.dirname(self.work_prefix))
            self._build()
            if uplink_mbytes:
                self.cap_uplink(uplink_mbytes)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ topology
    def ns(self, host):
        if host != "sw" and host not in self.hosts:
            raise KeyError(f"no host {host!r} in this fleet ({', '.join(self.hosts)})")
        return self.prefix + host

    def ip(self, host):
        if host == "hub":
            return self.hub_ip
        if host == "site":
            return self.site_ip
        return self.node_ips[int(host[4:])]

    def _build(self):
        sw = self.ns("sw")
        for h in ["sw"] + self.hosts:
            _ip("netns", "add", self.ns(h))
            _ip("-n", self.ns(h), "link", "set", "lo", "up")
        _ip("-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        _ip("-n", sw, "link", "set", "br0", "up")
        for h in self.hosts:
            port = f"v-{h}"
            _ip("link", "add", "name", "eth0", "netns", self.ns(h), "type", "veth", "peer", "name", port,
                "netns", sw)
            _ip("-n", sw, "link", "set", port, "master", "br0", "up")
            _ip("-n", self.ns(h), "addr", "add", f"{self.ip(h)}/24", "dev", "eth0")
            _ip("-n", self.ns(h), "link", "set", "eth0", "up")

    # ------------------------------------------------------------------ commands
    def argv(self, host, argv):
        return launch.netns_argv(self.ns(host)) + list(argv)

    def popen(self, host, argv, **kw):
        """subprocess.Popen of ``argv`` in ``host``'s network namespace, through nsenter --net: the
        Popen's pid is the command's own (nsenter execs it)."""
        return subprocess.Popen(self.argv(host, argv), **kw)

    def run(self, host, argv, **kw):
        """subprocess.run of ``argv`` in ``host``'s network namespace (``kw`` as for subprocess.run)."""
        return subprocess.run(self.argv(host, argv), **kw)

    def client(self, sim, host):
        """A copy of launch.Simulator ``sim`` whose requests (request, get, follow, ...) go out of
        ``host``'s namespace: what a node sees of the hub or the site cache."""
        c = copy.copy(sim)
        c.netns = self.ns(host)
        return c

    def in_ns(self, host):
        """Context manager: the calling thread's new sockets are made in ``host``'s namespace."""
        return launch.in_netns(self.ns(host))

    # ------------------------------------------------------------------ uplink
    def cap_uplink(self, mbytes_per_s, burst_kb=None):
        """tbf on the hub's egress: ``mbytes_per_s`` MB/s (10^6 bytes) for everything the hub sends.
        GSO/TSO stay on (no ethtool here): tbf segments a GSO packet larger than its burst, and the
        default burst (>= 256 KiB, 4 ms of the rate) passes a 64 KiB one whole."""
        rate = int(mbytes_per_s * 1e6)
        burst = int((burst_kb or max(256, rate * 0.004 / 1024)) * 1024)
        _ip("-n", self.ns("hub"), "link", "set", HUB_IF, "gso_max_size", "65536")
        r = subprocess.run(["tc", "-n", self.ns("hub"), "qdisc", "replace", "dev", HUB_IF, "root", "tbf",
                            "rate", f"{rate * 8}bit", "burst", str(burst), "latency", "100ms"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"tc tbf on the hub: {r.stderr.strip()}")

    def uncap_uplink(self):
        subprocess.run(["tc", "-n", self.ns("hub"), "qdisc", "del", "dev", HUB_IF, "root"],
                       capture_output=True, timeout=30)

    def hub_tx_bytes(self):
        r = _ip("-n", self.ns("hub"), "-j", "-s", "link", "show", "dev", HUB_IF)
        return int(json.loads(r.stdout)[0]["stats64"]["tx"]["bytes"])

    # ------------------------------------------------------------------ services
    def _track(self, obj):
        self._started.append(obj)
        return obj

    def start_hub(self, *args, cache_dir=None, name="hub"):
        """The simulator (API and CDN) in the hub host on hub_ip: a launch.Simulator whose requests
        (stats, control) go from sockets in the hub's namespace. ``args`` go to `run start`."""
        sim = launch.Simulator("--api-host", self.hub_ip, "--cdn-host", self.hub_ip, *args, name=name,
                               prefix="", cache_dir=cache_dir, netns=self.ns("hub"), state_root=self.workdir)
        self._track(sim)
        return sim.start()

    def start_site(self, hub, *extra, port=8080):
        """deploy/site-cache in the site host on site_ip:``port``, upstream the hub's API."""
        site = self._track(SiteCache(hub.endpoint, listen=f"{self.site_ip}:{port}", state_root=self.workdir,
                                     name="site", runner=lambda argv, **kw: self.run("site", argv, **kw)))
        return site.start(*extra)

    def mount(self, node, hub, site, repo, *extra, token=None, cache_dir=None):
        """An (unstarted) harness.Mount of ``repo`` by ``node`` with `--endpoint SITE --endpoint HUB`
        (``site`` None: the hub alone), its own home and block cache; use it as a context manager or
        call run(). The daemon runs in the node's namespace; the mountpoint is readable from here."""
        eps = (["--endpoint", site.url] if site else []) + ["--endpoint", hub.endpoint]
        m = Mount(hub, repo, *eps, *extra, token=token, cache_dir=cache_dir, netns=self.ns(node),
                  root=self.workdir)
        self._track(_MountCleanup(m))
        return m

    # ------------------------------------------------------------------ teardown
    def close(self):
        while self._started:
            obj = self._started.pop()
            try:
                obj.cleanup()
            except Exception:  # the sweep below removes whatever this left
                pass
        names = netns_names(self.prefix)
        remove_netns(names, self.workdir or self.work_prefix)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        left = netns_names(self.prefix)
        if left:
            raise RuntimeError(f"network namespaces left after close: {left}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _MountCleanup:
    def __init__(self, m):
        self.m = m

    def cleanup(self):
        self.m.__exit__(None, None, None)


def _glob_dirs(prefix):
    parent, base = os.path.dirname(prefix), os.path.basename(prefix)
    try:
        return [os.path.join(parent, d) for d in os.listdir(parent) if d.startswith(base)]
    except FileNotFoundError:
        return []


__all__ = ["Fleet", "SiteCache", "HFFS", "netns_probe", "remove_netns", "netns_names"]
