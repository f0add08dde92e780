"""report.html: a run on one self-contained page (no request leaves it: styles, script, data
and figures are inline) beside report.md.

It holds the gates that need a look, the score pivots with intervals, a sample browser (each
item's outputs side by side per variant, with filters for failed items, items where the
variants disagree and one template; a click shows the rendered prompt and each choice's
log-likelihood), the run's figures (latency/memory trade-offs, training curves) and the paper
table when there is one. `llama-harness view RUN` opens it.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from pathlib import Path

from harness.kinds.registry import shows_percent

PAGE = "report.html"
FIGURES = ("tradeoffs-*.png", "training-*.png")


def _browser(cells: list[dict], samples: dict[str, list[dict]]) -> dict:
    """Per task and template: the items with every variant's output, and each prompt once."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        if c["status"] == "ok" and shows_percent(c.get("kind")) and samples.get(c["key"]):
            groups[(c["task"], c["template"])].append(c)
    prompts: list[str] = []
    prompt_ids: dict[str, int] = {}
    out = []
    for (task, template), group in groups.items():
        variants = list(dict.fromkeys(c["variant"] for c in group))
        items: dict[tuple, dict] = {}
        for c in group:
            for s in samples[c["key"]]:
                key = (s.get("subtask") or "", int(s["doc_id"]), int(s.get("repeat") or 0))
                prompt = s.get("prompt") or ""
                if prompt not in prompt_ids:
                    prompt_ids[prompt] = len(prompts)
                    prompts.append(prompt)
                item = items.setdefault(key, {"id": f"{key[0]}#{key[1]}" + (f"@{key[2]}" if key[2] else ""),
                                              "target": s.get("target"), "prompt": prompt_ids[prompt], "outputs": {}})
                item["outputs"][c["variant"]] = {
                    "output": s.get("output"), "extracted": s.get("extracted_answer"), "correct": bool(s.get("correct")),
                    **({"choices": s["choices"]} if s.get("choices") else {})}
        out.append({"task": task, "template": template, "variants": variants,
                    "items": [items[k] for k in sorted(items)]})
    return {"groups": out, "prompts": prompts}


def _figures(run_dir: Path) -> list[dict]:
    out = []
    for pattern in FIGURES:
        for png in sorted(Path(run_dir).glob(pattern)):
            out.append({"name": png.stem, "data": base64.b64encode(png.read_bytes()).decode("ascii")})
    return out


def _paper(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "paper.json"
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("comparisons", [])


def write_page(run_dir: Path, env, context: dict, samples: dict[str, list[dict]]) -> Path:
    """report.html in the run folder, from the report's own context (gates, pivots, summary)."""
    data = _browser(context["cells"], samples)
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")   # safe inside <script>
    html = env.get_template("report.html.j2").render(data_json=blob, figures=_figures(run_dir),
                                                     paper_rows=_paper(run_dir), **context)
    out = Path(run_dir) / PAGE
    out.write_text(html, encoding="utf-8")
    return out
