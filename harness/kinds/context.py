"""What a kind's runner gets from the session it runs in: the few things cells share, and
nothing else (not the session, its executor, its store or its baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.backends.pool import ModelPool
    from harness.data.lmeval_index import TaskCatalog
    from harness.results.gencache import GenerationCache
    from harness.results.progress import Sink


@dataclass(frozen=True)
class RunContext:
    """The shared parts a cell's run reads: the generation cache, the live progress line, the
    data folder, lm-eval's task index, and the model pool (a judge loads its own model there)."""

    cache: "GenerationCache"
    progress: "Sink | None"
    data_dir: Path | None
    catalog: "TaskCatalog"
    pool: "ModelPool"
