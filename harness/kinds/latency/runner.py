"""Running a latency cell: fixed prompts, timed generation, memory -> CellResult.

Every row generates exactly `new_tokens` (EOS is ignored), in fixed batches, so variants are
compared on equal work. Warm-up rounds run first and are not counted. Each backend times its
batches with its own honest clock (`Engine.timed`): the transformers backend marks every
decode step (monotonic clock on a CPU, CUDA events on a GPU), the vLLM backend reads its
per-request stamps. Nothing is read from or written to the generation cache.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Callable

from harness.backends.base import BatchTiming, LoadRun, ServedEngine, takes_messages
from harness.spec.cell import Cell
from harness.kinds.latency.timings import percentile, spread  # noqa: F401 - percentile: for callers
from harness.results.record import CellResult, Metric

# (one round, rounds, warm-up rounds) -> None; the pytest plugin passes pytest-benchmark's
# pedantic runner here, so the rounds show up in its table and JSON.
RoundRunner = Callable[[Callable[[], None], int, int], None]


def plain_rounds(one_round: Callable[[], None], rounds: int, warmup: int) -> None:
    """Warm-up rounds, then timed rounds, without pytest-benchmark."""
    for _ in range(warmup):
        one_round()
    for _ in range(rounds):
        one_round()


def load_prompts(source: str, limit: int | None = None) -> list[str]:
    """The latency prompts: the shipped default set or a JSONL file's `prompt` fields."""
    if source == "default":
        text = resources.files("harness.data").joinpath("latency_prompts.jsonl").read_text(encoding="utf-8")
        where = "the default prompt set"
    else:
        text, where = Path(source).read_text(encoding="utf-8"), source
    prompts = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            prompts.append(str(json.loads(line)["prompt"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}:{n}: each line must be a JSON object with a \"prompt\" string ({exc})") from None
    return prompts[:limit] if limit else prompts


def summarize(timings: list[tuple[int, BatchTiming]], peak_rss_mb: float, gpu_mb: float | None,
              footprint: float) -> dict[str, Metric]:
    """Metrics from the counted batches: (rows in the batch, its timing) each."""
    ttft, e2e, steps = [], [], []
    tokens, total, decode_s = 0, 0.0, 0.0
    for rows, t in timings:
        ttft += [t.first_token_s] * rows
        e2e += [t.total_s] * rows
        steps += t.step_s * rows   # every row of the batch waits each step
        tokens += t.new_tokens
        total += t.total_s
        decode_s += sum(t.step_s)
    out: dict[str, Metric] = {}
    spread("ttft_ms", ttft, out)
    spread("e2e_ms", e2e, out)
    spread("token_ms", steps, out)
    decode_tokens = tokens - sum(rows for rows, _ in timings)
    for name, value in (("tokens_per_s", tokens / total),
                        ("decode_tokens_per_s", decode_tokens / decode_s if decode_s else float("nan")),
                        ("peak_rss_mb", peak_rss_mb), ("footprint_mb", footprint)):
        out[name] = Metric(name, value, None, None, None, "", len(ttft))
    if gpu_mb is not None:
        out["peak_gpu_mb"] = Metric("peak_gpu_mb", gpu_mb, None, None, None, "", len(ttft))
    return out


def run_latency(cell: Cell, loaded, result: CellResult, rounds_runner: RoundRunner = plain_rounds) -> CellResult:
    """Time one fixed batch per round and measure memory: the cell's result."""
    settings = cell.task.settings
    started = time.perf_counter()
    tokenizer = loaded.tokenizer
    prompts = load_prompts(settings.prompts, settings.limit)
    if cell.spec.model.chat and takes_messages(cell.variant):   # the server applies its own template
        rows: list = [[{"role": "user", "content": p}] for p in prompts]
    elif cell.spec.model.chat:
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                               add_generation_prompt=True) for p in prompts]
        rows = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    else:
        rows = [tokenizer.encode(p) for p in prompts]
    batches = [rows[i:i + settings.batch_size] for i in range(0, len(rows), settings.batch_size)]
    engine = loaded.engine()         # the backend times its own batches (harness/backends/)
    if isinstance(engine, ServedEngine):
        return _load_test(cell, loaded, engine, rows, prompts, result, rounds_runner, started)
    counted: list[tuple[int, BatchTiming]] = []
    short: list[int] = []
    state = {"round": 0}

    def one_round() -> None:
        state["round"] += 1
        keep = state["round"] > settings.warmup
        for batch in batches:
            timing = engine.timed(batch, settings.new_tokens)
            if timing.new_tokens != len(batch) * settings.new_tokens:
                short.append(len(batch) * settings.new_tokens - timing.new_tokens)
            if keep:
                counted.append((len(batch), timing))

    with engine.peak_memory() as peak:
        rounds_runner(one_round, settings.rounds, settings.warmup)
    if short:
        raise RuntimeError(f"{len(short)} batches stopped {sum(short)} tokens short of {settings.new_tokens} per row")
    result.metrics = summarize(counted, peak.rss_peak_mb, peak.gpu_peak_mb, loaded.footprint_bytes / 2**20)
    _describe(result, loaded, engine, settings, len(prompts), started,
              {"batch_size": settings.batch_size, "prompt_tokens": sum(len(r) for r in rows)})
    return result


def _load_test(cell: Cell, loaded, engine: ServedEngine, rows: list, prompts: list[str], result: CellResult,
               rounds_runner: RoundRunner, started: float) -> CellResult:
    """A latency cell on a served model: a load test (load.py) per round, warm-up rounds not counted."""
    from harness.kinds.latency import load

    settings = cell.task.settings
    runs: list[LoadRun] = []
    state = {"round": 0}

    def one_round() -> None:
        state["round"] += 1
        run = engine.load(rows, settings.new_tokens)
        short = [r for r in run.requests if r.tokens != settings.new_tokens]
        if short:
            raise RuntimeError(f"{len(short)} requests generated other than {settings.new_tokens} tokens "
                               f"(e.g. {short[0].tokens}): the server ignored max_tokens or the EOS ban")
        if state["round"] > settings.warmup:
            runs.append(run)

    with engine.peak_memory() as peak:
        rounds_runner(one_round, settings.rounds, settings.warmup)
    slo = dict(settings.slo) if settings.slo else None
    result.metrics = load.summarize(runs, slo)
    for name, value in (("peak_rss_mb", peak.rss_peak_mb), ("footprint_mb", loaded.footprint_bytes / 2**20)):
        result.metrics[name] = Metric(name, value, None, None, None, "", len(prompts))
    _describe(result, loaded, engine, settings, len(prompts), started, load.record(runs, slo))
    return result


def _describe(result: CellResult, loaded, engine, settings, prompts: int, started: float, extra: dict) -> None:
    """What every latency cell records besides its metrics: its prompts, weights and engine."""
    result.n_samples = prompts
    result.data_source = "default latency prompts (20, shipped)" if settings.prompts == "default" else settings.prompts
    result.weights_id = loaded.weights_id
    result.weights_origin = loaded.origin
    result.wall_s = time.perf_counter() - started
    result.engine = {"device": loaded.device, "prompts": prompts, "new_tokens": settings.new_tokens,
                     "rounds": settings.rounds, "warmup": settings.warmup, "timer": engine.timer,
                     "load_s": round(loaded.load_seconds, 2), **extra}
    if getattr(engine, "memory_note", None):
        result.engine["memory_note"] = engine.memory_note
