"""A Ray cluster of several nodes on this one machine, for tests, benchmarks and trying the
executor out: `ray start --head`, then `ray start --address` for each further node, each with
its CPUs, a small object store and a node manager port that names its raylet (so one node can
be killed to test recovery)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LocalCluster:
    """A head and `workers` more nodes on this machine; `address` is the head's."""

    port: int = 6399
    workers: int = 1
    cpus: int = 1
    object_store_mb: int = 300
    manager_base: int = 6700

    @property
    def address(self) -> str:
        """host:port of the head (what --llama-ray-address takes)."""
        return f"127.0.0.1:{self.port}"

    def _ray(self, *args: str) -> None:
        ray = Path(sys.executable).with_name("ray")
        subprocess.run([str(ray), *args], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> "LocalCluster":
        """Start the head and the worker nodes (about 4 s for two nodes here)."""
        common = ["--num-cpus", str(self.cpus), "--object-store-memory", str(self.object_store_mb * 2**20),
                  "--disable-usage-stats"]
        self._ray("start", "--head", "--port", str(self.port), "--node-manager-port", str(self.manager_base), *common)
        for i in range(self.workers):
            self._ray("start", "--address", self.address, "--node-manager-port", str(self.manager_base + 1 + i),
                      *common)
        return self

    def raylets(self) -> dict[str, int]:
        """node id -> raylet process id, for this machine's Ray nodes."""
        out = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"raylet"):
                node = next((a.split(b"=", 1)[1].decode() for a in cmd if a.startswith(b"--node_id=")), None)
                if node:
                    out[node] = int(proc.name)
        return out

    def kill_node(self, node_id: str) -> int:
        """Kill the node's raylet (SIGKILL): the node is lost with every actor on it (the
        driver must be attached to another node). Returns the killed process id."""
        pid = self.raylets()[node_id]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        """Stop every Ray process of this machine (`ray stop --force`)."""
        self._ray("stop", "--force")
        time.sleep(0.5)
