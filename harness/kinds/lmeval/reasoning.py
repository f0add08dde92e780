"""A reasoning model's thinking kept apart from its answer, before anything scores the answer.

Two forms reach the harness: a server's reasoning parser returns the thinking in its own field
(`reasoning_content`, vLLM's and SGLang's), and a model run by the harness (or a server with no
parser) writes it into the text between two tags the spec names (`reasoning_tags`, e.g.
`<think>` and `</think>`). An output whose thinking never closes (cut by `max_new_tokens` or a
stop string) is censored: it has no answer, and the cell reports the censored rate beside the
score (lm-eval scores such outputs as wrong answers, with nothing to tell them apart).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    answer: str              # what is scored
    reasoning: str | None    # the thinking, stored in the sample; None when the output had none
    censored: bool           # cut off inside the thinking: no answer was given


def split(text: str, finish: str, tags: tuple[str, str] | None, served: str | None = None) -> Split:
    """`text` (and the server's `served` thinking, if any) as answer and thinking.

    With tags, the thinking is what precedes the closing tag (a chat template that opens the
    thinking itself leaves only the closing tag in the output), less the opening tag; an
    opening tag with no closing tag is censored thinking."""
    if served:
        return Split(text, served, censored=finish == "length" and not text.strip())
    if not tags:
        return Split(text, None, False)
    opening, closing = tags
    head, closed, tail = text.partition(closing)
    if closed:
        thinking = head.split(opening, 1)[1] if opening in head else head
        return Split(tail.lstrip(), thinking.strip(), False)
    if opening in text:
        before, _, thinking = text.partition(opening)
        return Split(before.strip(), thinking.strip(), censored=True)
    return Split(text, None, False)
