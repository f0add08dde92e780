"""An outside package extends the harness without a fork: pip installs it (its entry points in
its own pyproject.toml, tests/data/outside_plugin/), and specs in another folder use what it
adds. Its kind, backend and executor are the recipe's toys (tests/data/toy_extension/)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
PACKAGE = DATA / "outside_plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package built and installed by pip into a folder of its own (its dist-info and entry
    points as in any site-packages), which the runs below put on their path."""
    root = tmp_path_factory.mktemp("outside")
    src = root / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("*.yaml", "*.jsonl", "__pycache__"))
    for toy in ("kind", "backend", "executor"):
        shutil.copy(DATA / "toy_extension" / f"{toy}.py", src / "llama_toy_plugin" / f"{toy}.py")
    site = root / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(src)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    assert (site / "llama_toy_plugin" / "scorers.py").is_file()
    return site


def _pytest(cwd: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          cwd=cwd, env=env, capture_output=True, text=True)


def _cells(out: Path) -> list[dict]:
    (run_dir,) = out.iterdir()
    return [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]


def test_an_installed_package_adds_a_kind_a_backend_and_an_executor(installed, tmp_path):
    shutil.copy(PACKAGE / "outside.yaml", tmp_path)
    run = _pytest(tmp_path, installed, "outside.yaml", "--llama-executor", "toy", "--llama-results=out", "-v")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    (cell,) = _cells(tmp_path / "out")
    assert cell["kind"] == "toy" and cell["status"] == "ok"
    assert cell["metrics"]["tokens"]["value"] == 4
    assert cell["engine"]["executor"] == "toy"
    assert cell["resolved_variant"].get("backend") == "toy"
    assert all(v["passed"] for v in cell["verdicts"])


@pytest.mark.model
def test_an_installed_package_adds_a_scorer_an_inline_task_names(installed, tmp_path, tiny_model):
    """The scorer reads only the target: 3 of the 4 targets are even, so the cell's score is
    0.75 whatever the tiny random model writes, and only this scorer gives that number."""
    shutil.copy(PACKAGE / "rows.jsonl", tmp_path)
    (tmp_path / "scored.yaml").write_text((PACKAGE / "scored.yaml").read_text().replace("TINY", str(tiny_model)))
    run = _pytest(tmp_path, installed, "scored.yaml", "--llama-results=out", "--llama-cache=off", "-v")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    (cell,) = _cells(tmp_path / "out")
    (verdict,) = cell["verdicts"]
    assert verdict["metric"] == "target_even" and verdict["value"] == pytest.approx(0.75) and verdict["passed"]
    assert cell["metrics"]["target_even,last_number"]["value"] == pytest.approx(0.75)   # metric,filter


def test_without_the_package_the_names_it_adds_are_refused_at_their_line(tmp_path):
    shutil.copy(PACKAGE / "outside.yaml", tmp_path)
    run = _pytest(tmp_path, tmp_path / "nothing", "outside.yaml", "--co")
    assert run.returncode != 0
    assert "outside.yaml:5" in run.stdout and "backend" in run.stdout, run.stdout[-2000:]


def _dist(site: Path, name: str, entry_points: str) -> None:
    """A package as pip leaves it: a dist-info folder with its metadata and entry points."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_a_package_that_fails_to_import_is_one_error_naming_it(tmp_path):
    site = tmp_path / "site"
    _dist(site, "broken-plugin", "[pytest_llama.kinds]\nbroken = broken_plugin.kind:Broken\n")
    shutil.copy(PACKAGE / "outside.yaml", tmp_path)
    run = _pytest(tmp_path, site, "outside.yaml", "--co")
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]   # a usage error
    assert "package 'broken-plugin'" in run.stderr and "'broken'" in run.stderr, run.stderr[-2000:]
    assert "ModuleNotFoundError" in run.stderr and "Traceback" not in run.stderr
    cli = subprocess.run([str(Path(sys.executable).with_name("llama-harness")), "validate", "outside.yaml"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(site)), capture_output=True, text=True)
    assert cli.returncode == 2 and "package 'broken-plugin'" in cli.stderr and "Traceback" not in cli.stderr


def test_a_package_that_takes_a_name_we_have_is_refused_naming_both(tmp_path, monkeypatch):
    from harness.kinds.generation.scorers import COMPARISONS
    from harness.spec.extensions import ExtensionError, declared

    site = tmp_path / "site"
    _dist(site, "greedy-plugin", "[pytest_llama.scorers]\nexact = greedy.scorers:exact\n")
    _dist(site, "twin-a", "[pytest_llama.executors]\nfast = twin_a.executor\n")
    _dist(site, "twin-b", "[pytest_llama.executors]\nfast = twin_b.executor\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ExtensionError, match="package 'greedy-plugin' registers pytest_llama.scorers 'exact', "
                                             "a name 'pytest-llama' already has"):
        declared("pytest_llama.scorers", COMPARISONS)
    with pytest.raises(ExtensionError, match="package 'twin-b' registers pytest_llama.executors 'fast', "
                                             "a name 'twin-a' already has"):
        declared("pytest_llama.executors", ["local", "ray"])
