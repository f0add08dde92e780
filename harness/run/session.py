"""One benchmark session: models, tasks, cache and results shared by every cell run in it.

The pytest plugin holds one of these; so does the CLI. Each cell goes through `run`, which
always returns a CellResult (ok, skipped or error) and stores it before returning.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from harness.run import baseline
from harness.data import DataInvalid, DataUnavailable, hub_reachable
from harness.backends.gguf import ModelUnavailable
from harness.run.expect import check
from harness.results.gencache import GenerationCache, default_cache_dir
from harness.results.memo import ResultMemo
from harness.run.reuse import relabelled, reuse_key
from harness.spec.cell import Cell
from harness.backends.pool import ModelPool
from harness.results.progress import Sink
from harness.spec.prompts import TemplateFailed
from harness.results.record import CellResult, Verdict, new_result
from harness.results.store import RunStore
from harness.data.lmeval_index import TaskCatalog, UnknownTask
from harness.kinds.context import RunContext
from harness.kinds.registry import kind_of
from harness.machine import machine_key, probe, reproducibility
from harness.results import throughput
from harness.run.executor import Executor, InProcess
from harness.run.settings import Settings
from harness.run.skips import skip_reason


class BenchSession:
    def __init__(self, settings: Settings, progress: Sink | None = None, executor: Executor | None = None):
        self.settings = settings
        self.progress = progress   # shows a long cell's live progress line (see harness.results.progress)
        if not settings.verbose:
            from harness.run.logs import quiet

            quiet()
        self.pool = ModelPool()
        self.catalog = TaskCatalog()
        self.cache = GenerationCache(settings.cache_dir or default_cache_dir(), settings.cache_mode)
        # finished cells' results, inside the generation cache they were scored from: clearing
        # it clears them too (results/memo.py)
        self.memo = ResultMemo(self.cache.root / "cells", settings.cache_mode)
        self._reuse_keys: dict[str, str | None] = {}   # cell key -> memo key, worked out once
        self._store: RunStore | None = None
        self._rates: throughput.Rates | None = None
        self.done: dict[str, CellResult] = {}  # by cell key, in the order the cells finished
        self.trained: dict[tuple, object] = {}  # (spec path, recipe) -> training.Trained, this session
        self.new_trainings: list[dict] = []      # training records since the last computed cell
        self.executor = executor or InProcess()  # where cells are computed (harness/run/executor.py)
        self.baseline = baseline.load(settings.baseline) if settings.baseline else None

    @property
    def store(self) -> RunStore:
        """The run folder's store, made when the first cell is recorded."""
        if self._store is None:
            self._store = RunStore(self.settings.results_dir, self.settings.run_id)
            self._store.write_run_info(probe().describe())
        return self._store

    @property
    def context(self) -> RunContext:
        """What a kind's runner reads of this session (harness/kinds/context.py)."""
        return RunContext(cache=self.cache, progress=self.progress, data_dir=self.settings.data_dir,
                          catalog=self.catalog, pool=self.pool)

    @property
    def results(self) -> list[CellResult]:
        """Every cell's result so far, in the order they finished."""
        return list(self.done.values())

    def skip_reason(self, cell: Cell) -> str | None:
        """Why the cell cannot run on this machine, or None."""
        return skip_reason(cell, probe(), hub_reachable)

    def run(self, cell: Cell, rounds_runner=None, pulled_in_by: str | None = None) -> CellResult:
        """The cell's result, computed once per session; the variants its relative bounds
        name are run first (whatever order or selection pytest chose), so a `vs:` bound always
        has its reference. A reference run only for that is recorded as pulled in, not as a
        cell of the selection."""
        if cell.key in self.done:
            return self.done[cell.key]
        for variant in cell.references:
            self.run(cell.counterpart(variant), pulled_in_by=cell.key)
        return self._run(cell, rounds_runner, pulled_in_by)

    def _run(self, cell: Cell, rounds_runner=None, pulled_in_by: str | None = None) -> CellResult:
        result = self.executor.compute(self, cell, rounds_runner)
        return self.record(cell, result, pulled_in_by)

    def compute(self, cell: Cell, rounds_runner=None) -> CellResult:
        """The cell run here: its result (ok, skipped or error), not yet judged or recorded.
        Never raises: a broken cell must not lose the others' results. An executor calls this
        where the cell runs (this process, or a Ray actor holding the variant's model)."""
        started = time.perf_counter()
        reason = self.skip_reason(cell)
        result: CellResult | None = None
        memo_key: str | None = None
        if reason is None:
            memo_key = self.reuse_key(cell)
            kept = self.memo.get(memo_key) if memo_key else None
            if kept is not None and memo_key is not None:
                result = relabelled(kept, cell, memo_key, time.perf_counter() - started)
                result.trainings = self.new_trainings
                self.new_trainings = []
                return result
        if reason is None:
            try:
                if self.settings.threads:
                    import torch

                    torch.set_num_threads(self.settings.threads)
                variant, adapter = self.adapted(cell)
                loaded = self.pool.handle(cell.spec.model, variant)
                loads = self.pool.loads
                result = kind_of(cell.task).run(cell, loaded, self.context, rounds_runner)
                result.engine["model_loads"] = self.pool.loads - loads
                if adapter is not None:
                    result.engine["adapter"] = {"recipe": adapter.recipe, "key": adapter.key,
                                                "trained_in_this_run": not adapter.reused}
                result.device = self.machine_label(loaded.device)
                result.reproducibility = reproducibility(loaded.device, variant.precision in ("int8", "nf4"))
                if self.settings.worker:
                    result.engine["worker_share"] = self.settings.worker
                if loaded.is_loaded and loaded.loaded.placement:   # device_map: where accelerate put the weights
                    result.engine["placement_mparams"] = loaded.loaded.placement
            except (DataUnavailable, ModelUnavailable) as exc:
                reason = str(exc)
            except (UnknownTask, DataInvalid, TemplateFailed) as exc:
                result = new_result(cell)
                result.status, result.reason = "error", str(exc)
            except Exception as exc:  # a broken cell must not lose the others' results
                result = new_result(cell)
                result.status = "error"
                result.reason = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        if reason is not None:
            result = new_result(cell)
            result.status, result.reason = "skipped", reason
            if self.settings.strict:
                result.status, result.reason = "error", f"would be skipped, and --llama-strict fails it: {reason}"
        if result is None:     # every branch above sets it; a kind's run that returned nothing is an error
            result = new_result(cell)
            result.status, result.reason = "error", "the cell's run returned no result"
        if not result.wall_s:
            result.wall_s = time.perf_counter() - started
        if memo_key and result.status == "ok" and not result.extra_verdicts and not self.new_trainings:
            try:
                self.memo.put(memo_key, result)
            except OSError:
                pass      # a full or read-only disk: the result is recorded all the same
        result.trainings = self.new_trainings
        self.new_trainings = []
        return result

    def record(self, cell: Cell, result: CellResult, pulled_in_by: str | None = None) -> CellResult:
        """Judge a computed cell against its bounds (its `vs:` references are recorded
        already) and the baseline, and write it to the run folder, once."""
        if result.status == "ok":
            result.verdicts = check(result, cell.task.expect, lambda v: self.done.get(cell.counterpart(v).key))
            result.verdicts += result.extra_verdicts
            if self.baseline is not None:
                result.verdicts.append(self._gate(cell, result))
        result.pulled_in_by = pulled_in_by
        for training in result.trainings:
            self.store.add_training(training)
            self.rates.observe_training(training)
        self.store.add(result, {"spec_line": cell.task.line})
        if self.rates.observe(result.record()) or result.trainings:
            try:
                throughput.write(self.rates)      # the next plan's estimate, refined
            except OSError:
                pass                              # a read-only cache: estimates stay as they were
        self.done[cell.key] = result
        return result

    @property
    def rates(self) -> "throughput.Rates":
        """This machine's measured throughput (results/throughput.py), read once."""
        if self._rates is None:
            self._rates = throughput.read(machine_key(self.settings.threads))
        return self._rates

    def plan(self, cells: list[Cell]):
        """What `cells` will do and an estimate of their time here (plan/estimate.py)."""
        from harness.plan.estimate import estimate

        skips = {c.key: why for c in cells if (why := self.skip_reason(c)) is not None}
        kept = {c.key for c in cells if c.key not in skips and self._kept(c)}
        return estimate(cells, self.rates, self.settings.data_dir, self.catalog, skips, kept)

    def preflight(self, cells: list[Cell]) -> list[str]:
        """What stops the run before any cell runs: each variant with cells to compute (not
        skipped, not kept in the memo) asked once of its backend (an endpoint that does not
        answer), as `<spec>:<line>: variant <name>: <why>`."""
        from harness.backends.registry import backend_of

        problems, asked = [], set()
        for cell in cells:
            variant = cell.variant
            if (cell.spec.path, variant.name) in asked or self.skip_reason(cell) is not None or self._kept(cell):
                continue
            asked.add((cell.spec.path, variant.name))
            why = backend_of(variant).preflight(variant)
            if why:
                problems.append(f"{cell.spec.path}:{variant.line or cell.spec.line}: variant {variant.name}: {why}")
        return problems

    def _kept(self, cell: Cell) -> bool:
        """Whether the cell's result is in the result memo (it will compute nothing)."""
        key = self.reuse_key(cell)
        return key is not None and self.memo.has(key)

    def reuse_key(self, cell: Cell) -> str | None:
        """The cell's key in the result memo (run/reuse.py), once per session (the plan and the
        run both ask); None when the memo is off or the cell is always computed."""
        if self.memo.mode == "off":
            return None
        if cell.key not in self._reuse_keys:
            try:
                self._reuse_keys[cell.key] = reuse_key(cell, self.settings.limit)
            except Exception:     # noqa: BLE001 - what the key reads (data, weights) fails the cell when it runs
                self._reuse_keys[cell.key] = None
        return self._reuse_keys[cell.key]

    def adapted(self, cell: Cell):
        """The cell's variant with its recipe's adapter trained (or taken from the cache), and
        the training; the variant as written when it names no recipe."""
        variant = cell.variant
        if variant.adapter is None or variant.adapter.recipe is None:
            return variant, None
        from dataclasses import replace

        done = self.train(cell.spec, variant.adapter.recipe)
        return replace(variant, adapter=replace(variant.adapter, path=done.path)), done

    def train(self, spec, name: str):
        """A spec's recipe, trained once per key (harness/training/train.py); its record is kept in the run."""
        key = (str(spec.path), name)
        if key not in self.trained:
            from harness.backends.weights import default_device, weights_location
            from harness.training.keys import adapter_cache_dir
            from harness.training.train import trained

            recipe = spec.adapters[name]
            weights = weights_location(spec.model)
            chat = spec.model.chat if recipe.data.chat is None else recipe.data.chat
            self.pool.release()       # the evaluated model's memory goes to training
            done = trained(recipe, weights.location, weights.id, self.pool.tokenizer(spec.model), chat,
                           self.settings.data_dir, adapter_cache_dir(), self.progress,
                           device=default_device())
            self.new_trainings.append(done.record | {"spec_name": spec.name, "reused": done.reused,
                                                     "path": done.path})
            self.trained[key] = done
        return self.trained[key]

    def machine_label(self, device: str) -> str:
        """The device a record names: the GPU's name, or cpu."""
        return probe().describe() if device == "cuda" else "cpu"

    def _gate(self, cell: Cell, result: CellResult) -> Verdict:
        tolerance = kind_of(cell.task).regression_tolerance(cell.task)
        found = result.baseline = baseline.gate(result, self.baseline or {}, tolerance)
        lines = (found["regressions"] or found["improvements"] or found["notes"]) + found["reproducibility"]
        message = f"{found['status']} against baseline {self.settings.baseline}" + (
            ":\n  " + "\n  ".join(lines) if lines else "")
        bad = {"regressed"} | ({"incomparable"} if self.settings.strict else set())
        if found["status"] == "incomparable":      # an edit, not a regression: say so
            bound = "compared with the baseline" + (" (strict: a cell not compared fails)" if self.settings.strict else "")
            return Verdict("baseline", bound, found["status"] not in bad,
                           f"not compared with baseline {self.settings.baseline}:\n  " + "\n  ".join(lines))
        return Verdict("baseline", "no significant regression vs baseline" + (" (strict)" if self.settings.strict else ""),
                       found["status"] not in bad, message)

    def close(self) -> Path | None:
        """Free the model (and the executor's workers) and render the report; returns the
        report's path (None if nothing ran)."""
        self.executor.close()
        self.pool.release()
        if self._store is None:
            return None
        from harness.report.render import render_report

        return render_report(self._store.dir)
