"""Spec validation: the schema, cross-key checks, checks against the data and lm-eval's task
index, and the power of every bound; every error with file and line.

All problems of a file are collected before failing, and whatever goes wrong while reading a
spec becomes that file's error: one broken spec never stops the others. `load_spec` is the
only entry point most callers need: path in, `Spec` out, or `SpecInvalid` listing every error.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path

from harness.plan.checker import Checker
from harness.plan.schema import schema_errors
from harness.spec.errors import SpecError, SpecInvalid
from harness.spec.extensions import ExtensionError
from harness.spec.marks import load_marked
from harness.spec.types import Spec


def load_spec(path: str | Path, *, data_dir: Path | None = None, baseline: dict | None = None,
              catalog=None) -> Spec:
    """Read, validate and type one spec file; raises SpecInvalid with every error found, in
    one pass: the schema, cross-key checks, checks against the data and lm-eval's task index
    (`checks`), and the power of every bound (`bounds`): a bound no outcome can fail is an
    error. `data_dir` and `baseline` give dataset sizes and reference accuracies; `catalog`
    (a TaskCatalog) lets lm-eval task names, filters and metrics be checked."""
    path = Path(path)
    try:
        data, marks = load_marked(path)
    except UnicodeDecodeError as exc:
        raise SpecInvalid([SpecError(path, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                     "save the spec as UTF-8")]) from None
    if not isinstance(data, dict):
        raise SpecInvalid([SpecError(path, 1, "", "a spec must be a mapping of keys",
                                     "start the file with `spec: 1`")])
    errors = schema_errors(path, data, marks)
    checker = Checker(path, data, marks, catalog)
    try:
        spec = checker.build()
    except (KeyError, TypeError, AttributeError, ValueError):
        if not errors:
            raise
        spec = None         # the schema errors say what is wrong; report those with the rest
    errors += checker.errors
    warnings: list[SpecError] = []
    if spec is not None:
        from harness.plan.checks import data_errors

        try:
            found, warnings = data_errors(spec, data_dir, catalog)
            errors += found
        except (KeyError, TypeError, AttributeError, ValueError, OSError):
            if not errors:
                raise
        if not errors:
            from harness.plan.bounds import powerless

            errors += powerless(spec, data_dir, baseline)
    if errors:
        unique = {(str(e.file), e.line, e.path, e.message): e for e in errors}
        raise SpecInvalid(list(unique.values()))
    if spec is None:      # unreachable: a spec that could not be built has schema errors
        raise SpecInvalid([SpecError(path, None, "", "the spec could not be read", "")])
    return replace(spec, warnings=tuple(warnings)) if warnings else spec


def spec_error(path: Path, exc: BaseException) -> SpecInvalid:
    """Any exception raised while reading a spec, as that file's error: SpecInvalid as it is;
    a file that cannot be read as such; a YAML or Jinja2 error at its line; anything else at
    the file, with the exception and where in the harness it was raised."""
    if isinstance(exc, SpecInvalid):
        return exc
    if isinstance(exc, OSError):
        return SpecInvalid([SpecError(path, None, "", f"cannot read: {exc.strerror or exc}",
                                      "check the path and its permissions")])
    line = getattr(exc, "lineno", None) if type(exc).__module__.startswith("jinja2") else None
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line = mark.line + 1
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f"{f.filename}:{f.lineno}" for f in reversed(frames) if "harness" in f.filename), "")
    return SpecInvalid([SpecError(path, line, "", f"could not be read: {type(exc).__name__}: {exc}",
                                  "this is a bug in pytest-llama, not in the spec, unless the message names the spec; "
                                  f"please report it with the spec{f' (raised at {where})' if where else ''}")])


def read_spec(path: str | Path, **kwargs) -> Spec:
    """`load_spec`, with every other exception turned into the file's SpecInvalid."""
    try:
        return load_spec(path, **kwargs)
    except ExtensionError:      # an outside package's fault, not this spec's: the caller says so once
        raise
    except Exception as exc:    # one broken spec must not stop the others
        raise spec_error(Path(path), exc) from None
