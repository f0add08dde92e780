"""Quiet by default: model-loading progress bars and lm-eval's repeated warnings bury the
verdicts. `quiet()` silences them; `-v` (pytest or the CLI) keeps them."""

from __future__ import annotations

import logging
import os
import sys


def quiet() -> None:
    """Silence progress bars and warnings: through the environment for libraries not imported
    yet (they read it when they are), directly for those already imported. Importing them
    here would cost every pytest start-up a second."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in ("lm_eval", "lm-eval", "transformers", "datasets", "accelerate", "bitsandbytes", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
