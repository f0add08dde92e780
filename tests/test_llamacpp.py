"""The llama.cpp backend: the embedded GGUF file run as it ships, beside the transformers
backend's dequantized fp32 copy of the same weights; a GGUF type made once by llama.cpp's
quantizer; and the inputs it refuses.

The engine tests need llama-cpp-python (`pip install '.[llamacpp]'`, which compiles llama.cpp;
`make setup` installs it); where it is missing they skip and name the command."""

import importlib.util
import textwrap

import pytest
from choice_pairs import choice_pairs

from harness.backends.llamacpp.config import LlamacppSettings
from harness.backends.registry import skip_reason
from harness.plan.validate import load_spec
from harness.spec.errors import SpecInvalid
from harness.spec.types import ModelSource, Variant

HAVE = importlib.util.find_spec("llama_cpp") is not None
needs_llamacpp = pytest.mark.skipif(not HAVE, reason="llama-cpp-python is not installed here: "
                                    "pip install '.[llamacpp]' (compiles llama.cpp; `make setup` does it)")
SOURCE = ModelSource("embedded", "smollm2-135m-instruct")


def spec_with(tmp_path, variants: str) -> object:
    path = tmp_path / "spec.yaml"
    path.write_text("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\nvariants:\n"
                    + textwrap.indent(textwrap.dedent(variants), "  ")
                    + "tasks:\n  speed: {latency: {new_tokens: 4}}\n")
    return path


def test_a_precision_on_llamacpp_is_refused_at_its_line_with_the_gguf_types_to_use(tmp_path):
    path = spec_with(tmp_path, """\
        q8: {backend: llamacpp, gguf: Q8_0}
        bad: {backend: llamacpp, precision: int8}
        """)
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    text = str(err.value)
    assert "spec.yaml:5" in text and "precision int8" in text and "gguf: Q8_0" in text


def test_a_gguf_type_llamacpp_cannot_make_is_a_validation_error_naming_those_it_can(tmp_path):
    path = spec_with(tmp_path, "q: {backend: llamacpp, gguf: IQ2_XXS}\n")
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    text = str(err.value)
    assert "spec.yaml:4" in text and "IQ2_XXS" in text and "Q4_K_M" in text and "Q8_0" in text


def test_a_gguf_key_on_a_transformers_variant_names_its_backend(tmp_path):
    path = spec_with(tmp_path, "fp32: {gguf: Q8_0}\n")
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    assert "setting of the llamacpp backend" in str(err.value) and "backend: llamacpp" in str(err.value)


def test_settings_that_are_transformers_own_skip_on_llamacpp_and_say_why():
    reason = skip_reason(Variant("v", attn="eager", backend="llamacpp", backend_settings=LlamacppSettings()))
    if not HAVE:
        assert "llama-cpp-python is not installed" in reason and "[llamacpp]" in reason
    else:
        assert "attn eager" in reason
        assert "use_cache" in skip_reason(Variant("v", use_cache=False, backend="llamacpp"))


# --- the engine, on the embedded GGUF file -----------------------------------------------------

@pytest.fixture(scope="module")
def native():
    from harness.backends.pool import load_variant

    return load_variant(SOURCE, Variant("q4_1", backend="llamacpp", backend_settings=LlamacppSettings()))


def _rows(tokenizer, n=8):
    from harness.kinds.latency.runner import load_prompts

    return [tokenizer.encode(p) for p in load_prompts("default")[:n]]


@pytest.mark.model
@needs_llamacpp
def test_the_shipped_file_runs_natively_and_says_so(native):
    assert native.origin.startswith("GGUF Q4_1") and "run as shipped by llama.cpp" in native.origin
    assert "dequantized" not in native.origin
    assert native.weights_id.startswith("gguf-sha256:")
    assert native.footprint_bytes == native.model.path.stat().st_size < 120 * 2**20   # the 4-bit file itself


