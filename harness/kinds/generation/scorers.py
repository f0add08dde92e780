"""Scoring an inline task's free-form output: extract an answer, then compare it with the target.

Each extractor is `(output) -> answer` and each comparison `(answer, target, options) ->
bool`: small pure functions, registered by name, so a spec names them and a new one is one
function here, or, outside this repository, a package's `pytest_llama.scorers` entry point (a
comparison; its name is the metric's). The harness hands them to lm-eval as a filter (extraction, so samples show the
extracted answer) and a `process_results` (comparison), so lm-eval still aggregates and
computes stderr.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Callable

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
LETTER = re.compile(r"\(?\b([A-J])\b\)?")
INVALID = "[invalid]"   # lm-eval's own marker for "no answer found"

EXTRACTORS: dict[str, Callable[[str], str]] = {}
COMPARISONS: dict[str, Callable[..., bool]] = {}
METRIC_OF = {"exact": "exact_match", "numeric": "exact_match", "contains": "contains", "regex": "regex_match",
             "bleu": "bleu", "chrf": "chrf"}     # bleu, chrf: corpus scores (harness/results/corpus.py), not per item


def comparisons() -> dict[str, Callable[..., bool]]:
    """Every comparison by name: ours, then outside packages' (`pytest_llama.scorers`), loaded on
    first use. An outside one is called as ours are, `(answer, target, **options)`, and returns a
    bool or a score in [0, 1]."""
    global _outside
    if _outside is None:
        from harness.spec.extensions import ExtensionError, loaded

        found = {ext.name: obj for ext, obj in loaded("pytest_llama.scorers", list(COMPARISONS) + list(METRIC_OF))}
        for name, fn in found.items():
            if not callable(fn):
                raise ExtensionError(f"scorer {name!r} is not a function (answer, target, **options) -> bool")
        _outside = found
    return COMPARISONS | _outside


_outside: dict[str, Callable[..., bool]] | None = None


def extractor(name: str):
    """Register an answer extractor under `name`."""
    def register(fn):
        EXTRACTORS[name] = fn
        return fn
    return register


def comparison(name: str):
    """Register an answer comparison under `name`."""
    def register(fn):
        COMPARISONS[name] = fn
        return fn
    return register


@extractor("whole")
def whole(output: str) -> str:
    """The whole output, stripped."""
    return output.strip()


@extractor("first_line")
def first_line(output: str) -> str:
    """The first non-empty line."""
    return next((line.strip() for line in output.splitlines() if line.strip()), "")


@extractor("last_number")
def last_number(output: str) -> str:
    """The last number in the output ('7 + 5 = 12.' -> '12'), thousands separators dropped."""
    found = NUMBER.findall(output)
    return found[-1].replace(",", "") if found else INVALID


@extractor("choice_letter")
def choice_letter(output: str) -> str:
    """The first standalone capital letter A-J ('(B) Paris' -> 'B', 'Answer: C.' -> 'C')."""
    found = LETTER.search(output.replace("Answer", "").replace("ANSWER", ""))
    return found.group(1) if found else INVALID


def regex_extractor(pattern: str) -> Callable[[str], str]:
    """The first group (or whole match) of the pattern's first match."""
    compiled = re.compile(pattern)

    def extract(output: str) -> str:
        m = compiled.search(output)
        if not m:
            return INVALID
        return (m.group(1) if m.groups() else m.group(0)).strip()
    return extract


def normalise(text: str, ignore_case: bool = True, ignore_punctuation: bool = False) -> str:
    """Whitespace collapsed, and case and punctuation dropped as asked."""
    text = " ".join(str(text).split())
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(str.maketrans("", "", string.punctuation)).strip()
    return text.rstrip(".")


def _number(text: str) -> float | None:
    try:
        return float(str(text).replace(",", "").replace("$", "").strip())
    except ValueError:
        return None


@comparison("exact")
def exact(answer: str, target: str, ignore_case: bool = True, ignore_punctuation: bool = False, **_) -> bool:
    """Equal after normalising."""
    return normalise(answer, ignore_case, ignore_punctuation) == normalise(target, ignore_case, ignore_punctuation)


@comparison("numeric")
def numeric(answer: str, target: str, tolerance: float = 0.0, **_) -> bool:
    """Equal as numbers, within `tolerance`."""
    a, t = _number(answer), _number(target)
    return a is not None and t is not None and abs(a - t) <= tolerance


@comparison("contains")
def contains(answer: str, target: str, ignore_case: bool = True, ignore_punctuation: bool = False, **_) -> bool:
    """The target appears in the answer, after normalising."""
    return normalise(target, ignore_case, ignore_punctuation) in normalise(answer, ignore_case, ignore_punctuation)


@comparison("regex")
def regex_match(answer: str, target: str, ignore_case: bool = True, **_) -> bool:
    """The target is a regular expression the answer must match."""
    return re.search(target, answer, re.IGNORECASE if ignore_case else 0) is not None


@dataclass(frozen=True)
class Scorer:
    """An inline task's scoring, as the spec states it under `score:`."""

    extract: str = "auto"          # auto | whole | first_line | last_number | choice_letter
    pattern: str | None = None     # extract with this regex instead
    compare: str = "auto"          # auto | exact | numeric | contains | regex | bleu | chrf | an outside scorer
    ignore_case: bool = True
    ignore_punctuation: bool = False
    tolerance: float = 0.0
    also: tuple[str, ...] = ()     # more corpus scores of the same outputs (`compare: [bleu, chrf]`)

    def __repr__(self) -> str:
        """The dataclass's repr, which config hashes digest; `also` only when given, so the
        hashes of every task scored before it existed (and their baselines) stay as they were."""
        fields = (f"extract={self.extract!r}, pattern={self.pattern!r}, compare={self.compare!r}, "
                  f"ignore_case={self.ignore_case!r}, ignore_punctuation={self.ignore_punctuation!r}, "
                  f"tolerance={self.tolerance!r}")
        return f"Scorer({fields}" + (f", also={self.also!r})" if self.also else ")")

    def resolved(self, target_example: str | None) -> "Scorer":
        """`auto`: a numeric target compares the output's last number; any other target the
        whole output, normalised."""
        numeric_target = target_example is not None and _number(target_example) is not None
        extract = self.extract if self.extract != "auto" else ("last_number" if numeric_target else "whole")
        compare = self.compare if self.compare != "auto" else ("numeric" if numeric_target else "exact")
        return Scorer(extract, self.pattern, compare, self.ignore_case, self.ignore_punctuation, self.tolerance,
                      self.also)

    @property
    def filter_name(self) -> str:
        """The filter name samples show the extracted answer under."""
        return "regex" if self.pattern else self.extract

    @property
    def corpus(self) -> bool:
        """Whether the comparison scores the corpus (BLEU, chrF) rather than each item."""
        return self.compare in ("bleu", "chrf")

    @property
    def metric(self) -> str:
        """The metric name the comparison reports (the first, when it reports several)."""
        return METRIC_OF.get(self.compare, self.compare)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric it reports: one, or each corpus score `compare:` lists."""
        return (self.metric, *(METRIC_OF[m] for m in self.also))

    def extract_fn(self) -> Callable[[str], str]:
        """The extraction as a function of the output."""
        return regex_extractor(self.pattern) if self.pattern else EXTRACTORS[self.extract]

    def score(self, answer: str, target: str) -> float:
        """1.0 when the extracted answer matches the target, else 0.0."""
        options = {"ignore_case": self.ignore_case, "ignore_punctuation": self.ignore_punctuation,
                   "tolerance": self.tolerance}
        return float(comparisons()[self.compare](answer, target, **options))
