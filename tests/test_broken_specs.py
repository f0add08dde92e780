"""One broken spec never stops the others: each way a spec can be broken, next to a good spec,
is that file's collection error with file:line, while the good spec's cell still runs; and
`llama-harness validate` prints every error and no traceback."""

import pytest
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = "".join(f'{{"a": {a}, "b": {b}, "answer": "{a + b}"}}\n' for a, b in [(1, 2), (3, 4), (2, 2)])
GOOD = """\
spec: 1
name: good
model: {embedded: smollm2-135m-instruct}
generation: {max_new_tokens: 3}
templates:
  eq: "2 + 3 = 5\\n4 + 4 = 8\\n{{ a }} + {{ b }} ="
tasks:
  add:
    data: {test: rows.jsonl}
    target: "{{ answer }}"
    templates: [eq]
"""
BROKEN = {
    # file: (text, the line the error must name, a piece of its message)
    "yaml_syntax.yaml": ("spec: 1\nmodel: {embedded: smollm2-135m-instruct\ntasks: {}\n", 3, "YAML syntax error"),
    "unknown_key.yaml": (GOOD.replace("name: good", "name: bad1").replace("    target:", "    targte:"), 10,
                         "unknown key 'targte'"),
    "jinja_syntax.yaml": (GOOD.replace("name: good", "name: bad2").replace(
        '  eq: "2 + 3 = 5\\n4 + 4 = 8\\n{{ a }} + {{ b }} ="',
        "  eq: |\n    2 + 3 = 5\n    {{ a  + {{ b }}\n    ="), 8, "template does not parse"),
    "missing_data.yaml": (GOOD.replace("name: good", "name: bad3").replace("rows.jsonl", "nowhere.jsonl"), 9,
                          "'nowhere.jsonl' does not exist"),
    "two_kinds.yaml": (GOOD.replace("name: good", "name: bad4").replace(
        "    templates: [eq]\n", "    templates: [eq]\n    latency: {new_tokens: 2}\n    judged: mt_bench\n"), 8,
        "cannot tell this task's kind"),
    "boom.yaml": (GOOD.replace("name: good", "name: boom"), None, "could not be read: RuntimeError: boom"),
}
BOOM = '''
import harness.plan.validate as validate

_real = validate.load_spec


def _boom(path, **kwargs):
    if str(path).endswith("boom.yaml"):
        raise RuntimeError("boom")
    return _real(path, **kwargs)


validate.load_spec = _boom
'''


def _write(folder: Path) -> None:
    (folder / "rows.jsonl").write_text(ROWS)
    (folder / "good.yaml").write_text(GOOD)
    for name, (text, _, _) in BROKEN.items():
        (folder / name).write_text(text)
    (folder / "not_utf8.yaml").write_bytes(b"spec: 1\nname: caf\xe9\n")


@pytest.mark.model
def test_each_broken_spec_is_its_own_error_and_the_good_one_runs(pytester, run_nested):
    _write(pytester.path)
    pytester.makeconftest(BOOM)
    # a subprocess: a nested pytest run in this process would drop torch and the like from
    # sys.modules afterwards, and a C extension imported twice corrupts the process
    result = run_nested("-p", "no:cacheprovider", f"--llama-results={pytester.path / 'out'}")
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    result.assert_outcomes(passed=1, errors=len(BROKEN) + 1)
    assert "good.yaml::add[default-eq] PASSED" in out or "1 passed" in out
    for name, (_, line, message) in BROKEN.items():
        where = f"{pytester.path / name}:{line}:" if line else f"{pytester.path / name}:"
        assert any(where in ln and message in ln for ln in out.splitlines()), (name, where, message)
    assert any("not_utf8.yaml" in ln and "not UTF-8" in ln for ln in out.splitlines())


def test_validate_lists_every_error_without_a_traceback(tmp_path):
    _write(tmp_path)
    (tmp_path / "boom.yaml").unlink()
    files = sorted(str(p) for p in tmp_path.glob("*.yaml"))
    run = subprocess.run([sys.executable, "-m", "harness.cli", "validate", *files], capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert f"{tmp_path / 'good.yaml'}: ok (1 cells)" in run.stdout
    for name, (_, line, message) in BROKEN.items():
        if name != "boom.yaml":
            assert f"{tmp_path / name}:{line}:" in run.stdout and message in run.stdout, name
    # a template that does not parse is said once, not again as failing on the first row
    jinja = run.stdout.split(str(tmp_path / "jinja_syntax.yaml") + ":", 1)[1].split(".yaml:", 1)[0]
    assert "1 error(s)" in jinja and "fails on the first row" not in run.stdout
