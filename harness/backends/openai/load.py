"""Reaching an OpenAI-compatible server for a variant: what it serves, what it says of it, and
the HTTP client the engine sends through."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from functools import lru_cache

from harness.backends.base import LoadedModel
from harness.backends.openai.config import OpenaiSettings
from harness.backends.served import PROBE_TIMEOUT_S, ServerDown, describe
from harness.backends.weights import load_tokenizer, weights_location


class EndpointDown(RuntimeError):
    """Nothing answers at the variant's base URL, or the server does not serve its model."""


class Endpoint:
    """The server of one variant: its settings, what it said of itself, and an `openai` client
    made when requests are sent (the key read then, from `api_key_env`)."""

    def __init__(self, settings: OpenaiSettings, served: dict):
        self.settings, self.served = settings, served
        self.url = settings.base_url.rstrip("/")
        self._client = None

    def key(self) -> str:
        """The API key, read now from the variable the variant names ("none" when it names none:
        local servers take any)."""
        name = self.settings.api_key_env
        if not name:
            return "none"
        key = os.environ.get(name)
        if not key:
            raise EndpointDown(f"the variant's key is not set: export {name}")
        return key

    def client(self):
        """An openai client with no retries of its own (the engine retries, honouring Retry-After)."""
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.url, api_key=self.key(), max_retries=0,
                                  timeout=self.settings.timeout)
        return self._client

    def stream(self, path: str, body: dict):
        """A streamed POST read line by line (the standard library's HTTP client), for timed
        streams: the openai client builds a typed object per streamed chunk, and on a machine
        whose cores the server also uses that costs the server time (measured: ITL p50 20.3 ms
        through it against 12.5 ms from vLLM's benchmark on the same server); this parses each
        event's JSON only, as vLLM's serving benchmark does."""
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {self.key()}",
                                                  "Content-Type": "application/json"})
        return urllib.request.urlopen(request, timeout=self.settings.timeout)

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


@lru_cache(maxsize=32)
def ask_server(settings: OpenaiSettings) -> dict:
    """What the server says it serves (backends/served.py). Asked once per process and variant;
    an error within seconds when nothing answers or the model is not served, listing the ones that are."""
    key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    try:
        served = describe(settings.base_url, settings.served_model, key, PROBE_TIMEOUT_S)
    except ServerDown as exc:
        raise EndpointDown(f"{exc}; start it, or fix base_url in the spec") from None
    if served["model"] is None:
        raise EndpointDown(f"the server at {served['base_url']} does not serve {settings.served_model!r}; it serves: "
                           f"{', '.join(served['listed']) or 'nothing'}")
    return {"base_url": served["base_url"], "model": served["model"], "version": served["version"]}


def identity(weights, variant) -> tuple[str, str]:
    """(id, origin) of the served model: the id digests what the server says of it, so another
    model behind the same name and URL (another `root`, version or owner) is another id."""
    import hashlib

    settings: OpenaiSettings = variant.backend_settings
    served = ask_server(settings)
    blob = json.dumps(served, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    entry = served["model"]
    said = ", ".join(f"{k} {entry[k]}" for k in ("root", "owned_by", "max_model_len") if entry.get(k) is not None)
    origin = (f"served by {served['base_url']} as {settings.served_model!r}"
              + (f" ({said})" if said else "") + (f", server version {served['version']}" if served["version"] else "")
              + f"; prompts tokenized with {weights.origin.split(' (')[0]}'s tokenizer")
    return f"served:{settings.served_model}@{served['base_url']}#{digest}", origin


def load(source, variant) -> LoadedModel:
    """The endpoint of the variant, asked what it serves (nothing is loaded here)."""
    started = time.perf_counter()
    settings: OpenaiSettings = variant.backend_settings
    weights = weights_location(source, dequantize=False)
    weights_id, origin = identity(weights, variant)
    served = ask_server(settings)
    endpoint = Endpoint(settings, served)
    context = served["model"].get("max_model_len")     # vLLM says; llama.cpp's server does not
    if not context:
        from transformers import AutoConfig

        from harness.backends.base import context_length

        context = context_length(AutoConfig.from_pretrained(weights.location, **weights.kwargs))
    return LoadedModel(model=endpoint, tokenizer=load_tokenizer(source, dequantize=False), source=source,
                       variant=variant, weights_id=weights_id, device="server",
                       load_seconds=time.perf_counter() - started, footprint_bytes=0, origin=origin,
                       context=int(context) if context else None)
