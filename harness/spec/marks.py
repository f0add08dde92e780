"""YAML loading with safe_load semantics that remembers the line of every key.

`load_marked(path)` returns the same data `yaml.safe_load` would, plus a `Marks`
object mapping key paths such as ('tasks', 'gsm8k', 'limit') to 1-based lines, so
every later error can name the line it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.spec.errors import SpecError, SpecInvalid, format_path


SPEC_MARKER = re.compile(r"(?m)^spec\s*:\s*1\s*(#.*)?$")
PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


@dataclass
class Marks:
    """Key path -> 1-based line of that key (or list item) in the file."""

    lines: dict[tuple, int] = field(default_factory=dict)
    texts: dict[tuple, tuple[int, bool]] = field(default_factory=dict)   # scalar -> (0-based line, block style)

    def line(self, path: tuple) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def within(self, path: tuple, text_line: int) -> int | None:
        """The file line of line `text_line` (1-based) of the scalar at `path`: a block scalar's
        text (`|`, `>`) starts on the line after its indicator."""
        found = self.texts.get(tuple(path))
        if found is None:
            return self.line(path)
        start, block = found
        return start + 1 + text_line if block else start + text_line


class _Builder:
    def __init__(self, file: Path, text: str):
        self.file = file
        self.loader = yaml.SafeLoader(text)
        self.marks = Marks()
        self.errors: list[SpecError] = []

    def build(self) -> Any:
        try:
            node = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            raise SpecInvalid(
                [SpecError(self.file, line, "", f"YAML syntax error: {exc.problem or exc}",
                           "fix the indentation or quoting on that line")]
            ) from None
        finally:
            self.loader.dispose()
        if node is None:
            return None
        self.marks.lines[()] = node.start_mark.line + 1
        data = self._value(node, ())
        if self.errors:
            raise SpecInvalid(self.errors)
        return data

    def _value(self, node: yaml.Node, path: tuple) -> Any:
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in PLAIN_TAGS:
            self.errors.append(SpecError(
                self.file, node.start_mark.line + 1, format_path(path), f"unsupported YAML tag {node.tag!r}",
                "specs are plain YAML (safe_load): remove the tag"))
            return None
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merges as safe_load does
            out: dict = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                sub = path + (key,)
                line = key_node.start_mark.line + 1
                if key in out:
                    self.errors.append(SpecError(
                        self.file, line, format_path(sub), f"duplicate key {key!r}",
                        f"it is already set on line {self.marks.lines[sub]}; keep one"))
                    continue
                self.marks.lines[sub] = line
                out[key] = self._value(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, child in enumerate(node.value):
                self.marks.lines[path + (index,)] = child.start_mark.line + 1
                items.append(self._value(child, path + (index,)))
            return items
        self.marks.texts[path] = (node.start_mark.line, getattr(node, "style", None) in ("|", ">"))
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.errors.append(SpecError(
                self.file, node.start_mark.line + 1, format_path(path), f"unsupported YAML value: {exc.problem}",
                "specs are plain YAML (safe_load): remove the tag"))
            return None


def load_marked(path: str | Path, text: str | None = None) -> tuple[Any, Marks]:
    """Parse a YAML file the way `yaml.safe_load` does, keeping line marks.

    Raises SpecInvalid (with file and line) on syntax errors and duplicate keys.
    """
    path = Path(path)
    if text is None:
        text = path.read_text(encoding="utf-8")
    builder = _Builder(path, text)
    return builder.build(), builder.marks


def is_spec_file(path: Path) -> bool:
    """True when a YAML file declares itself a spec: a top-level `spec: 1` line (a Kubernetes
    manifest's `spec:` mapping is not one). Read as bytes, so a spec that is not UTF-8 is still
    collected, and then reported, rather than skipped in silence."""
    try:
        return bool(SPEC_MARKER.search(Path(path).read_bytes().decode("latin-1")))
    except OSError:
        return False
