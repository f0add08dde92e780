"""alpaca_eval's own code and files, from the alpaca-eval wheel (installed --no-deps).

The package's `__init__` imports its whole pipeline (dotenv, the OpenAI decoders, ...); the
parts used here do not need it, so its modules are loaded under a package whose `__init__` is
not run: the judge's prompt and settings (`weighted_alpaca_eval_gpt4_turbo`, whose prompt is
`alpaca_eval_clf_gpt4_turbo`'s), the completion parsers, the output-order switch, the win
rates and the length-controlled GLM, and the AlpacaEval 2.0 leaderboard CSV.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

DIST, VERSION = "alpaca-eval", "0.6.6"
ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
LEADERBOARD = f"leaderboards/data_AlpacaEval_2/{ANNOTATOR}_leaderboard.csv"
BASELINE = "gpt4_1106_preview"


class Missing(Exception):
    """The alpaca-eval wheel is not installed; the message says how to install it."""


def root() -> Path:
    """The installed `alpaca_eval` folder."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise Missing(f"alpaca_eval's judge prompt, parsers and leaderboard come from its wheel: "
                      f"pip install --no-deps {DIST}=={VERSION}") from None
    return Path(str(dist.locate_file("alpaca_eval")))


@lru_cache(maxsize=1)
def modules() -> SimpleNamespace:
    """alpaca_eval's parsers, processors, utils, win-rate and GLM modules (its __init__ not run)."""
    folder = root()
    if "alpaca_eval" not in sys.modules:
        spec = importlib.machinery.ModuleSpec("alpaca_eval", None, is_package=True)
        package = importlib.util.module_from_spec(spec)
        package.__path__ = [str(folder)]
        setattr(package, "__version__", metadata.version(DIST))
        sys.modules["alpaca_eval"] = package
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # pkg_resources' deprecation, from alpaca_eval.utils
        names = ("utils", "completion_parsers", "processors", "metrics.winrate", "metrics.glm_winrate")
        loaded = {n.split(".")[-1]: importlib.import_module(f"alpaca_eval.{n}") for n in names}
    return SimpleNamespace(**loaded)


@lru_cache(maxsize=1)
def judge_config() -> dict:
    """The annotator's settings (its configs.yaml) and its prompt template's text."""
    import yaml

    configs = root() / "evaluators_configs"
    config = yaml.safe_load((configs / ANNOTATOR / "configs.yaml").read_text())[ANNOTATOR]
    return config | {"prompt": (configs / config["prompt_template"]).read_text(encoding="utf-8")}


@lru_cache(maxsize=1)
def leaderboard():
    """The AlpacaEval 2.0 leaderboard shipped in the wheel (a pandas frame indexed by model)."""
    import pandas as pd

    return pd.read_csv(root() / LEADERBOARD, index_col=0)


def leaderboard_source() -> str:
    """Where the published numbers come from, for the paper report."""
    return f"AlpacaEval 2.0 leaderboard, {DIST} {metadata.version(DIST)}: alpaca_eval/{LEADERBOARD}"
