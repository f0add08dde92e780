from harness.plan.matrix import expand
from harness.plan.validate import load_spec


def test_ids_are_task_variant_template(write_spec):
    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        variants:
          fp32: {}
          int8: {precision: int8}
        templates:
          plain: "{{ question }}"
          cot: "Think. {{ question }}"
        tasks:
          gsm8k: {lm_eval: gsm8k, templates: [plain, cot]}
          arc: {lm_eval: arc_easy}
        """, name="study.yaml"))
    names = [c.name for c in expand(spec)]
    assert names == ["gsm8k[fp32-plain]", "gsm8k[fp32-cot]", "gsm8k[int8-plain]", "gsm8k[int8-cot]",
                     "arc[fp32-default]", "arc[int8-default]"]
    assert expand(spec)[1].key == "study::gsm8k[fp32-cot]"


def test_axes_make_the_cartesian_product(write_spec):
    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        axes:
          precision: [fp32, bf16, nf4]
          attn: [eager, sdpa]
          use_cache: [true]
        tasks:
          t: {lm_eval: gsm8k}
        """))
    names = [v.name for v in spec.variants]
    assert names == ["fp32-eager", "fp32-sdpa", "bf16-eager", "bf16-sdpa", "nf4-eager", "nf4-sdpa"]
    assert spec.variant("bf16-sdpa").precision == "bf16" and spec.variant("bf16-sdpa").attn == "sdpa"
    assert all(v.use_cache for v in spec.variants)


def test_a_batch_size_axis_makes_variants_that_share_one_load(write_spec):
    from harness.backends.pool import variant_key

    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        axes:
          precision: [fp32, int8]
          batch_size: [1, 8]
        tasks:
          t: {lm_eval: gsm8k}
        """))
    names = [v.name for v in spec.variants]
    assert names == ["fp32-b1", "fp32-b8", "int8-b1", "int8-b8"]
    b1, b8 = spec.variant("fp32-b1"), spec.variant("fp32-b8")
    assert (b1.batch_size, b8.batch_size) == (1, 8)
    assert b1.resolved()["batch_size"] == 1 and "batch_size" not in b1.settings()   # recorded, not a load setting
    assert variant_key(spec.model, b1) == variant_key(spec.model, b8)
    assert variant_key(spec.model, b1) != variant_key(spec.model, spec.variant("int8-b1"))
    assert "batch_size" not in spec.variant("fp32-b1").__class__(name="x").resolved()   # unset: not recorded


def test_a_thousand_cells(write_spec):
    templates = "\n".join(f"  t{i}: 'v{i} {{{{ question }}}}'" for i in range(10))
    spec = load_spec(write_spec(f"""
spec: 1
model: {{embedded: smollm2-135m-instruct}}
axes:
  precision: [fp32, fp16, bf16, int8, nf4]
  attn: [eager, sdpa]
  use_cache: [true, false]
templates:
{templates}
tasks:
  a: {{lm_eval: gsm8k, templates: [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9]}}
  b: {{lm_eval: gsm8k_cot, templates: [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9]}}
  c: {{lm_eval: gsm8k_cot_llama, templates: [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9]}}
  d: {{lm_eval: gsm8k, templates: [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9]}}
  e: {{lm_eval: gsm8k, templates: [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9]}}
"""))
    cells = expand(spec)
    assert len(cells) == 5 * 2 * 2 * 10 * 5 == 1000
    assert len({c.key for c in cells}) == 1000
