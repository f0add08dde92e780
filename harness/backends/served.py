"""What an OpenAI-compatible server says it serves, asked the same way by the endpoint backend
(backends/openai/) and the judges (judges/client.py): the model's /v1/models entry, the
server's version where it reports one (vLLM's /version), and a fingerprint of the two. The
fingerprint keys cached generations and verdicts, so another model behind the same name and
URL (another `root`, owner or server version) never answers from the cache.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

PROBE_TIMEOUT_S = 5.0     # a server that does not answer /v1/models this fast is reported down
UNSTABLE = ("created", "permission")   # fields a server may change between restarts of the same model


class ServerDown(RuntimeError):
    """Nothing answers at the base URL, or it refused the listing; the message says what to check."""


def without_credentials(url: str) -> str:
    """The URL as records and cache keys keep it: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _get(url: str, key: str | None, timeout: float) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data: dict = json.loads(response.read().decode("utf-8"))
        return data


def describe(base_url: str, model: str, key: str | None, timeout: float = PROBE_TIMEOUT_S) -> dict:
    """{"base_url", "model": the model's /models entry (None when the server does not list it),
    "listed": the ids it lists, "version", "fingerprint"}. ServerDown when nothing answers."""
    url = without_credentials(base_url)
    try:
        listing = _get(base_url.rstrip("/") + "/models", key, timeout)
    except urllib.error.HTTPError as exc:
        raise ServerDown(f"the server at {url} answered /models with HTTP {exc.code}: is the URL the API "
                         "root (it usually ends in /v1), and the key right?") from None
    except (OSError, ValueError) as exc:
        raise ServerDown(f"no OpenAI-compatible server answers at {url} ({type(exc).__name__}: {exc})") from None
    models = {m.get("id"): m for m in listing.get("data") or [] if isinstance(m, dict)}
    version = None
    try:
        version = _get(base_url.rstrip("/").removesuffix("/v1") + "/version", key, timeout).get("version")
    except (OSError, ValueError, AttributeError):
        version = None
    entry = ({k: v for k, v in models[model].items() if k not in UNSTABLE} if model in models else None)
    out = {"base_url": url, "model": entry, "listed": sorted(map(str, models)), "version": version}
    out["fingerprint"] = fingerprint(out)
    return out


def fingerprint(described: dict) -> str:
    """A short digest of what the server says of the model (its entry, or the whole listing
    when it does not list the model by that name) and its version."""
    what = {k: described.get(k) for k in ("model", "version")}
    if described.get("model") is None:
        what["listed"] = described.get("listed")
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]
