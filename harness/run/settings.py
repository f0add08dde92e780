"""A session's settings: what the plugin's options and the CLI's flags decide for every cell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    cache_mode: str = "on"
    cache_dir: Path | None = None
    run_id: str | None = None
    baseline: Path | None = None        # gate every cell against this saved baseline
    strict: bool = False                # a skipped, missing or incomparable cell fails
    threads: int | None = None          # torch CPU threads (xdist workers get an equal share)
    worker: str | None = None           # an xdist worker's share of the machine, recorded per cell
    verbose: bool = False               # keep model-loading progress bars and library warnings
    limit: int | None = None            # cap every task at this many items (a quick run)
