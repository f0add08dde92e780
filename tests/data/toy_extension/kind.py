"""A toy task kind, written as the README's recipe says: harness/kinds/toy/__init__.py."""

from __future__ import annotations

from dataclasses import dataclass

from harness.kinds.base import Kind

SCHEMA = {"properties": {"toy": {"$ref": "#/$defs/toy"}},
          "$defs": {"toy": {"type": "object", "additionalProperties": False,
                            "properties": {"tokens": {"type": "integer", "minimum": 1}}}}}


@dataclass(frozen=True)
class ToySettings:
    tokens: int = 3


class Toy(Kind):
    """Asks the model for `tokens` new tokens once and reports how many came back."""

    name = "toy"
    description = "a toy cell (counts the tokens a model returns)"
    SCHEMA = SCHEMA
    claim_keys = ("toy",)

    def parse(self, checker, raw: dict, path: tuple) -> ToySettings:
        """Its one setting."""
        return ToySettings(**(raw.get("toy") or {}))

    def reported(self, task, row, base):
        """The one metric it computes."""
        return {"tokens"}, set()

    def run(self, cell, handle, ctx, rounds_runner=None):
        """One generation through the variant's backend."""
        from harness.results.record import Metric, new_result

        (out,) = handle.engine().generate([[1, 2, 3]], cell.task.settings.tokens)
        result = new_result(cell)
        result.metrics["tokens"] = Metric("tokens", float(len(out.tokens)), None, None, None, "", 1)
        result.n_samples = 1
        return result
