"""YAML loading with safe_load semantics that remembers the line of every key.

`load_marked(path)` returns the same data `yaml.safe_load` would, plus a `Marks`
object mapping key paths such as ('tasks', 'gsm8k', 'limit') to 1-based lines, so
every later error can name the line it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError, SpecInvalid, format_path


PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


@dataclass
class Marks:
    """Key path -> 1-based line of that key (or list item) in the file."""

    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, path: tuple) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


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
