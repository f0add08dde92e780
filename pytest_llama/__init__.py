"""pytest plugin that collects pytest-llama YAML specs as tests (registered via `pytest11`)."""
