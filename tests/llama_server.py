"""Real OpenAI-compatible servers on a free loopback port, for the tests and benchmarks that
need one: llama-cpp-python's on a GGUF file, and vLLM's (its CPU build, in .venv-vllm) on a
model folder; ready when /v1/models answers, stopped by their own pid.
benchmarks/backends_speed.py imports it too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


class ServerFailed(RuntimeError):
    """The server exited or did not answer in time; the message holds its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(argv: list[str], port: int, log: Path, env: dict, timeout_s: float):
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerFailed(f"{argv[2]} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def llama_server(gguf: Path, log: Path, threads: int = 1, alias: str = "smollm2", n_ctx: int = 2048,
                 timeout_s: float = 60.0):
    """`with llama_server(file, log) as url:` the server's API root (http://127.0.0.1:<port>/v1).
    Started with `--interrupt_requests false` (else a second request cuts a streaming one) and
    `--logits_all true` (what its echo needs)."""
    port = free_port()
    with _serve([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                 "--port", str(port), "--model_alias", alias, "--n_ctx", str(n_ctx), "--n_threads", str(threads),
                 "--n_threads_batch", str(threads),
                 "--logits_all", "true", "--interrupt_requests", "false"],
                port, log, {"OMP_NUM_THREADS": str(threads)}, timeout_s) as url:
        yield url


@contextmanager
def vllm_server(folder: Path, log: Path, alias: str = "smollm2", timeout_s: float = 600.0):
    """`with vllm_server(model_folder, log) as url:` vLLM's OpenAI-compatible server (this
    interpreter's vLLM) in fp32 with a 2 GiB KV cache; its start-up compiles the model (minutes
    on a CPU, cached by vLLM afterwards)."""
    port = free_port()
    with _serve([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
                 "--served-model-name", alias, "--dtype", "float32", "--max-model-len", "2048",
                 "--host", "127.0.0.1", "--port", str(port), "--seed", "0"],
                port, log, {"VLLM_CPU_KVCACHE_SPACE": "2"}, timeout_s) as url:
        yield url
