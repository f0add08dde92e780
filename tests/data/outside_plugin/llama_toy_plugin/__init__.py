"""A toy outside package for pytest-llama (tests/test_outside_plugin.py)."""
