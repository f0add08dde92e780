"""The main job's gates bite: the smoke spec run with its nf4 variant broken (same spec, same
cell ids, weights wrecked after loading) fails nf4's own paired bound against fp32 and the
committed baseline gate, while fp32's cells pass."""

import pytest
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BREAK_NF4 = '''
import torch

import harness.backends.pool as models

_real = models.load_variant


def _broken(source, variant):
    loaded = _real(source, variant)
    if variant.name == "nf4":
        weight = loaded.model.get_input_embeddings().weight
        torch.manual_seed(0)
        with torch.no_grad():
            weight.add_(torch.randn_like(weight) * weight.std() * 2)
    return loaded


models.load_variant = _broken
'''


@pytest.mark.model
def test_a_broken_variant_fails_its_paired_bound_and_the_baseline_gate(pytester):
    """A subprocess run: its conftest patches the library's loader, which must not outlive it."""
    shutil.copy(ROOT / "specs" / "smoke.yaml", pytester.path / "smoke.yaml")
    shutil.copytree(ROOT / "specs" / "data", pytester.path / "data")
    pytester.makeconftest(BREAK_NF4)
    baseline = ROOT / "results" / "baselines" / "smoke.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "smoke.yaml", "-k", "equation and not int8",
                                           f"--llama-baseline={baseline}", "--llama-strict",
                                           f"--llama-results={pytester.path / 'results'}")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    failure = out.split("smoke::addition[nf4-equation]: ")[1].split("\n_")[0]
    assert "evidence of a drop beyond 10 pts: the whole 95% CI is below -10.0" in failure
    assert "regressed against baseline" in failure and "(tango score)" in failure
    assert "smoke::addition[fp32-equation]: exact_match" in out and "FAILED smoke.yaml::addition[fp32" not in out
