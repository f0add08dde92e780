"""Typed keys for state shared between the plugin's hooks (config.stash)."""

from __future__ import annotations

import pytest

from harness.run.session import BenchSession

BENCH = pytest.StashKey[BenchSession]()
REPORT = pytest.StashKey[object]()
SAVED = pytest.StashKey[str]()
PUBLISHED = pytest.StashKey[str]()   # the --llama-report-dir folder written
COLLECTED = pytest.StashKey[dict]()   # cell key -> spec name, for every collected cell (before -k)
MISSING = pytest.StashKey[list]()     # baseline cells not collected (--llama-strict)