@pytest.mark.model
@needs_llamacpp
def test_greedy_generation_is_deterministic_and_stops_as_asked(native):
    engine = native.engine()
    rows = _rows(native.tokenizer, 4)
    a = engine.generate(rows, 24)
    b = native.engine().generate(rows, 24, share_prefix=False)
    assert [g.tokens for g in a] == [g.tokens for g in b]
    assert all(len(g.tokens) <= 24 for g in a) and sum(len(g.tokens) == 24 for g in a) >= 2
    text = native.tokenizer.decode(a[0].tokens)
    word = text.split()[1] if len(text.split()) > 1 else text.strip()
    (cut,) = engine.generate(rows[:1], 24, stops=[word])
    assert cut.finish == "stop" and word in native.tokenizer.decode(cut.tokens)
    assert len(cut.tokens) < len(a[0].tokens) or a[0].finish == "stop"


@pytest.mark.model
@needs_llamacpp
def test_a_shared_prefix_is_evaluated_once_and_changes_nothing(native):
    tok = native.tokenizer
    shots = tok.encode("Question: What is 2 + 3?\nAnswer: 5\nQuestion: What is 4 + 4?\nAnswer: 8\n")
    rows = [shots + tok.encode(f"Question: What is {a} + {b}?\nAnswer:", add_special_tokens=False)
            for a, b in ((1, 2), (3, 4), (5, 1))]
    engine = native.engine()
    shared = engine.generate(rows, 4, stops=["\n"])
    assert engine.prefix_tokens_shared >= 2 * len(shots)
    fresh = engine.generate(rows, 4, stops=["\n"], share_prefix=False)
    assert engine.prefix_tokens_shared == 0
    assert [g.tokens for g in shared] == [g.tokens for g in fresh]


@pytest.mark.model
@needs_llamacpp
def test_log_likelihoods_are_close_to_the_dequantized_fp32_and_prefix_reuse_changes_nothing(native, embedded_fp32):
    """llama.cpp computes Q4_1 x Q8 dot products; transformers the dequantized weights in fp32:
    close, not equal. Prefix reuse inside llama.cpp must not change a value by more than float
    noise."""
    tok = native.tokenizer
    pairs = choice_pairs(tok)
    engine = native.engine()
    got = engine.score(pairs, 2048)
    again = native.engine().score(pairs, 2048, share_prefixes=False)
    assert max(abs(a[0] - b[0]) for a, b in zip(got, again)) < 1e-3
    want = embedded_fp32.engine().score(pairs, 2048)
    diffs = [abs(a[0] - b[0]) for a, b in zip(got, want)]
    print("llama.cpp Q4_1 vs transformers fp32, |delta log-likelihood| per pair:", [round(d, 3) for d in diffs])
    assert max(diffs) < 0.5, diffs
    assert sum(a[1] == b[1] for a, b in zip(got, want)) >= len(pairs) - 1
    assert engine.scoring_stats.record()["evaluated_tokens"] < sum(len(c) + len(x) for c, x in pairs)


@pytest.mark.model
@needs_llamacpp
def test_latency_batches_generate_exactly_the_tokens_asked(native):
    engine = native.engine()
    rows = _rows(native.tokenizer, 2)
    timing = engine.timed(rows, 12)
    assert timing.new_tokens == 2 * 12
    assert 0 < timing.first_token_s < timing.total_s and len(timing.step_s) == 11
    assert engine.timer == "perf_counter"


@pytest.mark.model
@needs_llamacpp
def test_a_gguf_type_is_made_once_from_the_shipped_file_and_cached_by_content(native):
    from harness.backends.llamacpp.gguf_file import made, shipped_type

    shipped = native.model.path
    path, took = made(shipped, "Q8_0")
    assert took > 0 or path.is_file()
    again, took_again = made(shipped, "Q8_0")
    assert again == path and took_again == 0.0
    assert shipped_type(path) == "Q8_0" and path.stat().st_size > 1.3 * shipped.stat().st_size
    from harness.backends.pool import load_variant

    q8 = load_variant(SOURCE, Variant("q8", backend="llamacpp", backend_settings=LlamacppSettings(gguf="Q8_0")))
    assert "quantizer to GGUF Q8_0 (Q8_0 x" in q8.origin and "no more precise" in q8.origin
    rows = _rows(q8.tokenizer, 2)
    assert all(g.tokens for g in q8.engine().generate(rows, 8))
    q8.model.close()
