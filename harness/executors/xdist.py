"""pytest-xdist's workers as executors of one machine: each worker is an in-process executor
with an equal share of the cores as torch threads (two workers at full width ran 20x slower
here) and, on a machine with several GPUs, GPUs of its own, set before anything touches CUDA.
The plugin's side (grouping, the run id every worker writes to) is pytest_llama/xdist.py."""

from __future__ import annotations

import os
from dataclasses import replace

from harness.machine import WorkerShare, visible_gpus, worker_share


def share_of(workerinput: dict) -> WorkerShare:
    """This worker's share of the machine, its GPUs made the only ones CUDA will see."""
    share = worker_share(int(workerinput["workerid"].lstrip("gw") or 0), int(workerinput["workercount"]),
                         visible_gpus(), os.cpu_count() or 1)
    if share.gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(share.gpus)
    return share


def busy_share(settings, workerinput: dict, groups: int):
    """Session settings whose threads count only the workers that will have cells: with
    fewer groups of linked cells than workers, the others stay idle, and their cores are
    the busy workers' (one group on two workers: all the cores to the one that runs it)."""
    busy = max(1, min(int(workerinput["workercount"]), groups))
    threads = max(1, (os.cpu_count() or 1) // busy)
    if threads == settings.threads:
        return settings
    return replace(settings, threads=threads, worker=f"{settings.worker}; {threads} threads while "
                                                    f"{busy} of {workerinput['workercount']} workers have cells")
