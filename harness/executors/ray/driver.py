"""The driver side: every selected cell dispatched at the start, results collected as they
finish, actors started and stopped as the work needs them.

Scheduling. The cluster has `slots` actor places (its CPUs over each actor's CPUs; GPUs are
Ray's to count: an actor that asks for more than are free waits). A free slot goes to the
variant with the most pending cells per actor serving it, first to variants no actor holds
yet, then to any with a cell waiting: a slot never idles while a cell waits, even if that
means loading a variant's model a second time (a second or two for the embedded model, next
to a cell's tens of seconds). An idle actor takes the next cell of its own variant; an actor
whose variant has no cell left is stopped, freeing its slot.

Faults. A cell whose actor died (its worker process or its node lost) goes back to the front of
its variant's queue and runs on a new actor, at most `RETRIES` more times; it is recorded once,
whichever attempt finished it. A cell that fails on its own merits comes back as an error
result (the session's `compute` never raises) and is not retried.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from harness.backends.pool import variant_key
from harness.executors.ray.actor import CellRunner
from harness.executors.ray.placement import resources
from harness.results.gencache import default_cache_dir
from harness.results.record import new_result
from harness.spec.cell import Cell

RETRIES = 2


@dataclass
class _Actor:
    handle: Any                  # a Ray actor handle (CellRunner.remote)
    vkey: str
    busy: object = None          # the ObjectRef of the cell it computes, or None


@dataclass
class _Flight:
    actor: int
    cell: Cell
    sent: float = field(default_factory=time.perf_counter)


class RayExecutor:
    """Cells computed on a Ray cluster's actors; see the module's docstring."""

    name = "ray"
    spreads_cells = True

    def __init__(self, ray, settings, cpus_per_actor: int = 1):
        self.ray = ray
        # the workers' generation cache: the folder this process would use, resolved here (a
        # worker inherits its raylet's environment, not this one's): a shared path
        self.settings = replace(settings, cache_dir=settings.cache_dir or default_cache_dir(), baseline=None,
                                worker=None)   # the driver gates on the baseline; workers only compute
        self.env = {k: v for k, v in os.environ.items() if k.startswith(("LLAMA_", "HF_", "TRANSFORMERS_"))}
        self.cpus = max(1, int(cpus_per_actor))
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.cpus)
        self.remote = ray.remote(CellRunner)
        self.lock = threading.Condition()
        self.queues: dict[str, deque] = {}
        self.variants: dict[str, object] = {}
        self.known: set[str] = set()
        self.results: dict[str, object] = {}
        self.attempts: dict[str, int] = {}
        self.actors: dict[int, _Actor] = {}
        self.flights: dict[object, _Flight] = {}
        self.faults: list[str] = []
        self.failed: BaseException | None = None
        self._next_actor = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- the seam ------------------------------------------------------------------------------

    def start(self, session, cells) -> None:
        """Dispatch the cells, and the `vs:` references they need, to the cluster."""
        todo, seen = list(cells), set()
        with self.lock:
            while todo:
                cell = todo.pop(0)
                if cell.key in seen or cell.key in self.known:
                    continue
                seen.add(cell.key)
                self.known.add(cell.key)
                vkey = variant_key(cell.spec.model, cell.variant)
                self.queues.setdefault(vkey, deque()).append(cell)
                self.variants[vkey] = cell.variant
                todo.extend(cell.counterpart(v) for v in cell.references)
            self.lock.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="llama-ray", daemon=True)
            self._thread.start()

    def compute(self, session, cell, rounds_runner=None):
        """The cell's result from the cluster, waiting until it arrives (timed by its own clock
        on the worker: pytest-benchmark's rounds do not run here)."""
        if cell.key not in self.known:
            self.start(session, [cell])
        with self.lock:
            while cell.key not in self.results:
                if self.failed is not None:
                    raise RuntimeError(f"the Ray executor stopped: {self.failed}") from self.failed
                self.lock.wait(timeout=1.0)
            return self.results.pop(cell.key)

    def close(self) -> None:
        """Stop the scheduler and every actor, and leave the cluster."""
        with self.lock:
            self._stop = True
            self.lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for actor in list(self.actors.values()):
            self._kill(actor)
        self.actors.clear()
        if self.ray.is_initialized():
            self.ray.shutdown()

    # -- the scheduler thread ------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                with self.lock:
                    if self._stop:
                        return
                    self._launch()
                    self._feed()
                    refs = list(self.flights)
                    if not refs:
                        self.lock.wait(timeout=0.2)
                        continue
                ready, _ = self.ray.wait(refs, num_returns=1, timeout=0.5)
                for ref in ready:
                    self._collect(ref)
        except BaseException as exc:     # the waiting items must hear of it, not hang
            with self.lock:
                self.failed = exc
                self.lock.notify_all()

    def _serving(self, vkey: str) -> int:
        return sum(1 for a in self.actors.values() if a.vkey == vkey)

    def _idle(self, vkey: str) -> int:
        return sum(1 for a in self.actors.values() if a.vkey == vkey and a.busy is None)

    def _launch(self) -> None:
        """Start actors while there are free slots and a variant has more cells than actors."""
        while len(self.actors) < self.slots:
            waiting = [(self._serving(k) == 0, len(q) / (self._serving(k) + 1), k)
                       for k, q in self.queues.items() if len(q) > self._idle(k)]
            if not waiting:
                return
            *_, vkey = max(waiting)
            variant = self.variants[vkey]
            need = resources(variant, self.cpus)
            env = self.env | {"OMP_NUM_THREADS": str(self.cpus), "MKL_NUM_THREADS": str(self.cpus)}
            handle = self.remote.options(**need.options(), max_restarts=0, max_task_retries=0,
                                         runtime_env={"env_vars": env}).remote(self.settings, self.cpus)
            self.actors[self._next_actor] = _Actor(handle, vkey)
            self._next_actor += 1

    def _feed(self) -> None:
        """Give every idle actor the next cell of its variant, or stop it when there is none."""
        for aid, actor in list(self.actors.items()):
            if actor.busy is not None:
                continue
            queue = self.queues.get(actor.vkey)
            if queue:
                cell = queue.popleft()
                ref = actor.handle.compute.remote(cell)
                actor.busy = ref
                self.flights[ref] = _Flight(aid, cell)
            else:
                self._kill(actor)
                del self.actors[aid]

    def _collect(self, ref) -> None:
        ex = self.ray.exceptions
        lost = (ex.RayActorError, ex.WorkerCrashedError, ex.NodeDiedError, ex.ObjectLostError, ex.OwnerDiedError)
        with self.lock:
            flight = self.flights.pop(ref)
            actor = self.actors.get(flight.actor)
            cell = flight.cell
        try:
            result = self.ray.get(ref)
        except lost as exc:
            with self.lock:
                tries = self.attempts[cell.key] = self.attempts.get(cell.key, 0) + 1
                what = f"{cell.key}: attempt {tries} lost ({type(exc).__name__})"
                self.faults.append(what)
                if actor is not None:
                    self.actors.pop(flight.actor, None)
                    self._kill(actor)
                if tries <= RETRIES:
                    self.queues[variant_key(cell.spec.model, cell.variant)].appendleft(cell)
                else:
                    self.results[cell.key] = self._error(cell, f"lost {tries} times on the Ray cluster: {exc}")
                self.lock.notify_all()
            return
        except ex.RayTaskError as exc:
            result = self._error(cell, f"the Ray worker raised: {exc}")
        result.engine.setdefault("ray", {})
        result.engine["ray"].update(round_trip_s=round(time.perf_counter() - flight.sent, 4),
                                    attempt=self.attempts.get(cell.key, 0) + 1,
                                    faults=[f for f in self.faults if f.startswith(cell.key + ":")])
        with self.lock:
            if actor is not None:
                actor.busy = None
            self.results[cell.key] = result
            self.lock.notify_all()

    def _error(self, cell, reason: str):
        result = new_result(cell)
        result.status, result.reason = "error", reason
        return result

    def _kill(self, actor: _Actor) -> None:
        try:
            self.ray.kill(actor.handle)
        except Exception:  # already gone with its node
            pass
