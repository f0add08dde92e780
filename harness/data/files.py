"""Reading local data files: JSONL, plain or gzipped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


class DataInvalid(Exception):
    """The task's data is there but broken; the message names file and line. An error, never a skip."""


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; every row must be an object with the first row's fields (a
    missing field would reach the prompt as "None")."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[dict] = []
    fields: set | None = None
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataInvalid(f"{path}:{number}: not valid JSON ({exc.msg}); "
                                  "each line must be one JSON object") from None
            if not isinstance(row, dict):
                raise DataInvalid(f"{path}:{number}: a {type(row).__name__}, not a JSON object; "
                                  "each line must be one object of fields")
            if fields is None:
                fields = set(row)
            elif set(row) != fields:
                missing, extra = sorted(fields - set(row)), sorted(set(row) - fields)
                what = "; ".join(part for part in (f"lacks {', '.join(missing)}" if missing else "",
                                                   f"adds {', '.join(extra)}" if extra else "") if part)
                raise DataInvalid(f"{path}:{number}: this row {what}, unlike the first row; "
                                  "give every row the same fields (null where there is no value)")
            rows.append(row)
    return rows


def count_rows(path: Path) -> int:
    """Non-empty lines of a JSONL file (.gz read as gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())
