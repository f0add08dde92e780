# make smoke: set up (first time) and run the main job, the GSM8K cells, on the embedded model
# make test:  set up (first time), run the project's tests, then gate the smoke spec on its
#             committed baseline (what CI runs)
VENV ?= .venv
DATA ?= $(or $(LLAMA_DATA_DIR),$(abspath ../shared/data))

.PHONY: setup smoke test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)

smoke: setup
	$(VENV)/bin/pytest specs/ -k gsm8k

test: setup
	LLAMA_DATA_DIR=$(DATA) $(VENV)/bin/pytest tests/ -p no:cacheprovider
	$(VENV)/bin/pytest specs/smoke.yaml -p no:cacheprovider --llama-baseline results/baselines/smoke.json
