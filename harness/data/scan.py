"""Every row of a local JSONL file read once, with what is wrong with each line.

`scan(path)` parses the whole file and keeps each row with its line number, and every line
that is not a JSON object (syntax, a list or number instead of an object, an empty object)
with what to do about it; identical rows are warnings. A scan is kept per content digest, so
validation, collection and every cell of a run read a file once however many cells use it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

_BY_STAT: dict[tuple, str] = {}         # (path, size, mtime_ns) -> sha256
_BY_DIGEST: dict[str, "Scan"] = {}


@dataclass(frozen=True)
class Problem:
    """One line of a data file that is wrong (or, as a warning, suspicious)."""

    line: int
    message: str
    hint: str = ""
    warning: bool = False


@dataclass(frozen=True)
class Scan:
    """A JSONL file's rows with their line numbers, and its problems."""

    digest: str
    rows: tuple[tuple[int, dict], ...]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that stop a run (not the warnings)."""
        return tuple(p for p in self.problems if not p.warning)


def _digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _BY_STAT:
        _BY_STAT[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _BY_STAT[key]


def scan(path: str | Path) -> Scan:
    """The file's rows and problems (memoized by content digest; .gz read as gzip)."""
    path = Path(path)
    digest = _digest(path)
    if digest not in _BY_DIGEST:
        _BY_DIGEST[digest] = _read(path, digest)
    return _BY_DIGEST[digest]


def _read(path: Path, digest: str) -> Scan:
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[tuple[int, dict]] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(number, f"not valid JSON ({exc.msg} at column {exc.colno})",
                                        "each line must be one JSON object, e.g. {\"question\": \"...\", \"answer\": \"...\"}"))
                continue
            if not isinstance(row, dict):
                problems.append(Problem(number, f"a JSON {type(row).__name__}, not an object",
                                        "each line must be one object of fields"))
                continue
            if not row:
                problems.append(Problem(number, "an empty row ({})", "fill in its fields or delete the line"))
                continue
            canon = json.dumps(row, sort_keys=True)
            if canon in seen:
                problems.append(Problem(number, f"the same row as line {seen[canon]}",
                                        "an item counted twice weighs twice in every score: delete one",
                                        warning=True))
            else:
                seen[canon] = number
            rows.append((number, row))
    return Scan(digest, tuple(rows), tuple(problems))


def summarised(problems, cap: int = 20):
    """At most `cap` problems of each message shape, and for the rest one line that counts them
    (a problem shaped (line, message, hint)); a broken file of 10,000 rows stays readable."""
    shown: dict[str, int] = {}
    rest: dict[str, list[int]] = {}
    out = []
    for p in problems:
        shape = p.message.split("(")[0].split(":")[0]
        shown[shape] = shown.get(shape, 0) + 1
        if shown[shape] <= cap:
            out.append(p)
        else:
            rest.setdefault(shape, []).append(p.line)
    for shape, lines in rest.items():
        out.append(Problem(lines[0], f"{len(lines)} more rows like the above ({shape.strip()}): lines "
                           f"{', '.join(map(str, lines[:8]))}{', ...' if len(lines) > 8 else ''}",
                           "fix the rows the lines above name, and these"))
    return out
