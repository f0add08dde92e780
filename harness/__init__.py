"""pytest-llama's library: YAML spec -> cells -> results -> report, with no pytest inside."""

__version__ = "0.1.0"
