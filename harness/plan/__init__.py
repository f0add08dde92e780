"""The plan floor: a spec file read, checked and expanded into cells before anything runs.

- `validate`: `load_spec` (path in, Spec out, every error with file:line) and `read_spec`;
- `schema`: the merged spec schema and its errors; `checker`, `task_checks`,
  `recipe_checks`: cross-key checks; `checks`: checks against the data and lm-eval's index;
- `bounds`, `power`: whether each bound can fail, and what it can detect;
- `matrix`: a spec expanded into cells.
"""
