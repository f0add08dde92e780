"""AlpacaEval 2.0's numbers, computed by alpaca_eval's own code (upstream.py).

- A preference (1: the reference wins, 2: the model wins) is read from the judge's first-token
  log-probabilities by alpaca_eval's `logprob_parser` (numerator `m`, denominators `m`, `M`,
  not binarized), as the weighted annotator does; a judge that gives no log-probabilities is
  read by `regex_parser` on its text (`m` or `M`), a discrete preference.
- Which output is shown first is alpaca_eval's `RandomSwitchTwoColumnsProcessor`, seeded by the
  instruction, and the preference is switched back after (3 - x).
- Win rate, its standard error and the discrete win rate are `get_winrate`'s; the
  length-controlled win rate is `get_length_controlled_winrate`'s GLM.
- The GLM needs each instruction's difficulty, published only on the hub. It is re-estimated
  here as the repository's notebook does (`notebooks/instruction_difficulty.ipynb`): a joint
  logistic regression over the published judgements at hand, per-model length slope and bias
  plus one coefficient per instruction, whose instruction coefficients are the difficulty. The
  regularisation toward "gamed" baselines (`length_controlled_v1`) needs their annotations,
  also hub-only, so the GLM is the unregularised `length_controlled_noreg`. Both are recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import warnings
from pathlib import Path

from harness.kinds.pairwise import upstream

GLM = "length_controlled_noreg"
SWITCH_COLUMN = "is_switched_outputs"


def preference_from_logprobs(top_logprobs: list[dict]) -> float:
    """1..2 from the first token's top log-probabilities (NaN when neither m nor M is among them)."""
    cfg = upstream.judge_config()["completion_parser_kwargs"]
    completion = {"logprobs": {"content": [{"top_logprobs": top_logprobs}]}}
    return float(upstream.modules().completion_parsers.logprob_parser(
        completion, numerator_token=cfg["numerator_token"], denominator_tokens=cfg["denominator_tokens"],
        is_binarize=cfg["is_binarize"])[0])


def preference_from_text(text: str) -> float:
    """1 or 2 from the judge's text (`m` or `M`), NaN when it is neither: the discrete fallback."""
    found = upstream.modules().completion_parsers.regex_parser(
        text or "", {1: r"^\s*m(?![A-Za-z])", 2: r"^\s*M(?![A-Za-z])"})
    return float(found[0]) if found else math.nan


def switched(instructions: list[str]) -> list[bool]:
    """Whether alpaca_eval shows the model's output first for each instruction (its processor, its seed)."""
    import pandas as pd

    processor = upstream.modules().processors.RandomSwitchTwoColumnsProcessor(
        two_columns_to_switch=["output_1", "output_2"], random_seed_columns=["instruction"],
        _switch_column=SWITCH_COLUMN)
    df = pd.DataFrame({"instruction": instructions, "output_1": "a", "output_2": "b"})
    return [bool(x) for x in processor.preprocess(df)[SWITCH_COLUMN]]


def _frame(annotations: list[dict]):
    """Annotations as alpaca_eval's frame, indexed by the instruction's place in the eval set."""
    import pandas as pd

    df = pd.DataFrame(annotations)
    if "index" in df.columns:
        df = df.set_index("index")
    df.index.name = None
    return df


@contextlib.contextmanager
def _difficulty_file(difficulty, folder: Path):
    """alpaca_eval's GLM reads instruction difficulty from a hub file; it reads ours instead."""
    import pandas as pd

    glm = upstream.modules().glm_winrate
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"difficulty-{hashlib.sha256(difficulty.to_json().encode()).hexdigest()[:16]}.csv"
    if not path.exists():
        pd.DataFrame({"model": "estimate", "index": difficulty.index,
                      "instruction_difficulty": difficulty.values}).to_csv(path, index=False)
    original = glm.hf_hub_download
    glm.hf_hub_download = lambda **_: str(path)
    try:
        yield
    finally:
        glm.hf_hub_download = original


