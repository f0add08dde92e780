"""Shared fixtures: spec writing, the official GSM8K folder, the embedded model."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from nested import keep_libraries

pytest_plugins = ["pytester"]
keep_libraries()   # nested runs in this process keep torch & co. imported (tests/nested.py)
ROOT = Path(__file__).resolve().parents[1]
collect_ignore = ["data"]   # specs and rows that tests copy and run themselves


INSTALLED_PARTS = ("models", "lm-eval")   # content-keyed install steps, shared by every test cache


def linked_cache(folder: Path) -> Path:
    """A harness cache folder whose install steps (dequantized models, lm-eval's task index)
    are the user's, and whose results are its own."""
    from harness.data.cache import cache_root

    real = Path(os.environ.get("LLAMA_TEST_REAL_CACHE") or cache_root())
    os.environ["LLAMA_TEST_REAL_CACHE"] = str(real)
    folder.mkdir(parents=True, exist_ok=True)
    for part in INSTALLED_PARTS:
        (real / part).mkdir(parents=True, exist_ok=True)
        if not (folder / part).exists():
            (folder / part).symlink_to(real / part, target_is_directory=True)
    return folder


@pytest.fixture
def fresh_harness_cache(tmp_path) -> Path:
    """A harness cache of this test's own (throughput estimates, judge data, digests), with
    the installed models linked: for tests about what a cache holds."""
    return linked_cache(tmp_path / "harness-cache")


@pytest.fixture(autouse=True, scope="session")
def shared_harness_cache(tmp_path_factory):
    """One harness cache for the whole test session, nested runs included. pytester points
    HOME at each test's own folder, so without this every nested run started with an empty
    ~/.cache/pytest-llama and dequantized the embedded model again (about 25 s a run). The
    content-keyed parts (the dequantized models, lm-eval's task index, keyed by lm-eval's
    version) are linked to the user's cache, since they are install steps, not results; the
    rest (folder digests, throughput estimates, judge data) is this session's own."""
    from harness.data.cache import CACHE_ENV

    folder = linked_cache(tmp_path_factory.mktemp("harness-cache"))
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old


@pytest.fixture(autouse=True, scope="session")
def private_generation_cache(tmp_path_factory):
    """Tests never read or write the user's generation cache: an engine regression must not
    pass on outputs cached by a good engine. Subprocesses (pytester) inherit the variable."""
    folder = tmp_path_factory.mktemp("generations")
    old = os.environ.get("LLAMA_GENCACHE_DIR")
    os.environ["LLAMA_GENCACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("LLAMA_GENCACHE_DIR", None)
    else:
        os.environ["LLAMA_GENCACHE_DIR"] = old


QUICK_ENV = "LLAMA_TEST_QUICK"   # set by `make test-quick`, which deselects the tests marked `model`


@pytest.fixture(autouse=True)
def no_model_in_the_quick_suite(request, monkeypatch):
    """Under `make test-quick`, loading a model in this process fails the test, naming the
    marker it lacks, so the quick suite stays model-free as tests are added. (A nested run
    in a subprocess is not watched: the quick suite's time bound shows one.)"""
    if not os.environ.get(QUICK_ENV) or request.node.get_closest_marker("model"):
        return
    import harness.backends.pool as pool

    def refuse(source, variant):
        raise RuntimeError(f"{request.node.nodeid} loads a model ({source.label}, {variant.name}): "
                           "mark it @pytest.mark.model, or keep it model-free for `make test-quick`")

    monkeypatch.setattr(pool, "load_variant", refuse)


@pytest.fixture
def write_spec(tmp_path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path
    return write


@pytest.fixture
def spec_errors(write_spec):
    """spec_errors(text) -> the validation errors (as printed) of a spec that must not load."""
    from harness.plan.validate import load_spec
    from harness.spec.errors import SpecInvalid

    def errors(text: str) -> list[str]:
        with pytest.raises(SpecInvalid) as info:
            load_spec(write_spec(text))
        return [str(e) for e in info.value.errors]
    return errors


@pytest.fixture(scope="session")
def annotations(data_dir) -> Path:
    """AlpacaEval 2.0's published judgements (the data folder's alpaca_eval/annotations/)."""
    folder = data_dir / "alpaca_eval" / "annotations"
    if not folder.is_dir():
        pytest.skip(f"no AlpacaEval data under {data_dir}")
    return folder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder holding gsm8k/test.jsonl: $LLAMA_DATA_DIR, else ../shared/data beside the repo."""
    candidates = [os.environ.get("LLAMA_DATA_DIR"), ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / "gsm8k" / "test.jsonl").is_file():
            return Path(c).resolve()
    message = "official GSM8K files not found: set LLAMA_DATA_DIR to a folder with gsm8k/test.jsonl"
    if os.environ.get("CI") or os.environ.get("LLAMA_STRICT"):
        pytest.fail(f"{message} (CI must check what these tests check, not skip them)")
    pytest.skip(message)


def pytest_collection_modifyitems(items):
    """Tests that use a model fixture are `model` tests without saying so."""
    for item in items:
        if {"embedded_fp32", "broken_adapter", "tiny_model"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def embedded_fp32():
    """The embedded SmolLM2-135M-Instruct loaded once at fp32 for the engine tests."""
    from harness.backends.pool import load_variant
    from harness.spec.types import ModelSource, Variant

    return load_variant(ModelSource("embedded", "smollm2-135m-instruct", chat=True), Variant(name="fp32"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random-weight Llama with the embedded model's tokenizer (tests/tiny_model.py), for
    tests of plumbing rather than of outputs; a spec reads it as `model: {path: ...}`."""
    from tiny_model import build

    return build(tmp_path_factory.mktemp("tiny-random-llama"))


@pytest.fixture(scope="session")
def broken_adapter(tmp_path_factory, embedded_fp32):
    """A LoRA adapter with large random weights: loads fine, ruins the model's answers."""
    import torch
    from peft import LoraConfig, get_peft_model

    from harness.backends.pool import load_variant
    from harness.spec.types import ModelSource, Variant

    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False)
    model = get_peft_model(load_variant(ModelSource("embedded", "smollm2-135m-instruct"), Variant("x")).model, config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(200.0)
    path = tmp_path_factory.mktemp("broken-lora")
    model.save_pretrained(path)
    return path


@pytest.fixture
def run_nested(pytester):
    """A nested pytest run in this process (tests/nested.py says when that is safe):
    run_nested(*args) -> pytester's RunResult."""
    from nested import run_inprocess

    return lambda *args: run_inprocess(pytester, *args)


@pytest.fixture
def server():
    """A fake OpenAI-compatible endpoint (tests/fake_openai.py): server(script) -> (base URL, script)."""
    from fake_openai import serve

    use, stop = serve()
    yield use
    stop()
