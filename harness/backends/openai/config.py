"""The OpenAI-compatible endpoint backend's own settings of a variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.backends.served import without_credentials
from harness.spec.sources import MODEL_SOURCES, parse_source
from harness.spec.types import ModelSource

SCHEMA = {
    "properties": {
        "base_url": {"type": "string", "pattern": "^https?://",
                     "description": "openai: the server's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"},
        "served_model": {"type": "string", "minLength": 1,
                         "description": "openai: the model name the server serves (its /v1/models id)"},
        "api": {"enum": ["completions", "chat"],
                "description": "openai: completions (default): the harness renders the prompt, chat template "
                               "included, and sends its text; chat: the harness sends the conversation's messages "
                               "and the server applies its own template (a hosted chat model; no log-likelihoods)"},
        "api_key_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                        "description": "openai: the NAME of the environment variable holding the key; the key is "
                                       "read when requests are sent and written nowhere"},
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 256,
                        "description": "openai: requests in flight at once (default 8)"},
        "timeout": {"type": "number", "exclusiveMinimum": 0,
                    "description": "openai: seconds one request may take (default 120)"},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": 20,
                        "description": "openai: retries on 429, 5xx, timeouts and malformed replies (default 4)"},
        "tokenizer": {"$ref": "#/$defs/model",
                      "description": "openai: the model source whose tokenizer (and config) renders and counts the "
                                     "prompts of this variant, as `model:` is written (`hf:` with `revision:`, "
                                     "`path:`, `gguf:` or `embedded:`); default: the spec's `model:`. Give it when "
                                     "the served model is not the spec's: its chat template, token counts and the "
                                     "log-likelihood's token boundaries are the served model's own"},
        "extra_body": {"type": "object",
                       "description": "openai: fields added to every request, for a server's own sampling settings; "
                                      "llama-cpp-python's server applies repeat_penalty 1.1 unless it gets "
                                      "`{repeat_penalty: 1.0}`, so its greedy outputs are not greedy without it"},
    },
}


@dataclass(frozen=True)
class OpenaiSettings:
    """Where the server is, which model it serves, how to ask it, and how hard to try."""

    base_url: str = ""
    served_model: str = ""
    api: str = "completions"
    api_key_env: str | None = None
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 4
    extra_body: tuple[tuple[str, Any], ...] = ()     # sorted (key, value) pairs: hashable, like every setting
    tokenizer: ModelSource | None = None             # None: the spec's model's

    @property
    def takes_messages(self) -> bool:
        """Whether conversations go to the server as messages (the chat API)."""
        return self.api == "chat"

    @property
    def extra(self) -> dict[str, Any]:
        """`extra_body` as the request's dict."""
        return dict(self.extra_body)

    def recorded(self) -> dict[str, Any]:
        """What decides outputs: the server (without credentials), the model and the API; the
        key's variable name, concurrency, timeouts and retries change no output."""
        out: dict[str, Any] = {"base_url": without_credentials(self.base_url), "served_model": self.served_model, "api": self.api}
        if self.extra_body:
            out["extra_body"] = self.extra
        if self.tokenizer is not None:      # it renders the prompts the server is sent
            out["tokenizer"] = self.tokenizer.label
        return out


def parse(checker, raw: dict, path: tuple) -> OpenaiSettings:
    """A variant's endpoint settings; what is missing or contradictory goes to `checker.error`."""
    for key in ("base_url", "served_model"):
        if key not in raw:
            checker.error(path, f"backend openai needs `{key}:`",
                          "for example `base_url: http://127.0.0.1:8000/v1` and `served_model: <its /v1/models id>`")
    for key in ("precision", "adapter", "attn", "use_cache", "device"):
        if key in raw:
            checker.error(path + (key,), f"`{key}:` is decided by the server, not by the harness, on backend openai",
                          f"remove {key} (start the server with what you want to measure)")
    keys = OpenaiSettings.__dataclass_fields__
    given = {k: raw[k] for k in keys if k in raw}
    if "extra_body" in given:
        given["extra_body"] = tuple(sorted(given["extra_body"].items()))
    if "tokenizer" in given:
        given["tokenizer"] = _tokenizer(checker, given["tokenizer"], path + ("tokenizer",))
    return OpenaiSettings(**given)


def _tokenizer(checker, raw: dict, path: tuple) -> ModelSource | None:
    """The `tokenizer:` source, parsed as a spec's `model:` is (one parser: spec/sources.py)."""
    given = [k for k in MODEL_SOURCES if k in raw]
    if len(given) != 1:
        checker.error(path, f"give exactly one of {', '.join(MODEL_SOURCES)}; found {given or 'none'}",
                      "for example `tokenizer: {hf: Qwen/Qwen2.5-0.5B-Instruct, revision: <commit>}`")
        return None
    if "chat" in raw:
        checker.error(path + ("chat",), "whether prompts go through the chat template is the spec's `model: {chat:}`, "
                      "for every variant", "remove `chat:` here (the tokenizer's own template is the one applied)")
    return parse_source(checker, raw, path, given[0], what="tokenizer",
                        trust_remote_code=raw.get("trust_remote_code", False))
