import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from harness.spec.prompts import render


def test_renders_dataset_fields():
    assert render("Q: {{ question }}\nA:", {"question": "2+2?"}) == "Q: 2+2?\nA:"
    assert render("{% for c in choices %}{{ loop.index }}. {{ c }} {% endfor %}", {"choices": ["a", "b"]}) == "1. a 2. b "


def test_misspelt_field_is_an_error_not_an_empty_prompt():
    with pytest.raises(UndefinedError):
        render("{{ questoin }}", {"question": "x"})


def test_sandbox_blocks_python_internals():
    with pytest.raises(SecurityError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(SecurityError):
        render("{{ items.append(1) }}", {"items": []})
