"""Reading local data files: JSONL, plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path


class DataInvalid(Exception):
    """The task's data is there but broken; the message names file and line. An error, never a skip."""


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file (read once per content, see `scan`); every line that is not a JSON
    object is an error naming file and line, all of them in one message."""
    from harness.data.scan import scan, summarised

    found = scan(path)
    if found.errors:
        lines = [f"{path}:{p.line}: {p.message}" for p in summarised(found.errors)]
        raise DataInvalid(f"{len(found.errors)} broken row(s) in {path}; each line must be one JSON object:\n  "
                          + "\n  ".join(lines))
    return [dict(row) for _, row in found.rows]


def count_rows(path: Path) -> int:
    """Non-empty lines of a JSONL file (.gz read as gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())
