"""Rules of webhook delivery that need no I/O: when to retry, how long a rotated secret still
signs, and what of a receiver URL may be written into the audit trail and events."""

from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import urlsplit

MAX_RETRY_AFTER_SECONDS = 24 * 3600
# After rotate_webhook_secret, deliveries are signed with both secrets for this long, so a
# receiver can roll out the new one without dropping events.
ROTATION_GRACE = timedelta(hours=24)


def retryable_status(status_code: int | None, *, refused: bool) -> bool:
    """Timeouts, connection errors (no status), 408, 429 and 5xx are worth another try; other
    answers, and a receiver address the guard refused, are final."""
    if refused:
        return False
    return status_code is None or status_code in (408, 429) or status_code >= 500


def next_delay(schedule: list[float], attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
    """Seconds until the next attempt after failed attempt number `attempt`, or None when done:
    the schedule's step with ±20 % jitter, and at least what `Retry-After` asked (capped at a day)."""
    if attempt > len(schedule):
        return None
    delay = schedule[attempt - 1] * rng.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def redact_url(url: str) -> str:
    """A receiver URL for the audit trail and events: no credentials, query or fragment, which
    often carry a receiver's token (the full URL is only shown to admins, by list_webhooks)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
