"""Prompt templates: Jinja2 rendered in a sandbox, so a spec cannot reach Python internals."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["TemplateError", "compile_template", "render"]


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    # StrictUndefined: a misspelt field ({{ questoin }}) is an error, not an empty prompt.
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False,
                                         autoescape=False)


@lru_cache(maxsize=256)
def compile_template(text: str):
    return _env().from_string(text)


def render(text: str, doc: dict) -> str:
    """Render a template against one dataset row (its fields are the template's variables)."""
    return compile_template(text).render(**doc)
