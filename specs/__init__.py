"""The shipped specs, installed with the package as `harness.specs` (pyproject.toml maps this
folder there), so `llama-harness init --from NAME` can write one into a team's repository."""
