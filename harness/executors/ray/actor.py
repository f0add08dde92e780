"""The worker side: an actor holding one variant's model, computing cells with a session of
its own (its generation cache the shared path; nothing is recorded here)."""

from __future__ import annotations

import os
import socket
import time


class CellRunner:
    """Computes cells of one variant; the model loads on the first cell and stays loaded."""

    def __init__(self, settings, threads: int):
        from dataclasses import replace

        from harness.run.session import BenchSession

        self.session = BenchSession(replace(settings, threads=threads))
        self.threads = threads

    def where(self) -> dict:
        """The node, host and GPU this actor runs on."""
        import ray

        gpus = ray.get_gpu_ids()
        name = None
        if gpus:
            import torch

            name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                "gpus": [str(g) for g in gpus], "gpu": name, "threads": self.threads}

    def compute(self, cell):
        """The cell's result, computed here by the actor's session (timed by the cell's own
        clock; the time spent queueing and in transfer is not in it)."""
        began = time.perf_counter()
        result = self.session.compute(cell)
        result.engine["ray"] = self.where() | {"compute_s": round(time.perf_counter() - began, 4)}
        return result
