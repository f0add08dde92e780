"""The spec both scaling benchmarks run (xdist_scaling.py, executor_scaling.py): the embedded
model at fp32, nf4 and int8 on the single-digit additions, asked two ways: six cells, no
`vs:` bound linking the variants, so each can go its own way. Not a benchmark itself."""

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "specs" / "data" / "single_digit_addition.jsonl"
SPEC = """\
spec: 1
name: scaling
model: {{embedded: smollm2-135m-instruct}}
variants:
  fp32: {{precision: fp32}}
  nf4: {{precision: nf4, nf4: {{compute_dtype: fp32}}}}
  int8: {{precision: int8}}
generation: {{max_new_tokens: 4, batch_size: 16}}
templates:
  equation: "2 + 3 = 5\\n4 + 4 = 8\\n6 + 1 = 7\\n{{{{ a }}}} + {{{{ b }}}} ="
  question: "Question: What is 2 + 3?\\nAnswer: 5\\nQuestion: What is {{{{ a }}}} + {{{{ b }}}}?\\nAnswer:"
tasks:
  addition:
    data: {{test: {data}}}
    target: "{{{{ sum }}}}"
    stop: ["\\n"]
    templates: [equation, question]
    limit: {limit}
"""
