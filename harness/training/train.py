"""Training an adapter recipe with transformers' Trainer and peft, once.

`trained(recipe, source, ...)` returns the recipe's adapter from the cache, or trains it:
the rows are read and shuffled with the recipe's seed, split into train and held-out eval,
formatted (prompt and response, or chat messages; only the answer's tokens are learned) and
filtered by length. Trainer runs the optimizer, schedule, evaluation cadence and
best-checkpoint rule as the recipe states them, checkpointing at every evaluation: a killed
training resumes from its last checkpoint. The kept adapter lands in
`<adapter cache>/<recipe_key>/adapter` with `record.json` (loss curve, eval losses, best
step, wall time, tokens/s, peak memory, trainable parameters) written last, as the mark that
the adapter is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.backends.base import DTYPES
from harness.data import DataUnavailable
from harness.spec.recipes import Recipe
from harness.training.examples import examples, load_rows, select
from harness.training.keys import data_digest, library_versions, recipe_key

RECORD = "record.json"


@dataclass(frozen=True)
class Trained:
    recipe: str
    key: str
    path: str                  # the adapter folder (peft's save_pretrained)
    record: dict[str, Any]
    reused: bool               # taken from the cache: no training step ran


def _base_model(recipe: Recipe, location: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"attn_implementation": recipe.attn}
    compute = getattr(torch, DTYPES[recipe.precision])
    if recipe.quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=compute)
    elif recipe.quantization == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    if "quantization_config" in kwargs:
        kwargs["device_map"] = {"": device}
    kwargs["dtype"] = torch.float32    # trainable weights in fp32; `precision` is the autocast dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    if "quantization_config" not in kwargs:
        model.to(device)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    return model


class _Live:
    """Trainer callback: the live line (step, loss, eval loss, ETA) and a kill switch for tests."""

    def __init__(self, name: str, sink: Callable[[str, bool], None] | None, stop_at: int | None = None):
        from transformers import TrainerCallback

        self.name, self.sink, self.stop_at = name, sink, stop_at
        self.started = time.perf_counter()
        self.first_step: int | None = None
        self.loss = self.eval_loss = None
        outer = self

        class Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kw):
                logs = logs or {}
                outer.loss = logs.get("loss", outer.loss)
                outer.eval_loss = logs.get("eval_loss", outer.eval_loss)
                outer.show(state, final=False)

            def on_step_end(self, args, state, control, **kw):
                if outer.first_step is None:
                    outer.first_step, outer.started = state.global_step, time.perf_counter()
                if outer.stop_at is not None and state.global_step >= outer.stop_at:
                    raise KeyboardInterrupt(f"stopped at step {state.global_step} (as asked)")

        self.callback = Callback()

    def show(self, state, final: bool) -> None:
        if self.sink is None:
            return
        done = state.global_step - (self.first_step or 0)
        rate = (time.perf_counter() - self.started) / done if done > 0 else None
        left = (state.max_steps - state.global_step) * rate if rate else None
        eta = f", ETA {int(left // 60)}:{int(left % 60):02d}" if left is not None and not final else ""
        loss = f", loss {self.loss:.3f}" if self.loss is not None else ""
        ev = f", eval loss {self.eval_loss:.3f}" if self.eval_loss is not None else ""
        self.sink(f"train {self.name}: step {state.global_step}/{state.max_steps}{loss}{ev}{eta}", final)


def cached(folder: Path) -> dict | None:
    """A completed training's record in `folder`, or None."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if (folder / "adapter" / "adapter_config.json").is_file() else None


def trained(recipe: Recipe, location: str, weights_id: str, tokenizer, chat: bool, data_dir: Path | None,
            cache_dir: Path, progress: Callable[[str, bool], None] | None = None, device: str = "cpu",
            stop_at: int | None = None) -> Trained:
    """The recipe's adapter: from the cache when its key matches, else trained now (resuming
    from a checkpoint a killed run left). `stop_at` stops after that step (tests of resuming)."""
    rows = load_rows(recipe.data, data_dir)
    train_rows, eval_rows = select(rows, recipe)
    key = recipe_key(recipe, weights_id, data_digest(train_rows + eval_rows) + f":chat={chat}", library_versions())
    folder = Path(cache_dir) / key
    record = cached(folder)
    if record is not None:
        return Trained(recipe.name, key, str(folder / "adapter"), record, reused=True)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)    # another process (an xdist worker) training this key: wait for it
        record = cached(folder)
        if record is not None:
            return Trained(recipe.name, key, str(folder / "adapter"), record, reused=True)
        return _train(recipe, key, folder, location, weights_id, tokenizer, chat, train_rows, eval_rows,
                      progress, device, stop_at)


