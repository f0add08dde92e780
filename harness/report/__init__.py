"""The report floor: a run's records rendered with Jinja2 (templates/ and each kind's own
section): `render` (report.md), `paper` (paper.md/json/html), `recipes` (adapter trainings)."""
