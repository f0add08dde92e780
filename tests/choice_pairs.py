"""Three questions with their choices as (context, continuation) token pairs: the log-likelihood
comparisons between backends score these."""

QUESTIONS = [("The capital of France is", [" Paris", " Rome", " a city in Europe"]),
             ("2 + 2 =", [" 4", " 5", " four"]),
             ("Water boils at", [" 100 degrees Celsius", " 0 degrees"])]


def choice_pairs(tokenizer) -> list[tuple[list[int], list[int]]]:
    """Every question's context with each of its choices, tokenized by `tokenizer`."""
    pairs = []
    for question, choices in QUESTIONS:
        ctx = tokenizer.encode(question)
        pairs += [(ctx, tokenizer.encode(c, add_special_tokens=False)) for c in choices]
    return pairs
