"""A Ray cluster of several nodes on this one machine, for tests, benchmarks and trying the
executor out: `ray start --head`, then `ray start --address` for each further node, each with
its CPUs and a small object store.

A cluster here keeps to itself, so two of them (two test runs, a benchmark beside a user's own
cluster on 6399) never collide:

- it binds 127.0.0.1, on ports the kernel says are free (the head's, each node's manager,
  object manager, agent, metrics and worker ports), never Ray's fixed defaults;
- its processes write under a temp folder of its own (`--temp-dir`), which is also how it
  finds them: every process it started names that folder on its command line;
- `ray start` returns once its node is up (readiness, not a fixed sleep), and `stop()`
  signals this cluster's processes by pid: never `ray stop`, which ends every Ray
  process of every user on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
WORKER_PORTS = 64     # worker processes' ports each node keeps to itself


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (Linux's ip_local_port_range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(n: int, avoid: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """`n` distinct ports the kernel says are free on 127.0.0.1 now, none of them in `avoid`."""
    socks: list[socket.socket] = []
    out: list[int] = []
    try:
        for _ in range(n + len(avoid) + 16):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in avoid:
                out.append(port)
            if len(out) == n:
                return out
        raise RuntimeError(f"no {n} free ports outside the {len(avoid)} this cluster holds")
    finally:
        for s in socks:
            s.close()


def free_range(width: int, avoid: set[int] | frozenset[int] = frozenset(),
               low: int = 20000, high: int | None = None) -> int:
    """The first port of `width` consecutive ports that are all free now and none in `avoid`
    (a worker port range). The range lies below the kernel's ephemeral ports, so no outgoing
    connection (nor a port `free_ports` picks) takes one of them before the workers bind it."""
    import random

    if high is None:
        high = max(low + 4 * width, ephemeral_range()[0])
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(low, high - width)
        ports = range(base, base + width)
        if not avoid.intersection(ports) and all(_free(p) for p in ports):
            return base
    raise RuntimeError(f"no {width} consecutive free ports between {low} and {high}")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


@dataclass
class LocalCluster:
    """A head and `workers` more nodes on this machine; `address` is the head's."""

    workers: int = 1
    cpus: int = 1
    object_store_mb: int = 300
    port: int | None = None               # the head's port; None: a free one, chosen at start
    temp_dir: Path | None = None          # the cluster's own folder; None: a fresh one at start
    started: list[int] = field(default_factory=list)   # pids of the `ray start` runs (for the record)
    # every port handed to a node so far: a port chosen for one node is not bound until its
    # `ray start` runs (worker ports only when a worker starts), so "free now" is not enough
    held: set[int] = field(default_factory=set, repr=False)

    @property
    def address(self) -> str:
        """host:port of the head (what --llama-ray-address takes)."""
        return f"{HOST}:{self.port}"

    def _ray(self, *args: str, timeout: float = 120) -> None:
        ray = Path(sys.executable).with_name("ray")
        env = dict(os.environ, RAY_ADDRESS="")   # never join a cluster the caller's shell names
        env.pop("RAY_ADDRESS")
        try:
            subprocess.run([str(ray), *args], check=True, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-5:]
            raise RuntimeError(f"`ray {' '.join(args[:2])}` failed ({exc.returncode}): " + " | ".join(tail)) from None

    def _node_args(self) -> list[str]:
        low = free_range(WORKER_PORTS, avoid=self.held)
        self.held.update(range(low, low + WORKER_PORTS))
        singles = free_ports(6, avoid=self.held)
        self.held.update(singles)
        manager, objects, agent, agent_grpc, env_agent, metrics = singles
        return ["--node-ip-address", HOST, "--num-cpus", str(self.cpus),
                "--object-store-memory", str(self.object_store_mb * 2**20), "--disable-usage-stats",
                "--node-manager-port", str(manager), "--object-manager-port", str(objects),
                "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
                "--runtime-env-agent-port", str(env_agent), "--metrics-export-port", str(metrics),
                "--min-worker-port", str(low), "--max-worker-port", str(low + WORKER_PORTS - 1),
                "--temp-dir", str(self.temp_dir)]

    def start(self) -> "LocalCluster":
        """Start the head and the worker nodes (about 4 s for two nodes here); each `ray start`
        returns once its node has registered."""
        if self.temp_dir is None:
            # short: Ray puts unix sockets under it, whose paths may not pass 107 characters
            self.temp_dir = Path(tempfile.mkdtemp(prefix="llray-", dir="/tmp"))
        if self.port is None:
            self.port = free_ports(1, avoid=self.held)[0]
        self.held.add(self.port)
        try:
            # no Ray Client server: it starts only with ray[client] installed, and then on a port
            # of its own (a dashboard is not started either)
            # the head still starts a dashboard process with the dashboard off, on 8265 unless told
            dashboard = free_ports(1, avoid=self.held)[0]
            self.held.add(dashboard)
            self._ray("start", "--head", "--port", str(self.port), "--include-dashboard", "false",
                      "--dashboard-host", HOST, "--dashboard-port", str(dashboard), *self._node_args())
            for _ in range(self.workers):
                self._ray("start", "--address", self.address, *self._node_args())
        except BaseException:
            self.stop()
            raise
        self.write_info()
        return self

    def write_info(self) -> Path:
        """The cluster's address and folder in `<temp_dir>/cluster.json`: another process
        (a test's driver) rebuilds it with `LocalCluster.attach(temp_dir)`."""
        if self.temp_dir is None:
            raise RuntimeError("the cluster has no folder: start() it first")
        path = Path(self.temp_dir) / "cluster.json"
        path.write_text(json.dumps({"port": self.port, "workers": self.workers, "cpus": self.cpus,
                                    "object_store_mb": self.object_store_mb}))
        return path

    @classmethod
    def attach(cls, temp_dir: str | Path) -> "LocalCluster":
        """The cluster whose folder this is, as `start` left it."""
        info = json.loads((Path(temp_dir) / "cluster.json").read_text())
        return cls(temp_dir=Path(temp_dir), **info)

    def pids(self) -> dict[int, list[bytes]]:
        """pid -> command line of every process of this cluster (those naming its folder)."""
        if self.temp_dir is None:
            return {}
        mark = str(self.temp_dir).encode()
        out = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(mark in arg for arg in cmd):
                out[int(proc.name)] = cmd
        return out

    def raylets(self) -> dict[str, int]:
        """node id -> raylet process id, for this cluster's nodes."""
        out = {}
        for pid, cmd in self.pids().items():
            if cmd and cmd[0].endswith(b"raylet"):
                node = next((a.split(b"=", 1)[1].decode() for a in cmd if a.startswith(b"--node_id=")), None)
                if node:
                    out[node] = pid
        return out

    def kill_node(self, node_id: str) -> int:
        """Kill the node's raylet (SIGKILL): the node is lost with every actor on it (the
        driver must be attached to another node). Returns the killed process id."""
        pid = self.raylets()[node_id]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self, grace: float = 3.0) -> None:
        """Stop this cluster's processes, by pid: SIGTERM, then SIGKILL for any left after
        `grace` seconds. Other clusters on the host are not touched."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while pids and time.monotonic() < deadline:
                time.sleep(0.1)
                pids = self.pids()
            if not pids:
                break
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def restart(self) -> "LocalCluster":
        """The cluster again, whole, at the same address, in a new folder (after a node was lost)."""
        self.stop()
        self.temp_dir = None
        self.held = {self.port} if self.port is not None else set()
        return self.start()
