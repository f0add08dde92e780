"""The kinds floor: what a task is, how its cells run and how they are shown.

- `registry`: the kinds by name and the rule that decides a task's kind (descriptors only);
- `base`: the Kind protocol with its defaults;
- `lmeval/`: what the generation, log-likelihood and code kinds share (lm-eval's `evaluate`
  with the harness engine);
- `<name>/`: one package per kind: its descriptor (`__init__.py`: schema fragment, settings,
  validation and report hooks), `runner.py`, and `report.md.j2` for its report section.
"""
