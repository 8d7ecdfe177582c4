"""The retry policy shared by the synchronous ``ApiClient`` and the background delivery worker.

Only failures that a second attempt can fix are retried: the server was unreachable or slow, it
asked us to slow down (429), or a gateway in front of it failed (502/503/504). Waits grow
exponentially with full jitter and honour the server's ``Retry-After``.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUS", "backoff_delay", "parse_retry_after"]

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})

# Never wait longer than this between two attempts, whatever Retry-After says: a client that
# sleeps for an hour on a misconfigured proxy's header is worse than one that drops an event.
MAX_DELAY = 30.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, MAX_DELAY))


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = 0.25,
    cap: float = 8.0,
) -> float:
    """How long to wait before retry number ``attempt`` (1 for the first retry).

    Exponential backoff with full jitter, never below the server's ``Retry-After``.
    """
    exp = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = random.uniform(exp / 2, exp)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY)
