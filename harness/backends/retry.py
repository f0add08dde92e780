"""Retrying a request to an OpenAI-compatible server: which failures are worth another try,
how long to wait (the server's Retry-After, else exponential backoff with jitter). The judges'
client and the endpoint backend both send through these."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any, Callable, TypeVar

BACKOFF_BASE, BACKOFF_CAP, RETRY_AFTER_CAP = 0.5, 60.0, 120.0

T = TypeVar("T")


def retry_after(exc: Any) -> float | None:
    """Seconds a 429 or 503 asks to wait: Retry-After (seconds or an HTTP date) or retry-after-ms."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def backoff(attempt: int, asked: float | None) -> float:
    """Seconds before the next attempt: what the server asked (capped), else exponential with jitter."""
    if asked is not None:
        return min(asked, RETRY_AFTER_CAP)
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * random.uniform(0.5, 1.0)


class GaveUp(RuntimeError):
    """A request failed after its retries; the message says how, each time."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} attempt(s) failed: " + "; ".join(errors[-3:]))
        self.attempts, self.last = len(errors), errors[-1] if errors else "unknown error"


class Withheld(RuntimeError):
    """`before` refused an attempt (a judge's budget is spent): nothing more was sent."""


def with_retries(send: Callable[[], T], retries: int, timeout_s: float,
                 sleep: Callable[[float], None] = time.sleep,
                 before: Callable[[int], bool] | None = None) -> tuple[T, int]:
    """`send()`'s answer and the attempts it took, retrying 429, 5xx, timeouts, dropped
    connections and malformed replies (any other exception `send` raises on a bad body);
    a request the server refuses (4xx) is not retried. `before(attempt)` is asked before each
    attempt (a budget, a count of what was sent); False stops with `Withheld`."""
    from openai import APIConnectionError, APIError, APIStatusError, APITimeoutError

    errors: list[str] = []
    for attempt in range(retries + 1):
        asked = None
        if before is not None and not before(attempt):
            raise Withheld(f"not sent: {len(errors)} attempt(s) made")
        try:
            return send(), attempt + 1
        except APIStatusError as exc:
            errors.append(f"HTTP {exc.status_code}: {str(exc)[:160]}")
            if exc.status_code != 429 and exc.status_code < 500:
                break
            asked = retry_after(exc)
        except APITimeoutError:
            errors.append(f"timed out after {timeout_s:g} s")
        except APIConnectionError as exc:
            errors.append(f"connection failed: {exc}")
        except (APIError, KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:   # a reply the client could not read
            errors.append(f"malformed reply: {type(exc).__name__}: {str(exc)[:160]}")
        if attempt < retries:
            sleep(backoff(attempt, asked))
    raise GaveUp(errors)
