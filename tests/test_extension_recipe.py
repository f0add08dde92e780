"""The architecture page's recipe (docs/architecture.md) for adding a kind, a backend and an executor ("Adding a kind, a backend
or an executor"), followed step by step in a copy of the source tree: a toy of each
(tests/data/toy_extension/), then a spec run through all three with pytest and the layering
contracts checked. A step the recipe forgets fails here."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOYS = Path(__file__).parent / "data" / "toy_extension"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"the recipe's anchor {old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


def _copy_tree(dest: Path) -> Path:
    for name in ("harness", "pytest_llama", "templates"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest)
    return dest


def test_a_toy_kind_backend_and_executor_added_as_the_architecture_page_says_run_a_spec(tmp_path):
    src = _copy_tree(tmp_path / "src")
    pyproject = src / "pyproject.toml"
    # 1. a kind: its folder, one line in BUILTIN, its package, the two kind contracts
    (src / "harness/kinds/toy").mkdir()
    shutil.copy(TOYS / "kind.py", src / "harness/kinds/toy/__init__.py")
    registry = src / "harness/kinds/registry.py"
    _edit(registry, "from harness.kinds.pairwise import Pairwise\n",
          "from harness.kinds.pairwise import Pairwise\nfrom harness.kinds.toy import Toy\n")
    _edit(registry, "Pairwise(), Latency())", "Pairwise(), Latency(), Toy())")
    _edit(pyproject, '    "harness.kinds.latency",\n]', '    "harness.kinds.latency",\n    "harness.kinds.toy",\n]')
    _edit(pyproject, '"harness.kinds.latency", "harness.kinds.lmeval",\n]',
          '"harness.kinds.latency", "harness.kinds.lmeval", "harness.kinds.toy",\n]')
    # 2. a backend: its folder, one line in BUILTIN, its package, the two backend contracts
    (src / "harness/backends/toy").mkdir()
    shutil.copy(TOYS / "backend.py", src / "harness/backends/toy/__init__.py")
    registry = src / "harness/backends/registry.py"
    _edit(registry, "from harness.backends.vllm import Vllm\n",
          "from harness.backends.vllm import Vllm\nfrom harness.backends.toy import ToyBackend\n")
    _edit(registry, "(Transformers(), Vllm(), Llamacpp(), Openai())", "(Transformers(), Vllm(), Llamacpp(), Openai(), ToyBackend())")
    every = '"harness.backends.transformers", "harness.backends.vllm", "harness.backends.llamacpp", "harness.backends.openai"'
    _edit(pyproject, f'\nmodules = [{every}]', f'\nmodules = [{every}, "harness.backends.toy"]')
    _edit(pyproject, f'forbidden_modules = [{every}]', f'forbidden_modules = [{every}, "harness.backends.toy"]')
    # 3. an executor: its module and one line in EXECUTORS (and HELP)
    shutil.copy(TOYS / "executor.py", src / "harness/executors/toy.py")
    executors = src / "harness/executors/__init__.py"
    _edit(executors, '"ray": "harness.executors.ray"}', '"ray": "harness.executors.ray", "toy": "harness.executors.toy"}')
    _edit(executors, "pip install 'pytest-llama[ray]'\"}", "pip install 'pytest-llama[ray]'\", \"toy\": \"a toy\"}")
    # 4. the packages, for a wheel
    _edit(pyproject, '    "harness.backends.vllm",\n', '    "harness.backends.vllm",\n    "harness.backends.toy",\n')
    _edit(pyproject, '    "harness.kinds.latency",\n    "harness.kinds.lmeval",',
          '    "harness.kinds.latency",\n    "harness.kinds.lmeval",\n    "harness.kinds.toy",')

    env = dict(os.environ, PYTHONPATH=str(src))
    lint = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=src, env=env,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert "harness.kinds.toy" in pyproject.read_text()

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(TOYS / "toy.yaml", work)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "toy.yaml",
                          "--llama-executor", "toy", "--llama-results=out", "-v"],
                         cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "count[plain]" in run.stdout or "count[plain-default]" in run.stdout
    (run_dir,) = (work / "out").iterdir()
    (cell,) = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert cell["kind"] == "toy" and cell["status"] == "ok"
    assert cell["metrics"]["tokens"]["value"] == 4
    assert cell["engine"]["executor"] == "toy"
    assert cell["resolved_variant"].get("backend") == "toy"
    assert all(v["passed"] for v in cell["verdicts"])
