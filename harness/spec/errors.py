"""Errors that point at a place in a spec file and say what to do about it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpecError:
    """One problem in a spec: where it is, what is wrong, what to do."""

    file: Path
    line: int | None
    path: str
    message: str
    hint: str = ""
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        where += f":{self.column}" if self.line and self.column else ""
        key = f" {self.path}:" if self.path else ""
        text = f"{where}:{key} {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class SpecInvalid(Exception):
    """A spec file with one or more errors; carries all of them, not just the first."""

    def __init__(self, errors: list[SpecError]):
        self.errors = sorted(errors, key=lambda e: (str(e.file), e.line or 0, e.column or 0, e.path))
        super().__init__("\n".join(str(e) for e in self.errors))


def format_path(parts: tuple) -> str:
    """('tasks', 'gsm8k', 'expect', 0) -> 'tasks.gsm8k.expect[0]'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: str, choices) -> str:
    """'did you mean X?' for the closest of `choices`, or '' when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""
