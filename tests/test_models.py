"""Variant loading on the real embedded model: adapters at run time and merged."""

import pytest

from harness.models import ModelPool, load_variant, variant_key
from harness.spec import Adapter, ModelSource, Variant

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
