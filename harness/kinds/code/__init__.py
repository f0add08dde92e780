"""Code execution: the model writes programs, and each runs in the sandbox against the item's tests.

An lm-eval task that declares `unsafe_code` (the HumanEval family). The task keeps lm-eval's
prompts, stops and program assembly; scoring moves into sandbox.py (runner.py),
and the metrics are pass@k over `repeats` samples. Running model-written code is opt-in per
task: `allow_code_execution: true`, else validation stops with the task's line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.kinds.base import fragment
from harness.kinds.lmeval import FAMILY, Accuracy
from harness.spec.runtime import runtime

RISKS = ("network", "filesystem")
SCHEMA = {
    "properties": {
        "allow_code_execution": {
            "type": "boolean",
            "description": "Run model-written code (HumanEval), each program in the sandbox; off unless the spec says so."},
        "sandbox": {
            "type": "object", "additionalProperties": False,
            "description": "How a code task's programs run: each in its own confined process",
            "properties": {
                "timeout": {"type": "number", "exclusiveMinimum": 0,
                            "description": "wall-clock seconds per program; also its CPU-time limit"},
                "memory_mb": {"type": "integer", "minimum": 64, "description": "address-space limit per program, MiB"},
                "accept_risks": {"type": "array", "uniqueItems": True, "items": {"enum": list(RISKS)},
                                 "description": "run even where the kernel refuses to isolate these"}}},
    },
}


@dataclass(frozen=True)
class SandboxSettings:
    """How a code task's programs run (sandbox.py): wall and CPU seconds, and the
    confinements the spec accepts to go without where the kernel refuses them."""

    timeout: float = 10.0
    memory_mb: int = 1024
    accept_risks: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeSettings:
    allowed: bool = False
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)


def pass_ks(repeats: int) -> tuple[int, ...]:
    """The k of pass@k a cell reports: 1, the number of samples, and 10 when there are that many."""
    n = max(1, repeats)
    return tuple(sorted({1, n} | ({10} if n >= 10 else set())))


class Code(Accuracy):
    name = "code"
    engine_calls = ("generate",)
    unit = "programs"
    reusable = False    # a program's verdict can hang on the sandbox's time limit on this machine
    description = "a code-execution cell (programs run in the sandbox; pass@k)"
    SCHEMA = fragment(FAMILY, SCHEMA)

    def claims_config(self, base: dict | None) -> bool:
        """lm-eval's tasks that declare `unsafe_code` (they run model-written code)."""
        return bool(base and base.get("unsafe_code"))

    def parse(self, checker, raw: dict, path: tuple) -> CodeSettings:
        """Whether the spec allows running model-written code, and the sandbox's limits."""
        if not raw.get("allow_code_execution"):
            checker.error(path, f"{raw.get('lm_eval')} runs model-written code, and this task does not allow it",
                          "add `allow_code_execution: true` to run it (each program runs in the sandbox, "
                          "harness/kinds/code/sandbox.py)")
        given = raw.get("sandbox") or {}
        sandbox = SandboxSettings(**{k: tuple(v) if isinstance(v, list) else v   # type: ignore[arg-type]
                                     for k, v in given.items()})   # the schema types each key
        return CodeSettings(bool(raw.get("allow_code_execution")), sandbox)

    def reported(self, task, row, base):
        """pass@k for the k its repeats give, under lm-eval's filter."""
        found = super().reported(task, row, base)
        return {f"pass@{k}" for k in pass_ks(task.repeats)}, (found[1] if found else {"create_test"})

    def own_scoring(self) -> bool:
        """False: lm-eval's scorer for these loads `evaluate` from the hub and execs in-process."""
        return False    # lm-eval's scorer for these loads `evaluate` from the hub and execs in-process

    def repeat_metric(self, metric: str) -> bool:
        """pass@k is already an estimate over the k samples: nothing is derived from it."""
        return not metric.startswith("pass@")

    def adapt(self, cfg: dict, cell):
        """Scoring moved into the sandbox (runner.py); the hook records how programs ran."""
        cfg, scorer = runtime("harness.kinds.code.runner").code_config(cfg, cell.task, f"{cell.spec.path}:{cell.task.line}")

        def after(result, logged, _s=scorer):
            _s.annotate(result.samples, logged)
            result.engine["code"] = _s.record()
        return cfg, after

    def report(self, mine, spec_cells, run_dir, spec_name) -> list[dict]:
        """Per cell: how its programs ran in the sandbox (report.md.j2)."""
        return [{"item": c["item"], **(c.get("engine") or {}).get("code", {})} for c in mine
                if (c.get("engine") or {}).get("code")]

    def summary(self, r) -> str:
        """The primary metric, and programs run with their seconds each."""
        line = super().summary(r)
        code = r.engine.get("code") or {}
        if code.get("seconds_per_program") is not None:
            line += f", {code['programs']} programs at {code['seconds_per_program']:.2f} s each in the sandbox"
        return line
