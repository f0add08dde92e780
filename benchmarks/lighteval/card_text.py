"""The SmolLM2 card's HellaSwag text preprocessing (huggingface/smollm text/evaluation/tasks.py,
`prompt_hellaswag`), without lighteval: card_tasks.py builds its prompts with it, and gaps.py
compares it with lm-eval's on every item."""

import re


def preprocess(text: str) -> str:
    """lm-eval's HellaSwag preprocessing without its `text.strip()` (commented out in the card's)."""
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag(line: dict) -> tuple[str, list[str]]:
    """The card's query and choices for one HellaSwag row."""
    ctx = f"{line['ctx_a']} {line['ctx_b'].capitalize()} "
    return preprocess(line["activity_label"] + ": " + ctx), [" " + preprocess(e) for e in line["endings"]]
