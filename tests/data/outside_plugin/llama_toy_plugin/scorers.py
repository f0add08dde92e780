"""A toy scorer: it reads only the target, so the score it gives a task is known from the data
alone, whatever the model writes. The test checks that number, so it sees this function ran."""


def target_even(answer: str, target: str, **options) -> bool:
    """Whether the target is an even number."""
    return int(target) % 2 == 0
