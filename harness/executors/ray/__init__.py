"""Cells on a Ray cluster: `--llama-executor ray` (pytest) or `llama-harness run --executor ray`.

pytest still collects, selects (-k, -m) and reports every cell as its own item; the spec does
not change. At the start of the run every selected cell (and each `vs:` reference it needs)
is dispatched to actors of the cluster: an actor holds one variant's model, loaded once, and
asks for the resources the variant needs (placement.py); results stream back to this process,
which judges and records each cell once, in one run folder, as a local run does.

The generation cache is a shared path: workers read and write the folder `--llama-cache-dir`
(or $LLAMA_GENCACHE_DIR, else ~/.cache/pytest-llama/generations) names, which must be the same
filesystem on every node (one machine, NFS, a shared volume). The cache is keyed per request
inside a cell's lm-eval run, so only the worker knows the keys; sending every generation to
the driver and back would cost more than the cells it saves. A re-run after the driver was
killed finds the finished cells' generations there and does not generate them again.

Ray is an extra: `pip install 'pytest-llama[ray]'`.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from harness.run.executor import ExecutorOptions, ExecutorUnavailable

INSTALL = "Ray is not installed in this environment: pip install 'pytest-llama[ray]' (or pip install ray)"


class ClusterUnavailable(ExecutorUnavailable):
    """No Ray cluster at the address, or Ray is not installed; the message says what to do."""


def address(given: str | None) -> str:
    """The cluster's address: `--llama-ray-address`, else $RAY_ADDRESS, else `auto`."""
    return given or os.environ.get("RAY_ADDRESS") or "auto"


def connect(where: str, timeout: float = 5.0):
    """Connect this process to the cluster, or fail within `timeout` seconds with what to do.
    An address host:port is probed first, so an unreachable cluster is an error in seconds,
    not after Ray's own retries."""
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(INSTALL) from None
    if ":" in where and not where.startswith("ray://"):
        host, _, port = where.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except (OSError, ValueError) as exc:
            raise ClusterUnavailable(f"no Ray cluster answers at {where} ({exc}); start one with `ray start --head "
                                     f"--port {port}`, or give --llama-ray-address (or RAY_ADDRESS)") from None
    began = time.monotonic()
    try:
        ray.init(address=where, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False,
                 ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterUnavailable(f"cannot join the Ray cluster at {where!r} after {time.monotonic() - began:.1f} s: "
                                 f"{exc}; start one (`ray start --head`) or give --llama-ray-address") from None
    return ray


def executor(options: ExecutorOptions):
    """The Ray executor over the cluster at the options' address (raises ClusterUnavailable)."""
    from harness.executors.ray.driver import RayExecutor

    ray = connect(address(options.address))
    return RayExecutor(ray, options.settings, options.cpus_per_worker)
