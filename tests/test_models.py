"""Variant loading on the real embedded model: adapters at run time and merged."""

import pytest

from harness.backends.pool import ModelPool, load_variant, variant_key
from harness.spec.types import Adapter, ModelSource, Variant

SOURCE = ModelSource("embedded", "smollm2-135m-instruct")


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, embedded_fp32):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    # init_lora_weights=False: random A and B, so the adapter really changes the model
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    base = load_variant(SOURCE, Variant(name="base"))
    path = tmp_path_factory.mktemp("lora")
    get_peft_model(base.model, config).save_pretrained(path)
    return path


def _logits(loaded, text="The capital of France is"):
    import torch

    ids = loaded.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return loaded.model(ids).logits[0, -1]


def test_adapter_runtime_and_merged_agree_and_change_the_model(adapter_dir, embedded_fp32):
    import torch

    runtime = load_variant(SOURCE, Variant(name="lora", adapter=Adapter(str(adapter_dir), "runtime")))
    merged = load_variant(SOURCE, Variant(name="lora_m", adapter=Adapter(str(adapter_dir), "merged")))
    from peft import PeftModel

    assert isinstance(runtime.model, PeftModel)
    assert type(merged.model).__name__ == "LlamaForCausalLM"
    base, rt, mg = _logits(embedded_fp32), _logits(runtime), _logits(merged)
    assert not torch.allclose(base, rt, atol=1e-3)
    assert torch.allclose(rt, mg, atol=1e-3)


@pytest.mark.model
def test_pool_loads_each_variant_once():
    pool = ModelPool()
    fp32, bf16 = Variant(name="fp32"), Variant(name="bf16", precision="bf16")
    first = pool.get(SOURCE, fp32)
    assert pool.get(SOURCE, fp32) is first and pool.loads == 1
    second = pool.get(SOURCE, bf16)
    assert pool.loads == 2 and str(second.model.dtype) == "torch.bfloat16"
    assert variant_key(SOURCE, fp32) != variant_key(SOURCE, bf16)
    # the same settings under another name are the same model
    assert variant_key(SOURCE, Variant(name="other")) == variant_key(SOURCE, fp32)
    pool.release()


@pytest.mark.model
def test_device_map_shards_with_accelerate_and_the_cell_records_where(tmp_path):
    """`device_map` with `max_memory` goes to accelerate; the placement is recorded. On a CPU
    every parameter lands on the CPU (a GPU box spreads them; no GPU was lent to check that)."""
    import torch

    from harness.backends.transformers.config import TransformersConfig
    from harness.backends.pool import load_variant
    from harness.spec.types import ModelSource, Variant

    source = ModelSource("embedded", "smollm2-135m-instruct")
    variant = Variant(name="sharded", backend_settings=TransformersConfig("auto", (("cpu", "4GiB"),)))
    loaded = load_variant(source, variant)
    assert loaded.placement == {"cpu": 134.5} and loaded.device == "cpu"
    ids = loaded.tokenizer("2 + 2 =", return_tensors="pt")["input_ids"]
    plain = load_variant(source, Variant(name="plain"))
    with torch.no_grad():
        a = loaded.model.generate(ids, max_new_tokens=4, do_sample=False)
        b = plain.model.generate(ids, max_new_tokens=4, do_sample=False)
    assert torch.equal(a, b)
    assert variant.resolved()["device_map"] == "auto" and variant.resolved()["max_memory"] == {"cpu": "4GiB"}
    assert "device_map" not in Variant(name="plain").resolved()      # older records keep their shape


def test_max_memory_without_device_map_is_refused_with_its_line(tmp_path):
    import pytest

    from harness.spec.errors import SpecInvalid
    from harness.plan.validate import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\nvariants:\n"
                    "  big: {max_memory: {0: 70GiB}}\n  pinned: {device: cpu, device_map: auto}\n"
                    "tasks:\n  t: {lm_eval: gsm8k}\n")
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    text = str(err.value)
    assert "spec.yaml:4: variants.big.max_memory: `max_memory:` limits what `device_map:` puts on each device" in text
    assert "spec.yaml:5: variants.pinned.device: `device: cpu` pins the model to one device" in text
