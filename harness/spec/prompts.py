"""Prompt templates: Jinja2 rendered in a sandbox, so a spec cannot reach Python internals."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["TemplateError", "TemplateFailed", "compile_template", "render", "render_at"]


class TemplateFailed(Exception):
    """A spec template that failed on a data row; the message names the spec line and the row's fields."""


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    # StrictUndefined: a misspelt field ({{ questoin }}) is an error, not an empty prompt.
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False,
                                         autoescape=False)


@lru_cache(maxsize=256)
def compile_template(text: str):
    """A template compiled once in the sandboxed environment."""
    return _env().from_string(text)


def render(text: str, doc: dict) -> str:
    """Render a template against one dataset row (its fields are the template's variables)."""
    return compile_template(text).render(**doc)


def render_at(text: str, doc: dict, where: str) -> str:
    """`render`, with a failure reported as `where` (spec file:line, template name), the error
    and the fields the row has, instead of a traceback."""
    try:
        return render(text, doc)
    except TemplateError as exc:
        fields = ", ".join(sorted(doc)) if isinstance(doc, dict) else type(doc).__name__
        raise TemplateFailed(f"{where}: {type(exc).__name__}: {exc}; this row's fields: {fields}") from None
