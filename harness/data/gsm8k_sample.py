"""A small GSM8K-format sample that the project generates itself.

Every problem is built from a word-problem pattern and seeded random numbers; its answer is
worked out step by step in GSM8K's own format (`<<expr=value>>` calculator annotations and a
final `#### N` line), so the file looks to lm-evaluation-harness exactly like GSM8K. It is not
GSM8K: everything made from it is labelled "sample".
"""

from __future__ import annotations

import random
from typing import Callable

Problem = dict[str, str]


def _steps(lines: list[tuple[str, str]]) -> str:
    """[(text with {}, expr)] -> GSM8K answer lines with calculator annotations."""
    out = []
    value = None
    for text, expr in lines:
        value = _eval(expr)
        out.append(text.format(f"{expr} = <<{expr}={value}>>{value}"))
    out.append(f"#### {value}")
    return "\n".join(out)


def _eval(expr: str) -> int:
    # Only integers and + - * / // appear; eval on a vetted alphabet keeps the steps readable.
    if set(expr) - set("0123456789+-*/() "):
        raise ValueError(f"bad expression {expr!r}")
    value = eval(expr, {"__builtins__": {}})  # noqa: S307 - digits and operators only
    if value != int(value):
        raise ValueError(f"{expr} is not a whole number")
    return int(value)


def _eggs(r: random.Random) -> Problem:
    laid, ate, price = r.randint(12, 30), r.randint(2, 6), r.randint(2, 5)
    return {
        "question": f"A farmer's hens lay {laid} eggs a day. The farmer eats {ate} of them and sells "
                    f"the rest for ${price} each. How many dollars does the farmer make a day?",
        "answer": _steps([("The farmer sells {} eggs.", f"{laid} - {ate}"),
                          ("That makes {} dollars.", f"({laid} - {ate}) * {price}")]),
    }


def _books(r: random.Random) -> Problem:
    shelves, per, given = r.randint(3, 9), r.randint(10, 25), r.randint(5, 20)
    return {
        "question": f"Maya has {shelves} shelves with {per} books on each shelf. She gives away "
                    f"{given} books. How many books does she have left?",
        "answer": _steps([("She starts with {} books.", f"{shelves} * {per}"),
                          ("She has {} books left.", f"{shelves} * {per} - {given}")]),
    }


def _trip(r: random.Random) -> Problem:
    speed, hours, extra = r.randint(40, 70), r.randint(2, 6), r.randint(10, 60)
    return {
        "question": f"A bus drives at {speed} miles per hour for {hours} hours, then drives {extra} "
                    f"more miles. How many miles does it drive in total?",
        "answer": _steps([("In the first part it drives {} miles.", f"{speed} * {hours}"),
                          ("In total it drives {} miles.", f"{speed} * {hours} + {extra}")]),
    }


def _pizza(r: random.Random) -> Problem:
    friends, slices_each = r.randint(3, 8), r.randint(2, 4)
    per_pizza = r.choice([4, 8])
    total = friends * slices_each
    pizzas = -(-total // per_pizza)
    return {
        "question": f"{friends} friends each want {slices_each} slices of pizza. Each pizza has "
                    f"{per_pizza} slices. How many slices are left over if they buy {pizzas} pizzas?",
        "answer": _steps([("They want {} slices.", f"{friends} * {slices_each}"),
                          ("They buy {} slices.", f"{pizzas} * {per_pizza}"),
                          ("So {} slices are left over.", f"{pizzas} * {per_pizza} - {friends} * {slices_each}")]),
    }


def _savings(r: random.Random) -> Problem:
    weekly, weeks, cost = r.randint(5, 20), r.randint(4, 12), r.randint(10, 40)
    return {
        "question": f"Leo saves ${weekly} every week for {weeks} weeks. Then he buys a game for ${cost}. "
                    f"How many dollars does he have now?",
        "answer": _steps([("He saves {} dollars.", f"{weekly} * {weeks}"),
                          ("After the game he has {} dollars.", f"{weekly} * {weeks} - {cost}")]),
    }


def _share(r: random.Random) -> Problem:
    kids, each, bags = r.randint(2, 6), r.randint(3, 9), r.randint(2, 5)
    total = kids * each * bags
    return {
        "question": f"There are {bags} bags with {kids * each} marbles in each bag. The marbles are "
                    f"shared equally among {kids * bags} children. How many marbles does each child get?",
        "answer": _steps([("There are {} marbles.", f"{bags} * {kids * each}"),
                          ("Each child gets {} marbles.", f"{total} // {kids * bags}")]),
    }


def _apples(r: random.Random) -> Problem:
    have, more = r.randint(2, 9), r.randint(2, 9)
    return {
        "question": f"Tom has {have} apples. He buys {more} more apples. How many apples does Tom have now?",
        "answer": _steps([("Tom has {} apples.", f"{have} + {more}")]),
    }


def _pens(r: random.Random) -> Problem:
    boxes, per = r.randint(2, 5), r.randint(2, 6)
    return {
        "question": f"There are {boxes} boxes with {per} pens in each box. How many pens are there?",
        "answer": _steps([("There are {} pens.", f"{boxes} * {per}")]),
    }


def _cookies(r: random.Random) -> Problem:
    baked, eaten = r.randint(10, 20), r.randint(1, 9)
    return {
        "question": f"Sara baked {baked} cookies and ate {eaten} of them. How many cookies are left?",
        "answer": _steps([("There are {} cookies left.", f"{baked} - {eaten}")]),
    }


# One-step problems first in each round of six, so even a small model scores above zero
# and quantization has room to move the number; two-step ones keep the top of the scale open.
PATTERNS: list[Callable[[random.Random], Problem]] = [_apples, _eggs, _pens, _books, _cookies, _savings,
                                                      _trip, _share, _pizza]


def generate(n: int, seed: int) -> list[Problem]:
    """`n` problems, the same for the same seed on every machine."""
    r = random.Random(seed)
    return [PATTERNS[i % len(PATTERNS)](r) for i in range(n)]


def splits() -> dict[str, list[Problem]]:
    """The sample's test and train splits (train feeds few-shot examples)."""
    return {"test": generate(60, seed=8), "train": generate(30, seed=1319)}
