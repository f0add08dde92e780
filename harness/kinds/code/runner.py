"""Code-execution tasks: lm-eval's HumanEval family, with every program run in the sandbox.

lm-eval scores these tasks (`unsafe_code: true`) with Hugging Face `evaluate`'s code_eval,
which loads from the hub and `exec`s model code in the evaluating process. Here the task
keeps lm-eval's prompts, stops and answer assembly (`build_predictions`, or the instruct
form that cuts at the closing fence), and its scoring is replaced: each program,
completion + the problem's tests + `check(entry_point)`, runs in harness/kinds/code/sandbox.py, and the
metrics are pass@k by the unbiased estimator over the item's samples (`repeats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.kinds.code.sandbox import Limits, Outcome, Sandbox
from harness.kinds.code import pass_ks
from harness.results.stats import pass_at_k


class CodeExecutionOff(Exception):
    """A code task in a spec that did not allow running model-written code."""


def completion(doc: dict, response: str) -> str:
    """lm-eval's `build_predictions`: the prompt, then the model's continuation."""
    return doc["prompt"] + response


def instruct_completion(doc: dict, response: str) -> str:
    """lm-eval's `build_predictions_instruct`: the answer continues the prompt inside a
    ```python fence (the task's gen_prefix); it ends at the closing fence."""
    end = response.find("```")
    return doc["prompt"] + (response if end == -1 else response[:end])


BUILDERS = {"build_predictions": completion, "build_predictions_instruct": instruct_completion}


def program(doc: dict, solution: str) -> str:
    """The program run in the sandbox: the solution, the problem's tests, and the check call."""
    return f"{solution}\n\n{doc['test']}\n\ncheck({doc['entry_point']})\n"


@dataclass
class CodeScorer:
    """Runs an item's programs (memoised within the cell) and scores pass@k."""

    sandbox: Sandbox
    ks: tuple[int, ...]
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def run(self, text: str) -> Outcome:
        """Run one program in the sandbox, memoised within the cell."""
        if text not in self.outcomes:
            self.outcomes[text] = self.sandbox.run(text)
        return self.outcomes[text]

    def process(self, doc: dict, results: list) -> dict[str, float]:
        """lm-eval's process_results: pass@k over the item's programs."""
        programs = results[0] if isinstance(results[0], (list, tuple)) else [results[0]]
        passed = sum(self.run(p).passed for p in programs)
        return {f"pass@{k}": pass_at_k(len(programs), passed, k) for k in self.ks if k <= len(programs)}

    def annotate(self, samples: list[dict], logged: list[tuple[str, dict]]) -> None:
        """Each sample row gets its programs' outcomes: passed, reason and seconds."""
        rows = {(row["subtask"], row["doc_id"]): row for row in samples}
        for task_name, s in logged:
            row = rows.get((task_name, int(s["doc_id"])))
            texts = s.get("filtered_resps")
            while isinstance(texts, (list, tuple)) and texts and isinstance(texts[0], (list, tuple)):
                texts = texts[0]
            if row is None or not isinstance(texts, (list, tuple)):
                continue
            found = [self.outcomes[p] for p in texts if p in self.outcomes]
            row["programs"] = [{"passed": o.passed, "reason": o.reason, "seconds": round(o.seconds, 3)}
                               for o in found]

    def record(self) -> dict[str, Any]:
        """How the cell's programs ran: counts, seconds each, outcomes, the sandbox."""
        seconds = [o.seconds for o in self.outcomes.values()]
        reasons: dict[str, int] = {}
        for o in self.outcomes.values():
            key = o.reason.split(":", 2)[1].strip() if o.reason.startswith("failed:") else "passed"
            reasons[key] = reasons.get(key, 0) + 1
        return {"sandbox": self.sandbox.description, "programs": len(seconds),
                "seconds_per_program": round(sum(seconds) / len(seconds), 4) if seconds else None,
                "outcomes": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}


def code_config(cfg: dict[str, Any], task, where: str) -> tuple[dict[str, Any], CodeScorer]:
    """lm-eval's code task config with its scoring moved into the sandbox."""
    if not task.settings.allowed:
        raise CodeExecutionOff(f"{where}: task {task.name!r} runs model-written code; set "
                               f"`allow_code_execution: true` to run it (each program runs in a sandbox)")
    settings = task.settings.sandbox
    limits = Limits(timeout=settings.timeout, cpu_seconds=max(1, int(settings.timeout)),
                    memory_bytes=settings.memory_mb << 20)
    ks = pass_ks(task.repeats)
    scorer = CodeScorer(Sandbox(limits, accept_risks=settings.accept_risks), ks)
    builder = None
    for flt in cfg.get("filter_list") or []:
        for step in flt.get("filter", []):
            fn = step.get("filter_fn")
            name = fn.rsplit(".", 1)[-1] if isinstance(fn, str) else getattr(fn, "__name__", "")
            builder = BUILDERS.get(name, builder)
    if builder is None:
        raise CodeExecutionOff(f"{where}: lm-eval task {cfg.get('task')!r} assembles its programs in a way "
                               f"this harness does not know; known: {', '.join(BUILDERS)}")

    def assemble(resps, docs, _b=builder):
        return [[program(doc, _b(doc, r)) for r in rs] for rs, doc in zip(resps, docs)]

    out = dict(cfg)
    out.pop("unsafe_code", None)   # lm-eval's guard is for its in-process scorer, which this config replaces
    out["filter_list"] = [{"name": "create_test", "filter": [{"function": "custom", "filter_fn": assemble}]}]
    out["process_results"] = scorer.process
    out["metric_list"] = [{"metric": f"pass@{k}", "aggregation": "mean", "higher_is_better": True} for k in ks]
    return out, scorer