def _train(recipe: Recipe, key: str, folder: Path, location: str, weights_id: str, tokenizer, chat: bool,
           train_rows: list[dict], eval_rows: list[dict], progress, device: str, stop_at: int | None) -> Trained:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

    from harness.backends.memory import PeakMemory

    train_set, dropped_train = examples(train_rows, tokenizer, recipe, chat)
    eval_set, dropped_eval = examples(eval_rows, tokenizer, recipe, chat)
    if not train_set or not eval_set:
        raise DataUnavailable(f"recipe {recipe.name!r}: no example within max_length {recipe.data.max_length} "
                              f"tokens ({dropped_train} train and {dropped_eval} eval rows were longer)")
    torch.manual_seed(recipe.seed)
    model = _base_model(recipe, location, device)
    lora = recipe.lora
    model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                             bias=lora.bias,
                                             target_modules=list(lora.target_modules),
                                             task_type="CAUSAL_LM"))
    trainable, total = model.get_nb_trainable_parameters()
    checkpoints = folder / "checkpoints"
    args = TrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size, gradient_accumulation_steps=recipe.gradient_accumulation,
        learning_rate=recipe.learning_rate, warmup_steps=recipe.warmup_steps, lr_scheduler_type=recipe.schedule,
        max_steps=recipe.steps or -1, num_train_epochs=recipe.epochs or 1, optim=recipe.optimizer,
        eval_strategy="steps", eval_steps=recipe.eval_every, save_strategy="steps", save_steps=recipe.eval_every,
        save_total_limit=2, load_best_model_at_end=recipe.best == "eval_loss", metric_for_best_model="eval_loss",
        greater_is_better=False, logging_steps=1, report_to=[], disable_tqdm=True, seed=recipe.seed,
        data_seed=recipe.seed, bf16=recipe.precision == "bf16", fp16=recipe.precision == "fp16",
        gradient_checkpointing=recipe.gradient_checkpointing and recipe.quantization == "none",
        use_cpu=device == "cpu", dataloader_num_workers=0, remove_unused_columns=False,
        include_num_input_tokens_seen=True)
    live = _Live(recipe.name, progress, stop_at)
    trainer = Trainer(model=model, args=args, train_dataset=_List(train_set), eval_dataset=_List(eval_set),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
                      callbacks=[live.callback])
    trainer.remove_callback(PrinterCallback)     # our live line replaces its printed dicts
    resume = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])) if checkpoints.is_dir() else []
    started = time.perf_counter()
    with PeakMemory(interval_s=0.05, cuda=device == "cuda") as peak:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.train(resume_from_checkpoint=str(resume[-1]) if resume else None)
    wall = time.perf_counter() - started
    live.show(trainer.state, final=True)
    history = trainer.state.log_history
    evals = [{"step": h["step"], "eval_loss": h["eval_loss"]} for h in history if "eval_loss" in h]
    if not evals or evals[-1]["step"] != trainer.state.global_step:   # the final step is always evaluated
        final = trainer.evaluate()
        evals.append({"step": trainer.state.global_step, "eval_loss": final["eval_loss"]})
    best = min(evals, key=lambda e: e["eval_loss"]) if recipe.best == "eval_loss" else evals[-1]
    seen = trainer.state.num_input_tokens_seen or 0
    record = {
        "recipe": recipe.name, "key": key, "settings": recipe.settings(), "data": recipe.data.label,
        "weights": weights_id, "versions": library_versions(), "chat": chat,
        "examples": {"train": len(train_set), "eval": len(eval_set), "dropped_for_length": dropped_train + dropped_eval},
        "loss": [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        "eval": evals, "best_step": best["step"], "best_eval_loss": best["eval_loss"],
        "steps": trainer.state.global_step, "resumed_from": int(resume[-1].name.split("-")[1]) if resume else None,
        "wall_s": round(wall, 2), "tokens_seen": int(seen),
        "tokens_per_s": round(seen / wall, 1) if wall and seen else None,
        "peak_rss_mb": round(peak.rss_peak_mb, 1), "peak_gpu_mb": peak.gpu_peak_mb,
        "trainable_params": int(trainable), "total_params": int(total), "device": device,
    }
    staged = folder / "adapter.tmp"
    shutil.rmtree(staged, ignore_errors=True)
    getattr(trainer.model, "save_pretrained")(str(staged))    # the peft model: its adapter only
    shutil.rmtree(folder / "adapter", ignore_errors=True)
    os.replace(staged, folder / "adapter")
    tmp = folder / f"{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, folder / RECORD)
    shutil.rmtree(checkpoints, ignore_errors=True)
    del trainer, model
    _give_back_memory()
    return Trained(recipe.name, key, str(folder / "adapter"), record, reused=False)


def _give_back_memory() -> None:
    """Free what training held and hand it back to the OS, so the cells measured after it in
    the same process are not charged for it (glibc keeps freed heap otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _List:
    """A list of encoded examples as a map-style dataset."""

    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


