"""The harness against upstream lm-evaluation-harness's own entry point (`simple_evaluate` with
its HF backend) on the same weights and the same official items: identical prompts (few-shot
exemplars included), identical greedy outputs, identical aggregates.

Upstream's task is built from lm-eval's own YAML, reading the same local files through its
`custom_dataset` hook; the harness builds its cell from a spec, as a user's run does.
"""

import json
import logging

import pytest

from harness.plan.matrix import expand
from harness.run.session import BenchSession, Settings
from harness.plan.validate import load_spec

logging.getLogger("lm_eval").setLevel(logging.ERROR)
N = 8


def _json_dataset(files: dict):
    def load(**_):
        import datasets

        return datasets.load_dataset("json", data_files={k: str(v) for k, v in files.items()})
    return load


def _upstream(model, tasks, **kwargs):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model.model, tokenizer=model.tokenizer, batch_size=4, max_length=model.max_length,
              device="cpu")
    return simple_evaluate(model=lm, tasks=tasks, limit=N, log_samples=True, verbosity="ERROR",
                           bootstrap_iters=1000, **kwargs)


def _harness(spec_path, tmp_path, data_dir=None):
    spec = load_spec(spec_path, data_dir=data_dir)
    bench = BenchSession(Settings(results_dir=tmp_path / "results", data_dir=data_dir, cache_mode="off"))
    (cell,) = expand(spec)
    result = bench.run(cell)
    bench.close()
    assert result.status == "ok", result.reason
    return result


def _by_doc(out, name):
    rows = {}
    for s in out["samples"][name]:
        rows.setdefault(s["doc_id"], {})[s["filter"]] = s
    return rows


def test_gsm8k_five_shot_prompts_outputs_and_scores_equal_upstream(write_spec, tmp_path, data_dir, embedded_fp32):
    """Slow (20 to 60 s here): eight five-shot GSM8K items generated twice on the real embedded
    model, by the harness and by lm-eval's own HFLM, which is the point: parity is about real
    outputs, so the tiny random model cannot stand in."""
    from lm_eval.tasks import TaskManager

    from harness.kinds.lmeval.tasks import build_task

    spec = write_spec("""
        spec: 1
        name: parity
        model: {embedded: smollm2-135m-instruct, chat: false}
        variants: {fp32: {precision: fp32}}
        generation: {max_new_tokens: 32, batch_size: 4}
        tasks:
          gsm8k: {lm_eval: gsm8k, data: dir, num_fewshot: 5, limit: 8}
        """)
    ours = _harness(spec, tmp_path, data_dir)

    manager = TaskManager()
    cfg = manager.task_index["gsm8k"]
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(cfg.yaml_path, resolve_func=True)
    for key in ("tag", "dataset_path", "dataset_name"):
        config.pop(key, None)
    config["custom_dataset"] = _json_dataset({"test": data_dir / "gsm8k" / "test.jsonl",
                                              "train": data_dir / "gsm8k" / "train.jsonl"})
    out = _upstream(embedded_fp32, [build_task(config)], num_fewshot=5, gen_kwargs={"max_gen_toks": 32},
                    task_manager=manager)

    theirs = _by_doc(out, "gsm8k")
    assert len(ours.samples) == len(theirs) == N
    exemplars = set()
    for row in ours.samples:
        up = theirs[row["doc_id"]]["flexible-extract"]
        assert row["prompt"] == up["arguments"][0][0], f"doc {row['doc_id']}: prompts differ"
        assert row["output"] == up["resps"][0][0], f"doc {row['doc_id']}: outputs differ"
        for flt in ("strict-match", "flexible-extract"):
            assert row["extracted"][flt] == theirs[row["doc_id"]][flt]["filtered_resps"][0]
        assert row["prompt"].count("Question:") == 6       # five exemplars and the item
        exemplars.add(row["prompt"].split("Question:")[1])
    assert len(exemplars) > 1      # exemplars are drawn per item, by the seeded sampler
    up = out["results"]["gsm8k"]
    for key in ("exact_match,strict-match", "exact_match,flexible-extract"):
        assert ours.metrics[key].value == up[key]
        assert ours.metrics[key].stderr == pytest.approx(up[key.replace(",", "_stderr,")])
    assert out["config"]["fewshot_seed"] == ours.prompt["seeds"]["fewshot"] == 1234
    assert ours.generation["overridden"] == ["max_new_tokens"] and ours.generation["task"]["max_new_tokens"] == 256


def test_multiple_choice_loglikelihoods_and_scores_equal_upstream(write_spec, tmp_path, data_dir, embedded_fp32):
    from harness.kinds.lmeval.tasks import build_task

    rows = [json.loads(line) for line in (data_dir / "gsm8k" / "test.jsonl").open().readlines()[:24]]
    items = []
    for i, row in enumerate(rows):
        right = int(row["answer"].split("#### ")[-1].replace(",", ""))
        choices = [str(right + 7), str(right), str(max(right - 3, 0) + 100)]
        items.append({"question": row["question"], "choices": choices, "label": 1 if i % 2 else 0})
        if not i % 2:
            items[-1]["choices"] = [choices[1], choices[0], choices[2]]
    test, train = tmp_path / "mc_test.jsonl", tmp_path / "mc_train.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in items[:16]))
    train.write_text("".join(json.dumps(r) + "\n" for r in items[16:]))
    spec = write_spec(f"""
        spec: 1
        name: parity_mc
        model: {{embedded: smollm2-135m-instruct, chat: false}}
        variants: {{fp32: {{precision: fp32}}}}
        generation: {{batch_size: 4}}
        templates:
          qa: "Question: {{{{ question }}}}\\nAnswer:"
        tasks:
          mc:
            data: {{test: {test}, train: {train}}}
            choices: choices
            target: "{{{{ label }}}}"
            templates: [qa]
            num_fewshot: 3
            limit: 8
        """)
    ours = _harness(spec, tmp_path)

    task = build_task({
        "task": "mc", "custom_dataset": _json_dataset({"test": test, "train": train}),
        "test_split": "test", "fewshot_split": "train", "num_fewshot": 3, "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question}}\nAnswer:", "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{label}}", "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
    })
    out = _upstream(embedded_fp32, [task])
    theirs = {s["doc_id"]: s for s in out["samples"]["mc"]}
    assert len(ours.samples) == len(theirs) == N
    for row in ours.samples:
        up = theirs[row["doc_id"]]
        assert row["prompt"] == up["arguments"][0][0]           # the same three exemplars
        assert row["prompt"].count("Question:") == 4
        assert row["scores"]["acc,none"] == up["acc"] and row["scores"]["acc_norm,none"] == up["acc_norm"]
    for key in ("acc,none", "acc_norm,none"):
        assert ours.metrics[key].value == out["results"]["mc"][key]
