"""The endpoint backend: a model behind any OpenAI-compatible server (vLLM's `vllm serve`,
llama.cpp's server, SGLang, TGI, a hosted API), reached over HTTP with the `openai` client.

The harness renders and tokenizes prompts as for every backend (the spec's `model:` names the
tokenizer: the served model's own, for parity); the engine sends their text to the completions
API, several requests in flight, with retries and backoff (Retry-After honoured). Log-likelihoods
come from the completions API with `echo` and `logprobs` (vLLM's server and llama.cpp's with
`logits_all` give them); a server that gives none fails the cell with that reason. Latency cells
stream, and time each token as it arrives. The record names the server as it answers: its
/v1/models id and what it says of it, its version where it reports one, and the base URL
without credentials; the generation cache is keyed by these, so another served model never
answers from the cache. The key is read from `api_key_env` when requests are sent and is
written nowhere.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from harness.backends.openai import config
from harness.spec.runtime import runtime

ENGINE_MODULES = ("harness.backends.base", "harness.backends.pool", "harness.backends.openai.load",
                  "harness.backends.openai.engine")


class Openai:
    """An OpenAI-compatible server; see the module's docstring."""

    name = "openai"
    description = "a model behind any OpenAI-compatible server (vllm serve, llama.cpp's server, a hosted API)"
    packages: tuple[str, ...] = ()     # what answers is the server, named in the fingerprint (load.py)
    reads_gguf = True                  # the weights stay on the server: nothing is dequantized here
    engine_modules: tuple[str, ...] = ENGINE_MODULES
    SCHEMA: dict[str, Any] = config.SCHEMA
    settings: type = config.OpenaiSettings

    def parse(self, checker, raw: dict, path: tuple) -> config.OpenaiSettings:
        """The variant's endpoint settings (config.py)."""
        return config.parse(checker, raw, path)

    def context_limit(self, settings) -> int | None:
        """None: the server refuses what does not fit, and says so."""
        return None

    def identity(self, weights, variant) -> tuple[str, str]:
        """The served model as the server names it (asked once per run, load.py): a server
        that now serves other weights gets another id, so nothing cached answers for it."""
        return runtime("harness.backends.openai.load").identity(weights, variant)

    def unavailable(self, variant) -> str | None:
        """Why the endpoint cannot be reached from here (the openai client missing), or None."""
        if importlib.util.find_spec("openai") is None:
            return "backend openai: the openai client is not installed: pip install openai"
        return None

    def unsupported(self, variant) -> str | None:
        """None: what the server cannot do is known only when it answers."""
        return None

    def refuses(self, variant, calls) -> str | None:
        """The chat API has no log-likelihoods: chat completions give logprobs of generated
        tokens only, never of a given continuation."""
        settings = variant.backend_settings
        if "score" in calls and settings is not None and settings.api == "chat":
            return ("backend openai with api: chat: log-likelihood tasks need the completions API with echo "
                    "and logprobs, which chat completions do not offer; use `api: completions` "
                    "(vLLM's server has it)")
        return None

    def preflight(self, variant) -> str | None:
        """The server asked what it serves (load.py, once per run): nothing answering, or not
        serving the model, stops the run within seconds, before any cell runs."""
        load = runtime("harness.backends.openai.load")
        try:
            load.ask_server(variant.backend_settings)
        except load.EndpointDown as exc:
            return str(exc)
        return None

    def load(self, source, variant):
        """The server asked what it serves (load.py): an error within seconds when nothing answers."""
        return runtime("harness.backends.openai.load").load(source, variant)

    def engine(self, loaded):
        """A fresh engine over the endpoint, one per cell (engine.py)."""
        return runtime("harness.backends.openai.engine").OpenaiEngine(loaded)

    def release(self, loaded) -> None:
        """Nothing held but HTTP connections."""
        loaded.model.close()
