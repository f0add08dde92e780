"""The results floor: what a cell produced and where it is kept.

- `record`: CellResult, Metric, Verdict (what a cell produced);
- `stats`: intervals, paired tests, pass@k; `compare`: paired comparisons of two cells;
- `store`: a run folder (run.json, cells.jsonl, samples.jsonl); `runs`: reading runs back;
- `gencache`: the generation cache; `fingerprint`: identities of what decides an output;
- `progress`: a long cell's live line.
"""
