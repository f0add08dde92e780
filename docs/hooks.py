"""MkDocs hook: pages generated from the code, so they cannot drift from it.

- `reference/spec.md`: every key of the spec, from the JSON Schema the validator uses
  (harness/plan/schema.py: the core, every kind's and backend's fragment, outside packages'
  too), at the `{{ spec_schema_reference }}` marker;
- `reference/cli.md`: every `llama-harness` command's --help, at `{{ cli_reference }}`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json


def _type(node: dict, defs: dict) -> str:
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        target = defs.get(name, {})
        if target.get("properties"):
            return f"[{name}](#{name.replace('_', '-')})"
        return _type(target, defs)
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(_type(n, defs) for n in node[key])
    kind = node.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"list of {_type(node['items'], defs)}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of name → {_type(node['additionalProperties'], defs)}"
    limits = [f"{k} {node[k]}" for k in ("minimum", "maximum", "exclusiveMinimum", "minLength", "minItems")
              if k in node]
    return (f"{kind}" + (f" ({', '.join(limits)})" if limits else "")) or "any"


def _table(title: str, anchor: str, node: dict, defs: dict) -> list[str]:
    props = node.get("properties") or {}
    required = set(node.get("required") or ())
    out = [f"## {title} {{#{anchor}}}", ""]
    if node.get("description"):
        out += [node["description"], ""]
    out += ["| key | type | what it is |", "|---|---|---|"]
    for key, sub in props.items():
        desc = sub.get("description") or (defs.get(sub.get("$ref", "").split("/")[-1], {}).get("description", ""))
        mark = " (required)" if key in required else ""
        out.append(f"| `{key}`{mark} | {_type(sub, defs)} | {desc.replace('|', '/')} |")
    return out + [""]


def spec_reference() -> str:
    """The spec's keys as Markdown tables: the top level, then every definition with keys."""
    from harness.plan.schema import schema

    s = schema()
    defs = s["$defs"]
    parts = _table("The spec file", "top-level", s, defs)
    for name, node in defs.items():
        if node.get("properties"):
            parts += _table(f"`{name}`", name.replace("_", "-"), node, defs)
    return "\n".join(parts)


def cli_reference() -> str:
    """`llama-harness --help` and each command's --help."""
    from harness import cli

    out = []
    for args in [["--help"]] + [[name, "--help"] for name in _commands()]:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
            cli.main(args)
        out += [f"## `llama-harness {' '.join(args)}`", "", "```text", buf.getvalue().rstrip(), "```", ""]
    return "\n".join(out)


def _commands() -> list[str]:
    from harness import cli

    captured: list[str] = []
    real = argparse._SubParsersAction.add_parser

    def spy(self, name, **kwargs):
        captured.append(name)
        return real(self, name, **kwargs)
    argparse._SubParsersAction.add_parser = spy
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            cli.main(["--help"])
    finally:
        argparse._SubParsersAction.add_parser = real
    return captured


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Fill the markers with the generated references."""
    if "{{ spec_schema_reference }}" in markdown:
        markdown = markdown.replace("{{ spec_schema_reference }}", spec_reference())
    if "{{ cli_reference }}" in markdown:
        markdown = markdown.replace("{{ cli_reference }}", cli_reference())
    return markdown
