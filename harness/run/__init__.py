"""The run floor: cells run in a session, judged against their bounds and a baseline.

- `session`: one benchmark session (models, tasks, cache, results) running cells;
- `skips`: why a cell cannot run on this machine; `expect`: verdicts on bounds;
- `baseline`: saving a run as a baseline and gating cells on one; `logs`: quiet libraries.
"""
