"""Every command block of docs/tutorial.md, in order, as a user runs them: a wheel built from
this checkout, installed into a fresh virtual environment, in an empty folder outside the
repository. One substitution: the install block's two `pip install` lines (PyTorch's index and
PyPI, which this machine cannot reach) become an install of the built wheel; the packages it
depends on come from the project's environment (a folder linked beside the fresh one, without
the project's own editable install). The full install from the registry is measured by hand
(docs/tutorial.md, step 1). `make docs` runs this test; `make test` does not (about 2 minutes)."""

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
INSTALL = ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu\npip install pytest-llama\n")

pytestmark = [pytest.mark.model, pytest.mark.tutorial]


def blocks() -> list[str]:
    """The tutorial's ```bash blocks, in order."""
    return re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def _dependencies(into: Path) -> Path:
    """The project environment's packages, linked one by one, but pytest-llama itself."""
    site = Path(sysconfig.get_paths()["purelib"])
    into.mkdir(parents=True)
    for entry in site.iterdir():
        if entry.name.startswith(("__editable__", "pytest_llama", "harness", "_pytest_llama")) \
                or entry.suffix == ".pth":
            continue
        (into / entry.name).symlink_to(entry)
    return into


def test_the_tutorial_runs_as_written_from_a_fresh_venv(tmp_path):
    steps = blocks()
    assert len(steps) >= 5 and INSTALL in steps[0], "the install block changed: update this test's substitution"
    wheels = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            str(ROOT), "-w", str(wheels)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("pytest_llama-*.whl")
    deps = _dependencies(tmp_path / "deps" / "site-packages")   # named so: datasets pickles what lies outside one by value
    work = tmp_path / "team-repo"
    work.mkdir()
    first = steps[0].replace(INSTALL, f"pip install -q --no-deps {wheel}\n").replace(
        "python3 -m venv .venv", f"{sys._base_executable} -m venv .venv")   # the Python the suite runs on
    # the fresh environment sees the dependencies (a .pth line), never the checkout, and gets
    # the `pytest` command pip would have written when installing pytest into it
    first = first.replace(". .venv/bin/activate",
                          ". .venv/bin/activate\n"
                          f"echo {deps} > \"$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/deps.pth\"\n"
                          "printf '#!%s\\nimport sys\\nfrom pytest import main\\nsys.exit(main())\\n' "
                          "\"$PWD/.venv/bin/python\" > .venv/bin/pytest && chmod +x .venv/bin/pytest")
    script = "set -euo pipefail\n" + first + "".join(f"echo '>>> step {i}'\n{b}" for i, b in enumerate(steps[1:], 2))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "/.venv/" not in p + "/")
    run = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    where = subprocess.run([str(work / ".venv/bin/python"), "-c", "import harness; print(harness.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True).stdout
    assert where.startswith(str(work / ".venv")), where          # the wheel's copy, not the checkout
    assert "4 passed" in out                                      # the starter: step 2
    assert "specs/capitals.yaml: ok (2 cells)" in out             # validate: step 3
    assert "contains,whole = 68.8%" in out and "INCONCLUSIVE" in out
    assert "baseline: baselines/capitals.json" in out             # step 4
    assert "2 runs ordered by start time" in out or "runs ordered by start time" in out   # step 5
    assert (work / "history" / "history.html").is_file()