def win_rates(annotations: list[dict], difficulty=None, folder: Path | None = None) -> dict[str, float]:
    """alpaca_eval's metrics of one model's annotations: win_rate, standard_error, n_wins, n_draws,
    n_total, discrete_win_rate (get_winrate), avg_length (characters of the model's outputs), and
    with `difficulty` (a Series by eval-set index) length_controlled_winrate and lc_standard_error."""
    import pandas as pd

    mods = upstream.modules()
    df = _frame(annotations)
    out: dict = {k: float(v) for k, v in mods.winrate.get_winrate(df).items()}
    out["avg_length"] = float(df["output_2"].str.len().mean())
    if difficulty is not None:
        from harness.data.cache import cache_root

        try:
            with _difficulty_file(difficulty, folder or cache_root() / "alpaca_eval"), warnings.catch_warnings():
                warnings.simplefilter("ignore")    # scikit-learn's deprecations and convergence notes, from alpaca_eval's fit
                lc = mods.glm_winrate.get_length_controlled_winrate(
                    df.copy(), glm_name=GLM, save_weights_dir=None, is_add_glm_preference_inplace=False,
                    is_warn_extreme_changes=False)
        except ValueError as exc:     # too few rated items for the GLM's 5-fold fit: no LC value, said why
            out["lc_not_computed"] = f"{type(exc).__name__}: {exc}"
        else:
            out["length_controlled_winrate"] = float(lc["length_controlled_winrate"])
            out["lc_standard_error"] = float(lc["lc_standard_error"])
    return out | {"n_rated": int(pd.Series(df["preference"]).notna().sum())}


def estimate_difficulty(annotation_sets: dict[str, list[dict]], n_instructions: int):
    """Each instruction's difficulty, as the notebook estimates it, from these models' annotations
    (a Series by eval-set index, 0 for the reference instruction the dummy coding drops)."""
    import numpy as np
    import pandas as pd
    from patsy import EvalEnvironment, dmatrix

    glm = upstream.modules().glm_winrate
    frames = []
    for model, rows in annotation_sets.items():
        df = _frame(rows).reset_index(names="index")
        delta = df["output_1"].str.len() - df["output_2"].str.len()
        frames.append(pd.DataFrame({"index": df["index"], "generator_2": model,
                                    "std_delta_len": delta / delta.std(),
                                    "preference": df["preference"].astype(float).replace({0.0: 1.5}) - 1,
                                    "not_gamed_baseline": True}))
    data = pd.concat(frames, ignore_index=True)
    data = data[data["preference"].notna()].reset_index(drop=True)
    levels = list(annotation_sets)
    formula = (f"C(generator_2, levels={levels!r}):np.tanh(std_delta_len) + C(generator_2, levels={levels!r}) "
               "+ C(index) + not_gamed_baseline.astype(float) - 1")
    x = dmatrix(formula, data, return_type="dataframe", eval_env=EvalEnvironment([{"np": np}]))
    x["preference"] = data["preference"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = glm.fit_LogisticRegressionCV(x, "preference", is_ytrue_proba=True, n_splits=5)
    params = pd.Series(model.coef_[0], index=model.feature_names_in_)
    out = pd.Series(0.0, index=range(n_instructions), name="instruction_difficulty")
    for name, value in params.items():
        if name.startswith("C(index)[T."):
            out[int(name.split("[T.")[-1].rstrip("]"))] = float(value)
    return out


def difficulty(annotation_dir: Path, n_instructions: int):
    """The difficulty estimate from every published annotation file in `annotation_dir`, kept on
    disk by the files' content; and how it was made, for the record."""
    import pandas as pd

    from harness.data.cache import cache_root

    files = sorted(Path(annotation_dir).glob("*.json"))
    if not files:
        return None, "none: no published annotations to estimate it from (the GLM is not fitted)"
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    path = cache_root() / "alpaca_eval" / f"instruction_difficulty-{digest}.csv"
    how = (f"re-estimated as alpaca_eval's notebook does, from the published {upstream.ANNOTATOR} judgements of "
           f"{len(files)} model(s) ({', '.join(f.stem for f in files)}); the hub's instruction_difficulty.csv "
           f"was fitted on many more models; GLM {GLM} (the gamed baselines' annotations are hub-only)")
    if path.exists():
        return pd.read_csv(path, index_col=0).squeeze("columns"), how
    sets = {f.stem: json.loads(f.read_text()) for f in files}
    for rows in sets.values():
        for i, row in enumerate(rows):
            row.setdefault("index", i)
    estimate = estimate_difficulty(sets, n_instructions)
    path.parent.mkdir(parents=True, exist_ok=True)
    estimate.to_csv(path)
    return estimate, how
