"""Rules for refusing work a client may retry later (429), shared by the API and the services.

Pure: what the refusal says, and how long a client should wait, computed from numbers the
caller measured. No clocks, no storage.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import MultiMailError


class TooManyRequests(MultiMailError):
    """429: a limit was reached; `retry_after` (whole seconds, at least 1) says when to try again.
    The HTTP adapter sends it as the `Retry-After` header too."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, code: str | None = None,
                 details: dict[str, Any] | None = None):
        self.retry_after = retry_after_seconds(retry_after)
        super().__init__(message, code=code, details={**(details or {}), "retry_after": self.retry_after})


def retry_after_seconds(seconds: float) -> int:
    """Whole seconds for a Retry-After header: rounded up (retrying early would be refused
    again), and at least 1."""
    return max(1, math.ceil(seconds))


def rate_limited(limit: str, seconds: float) -> TooManyRequests:
    """The refusal for a rate limit such as "600 per 1 minute" that resets in `seconds`."""
    return TooManyRequests(f"Too many requests: the limit is {limit}; retry later.", retry_after=seconds,
                           details={"limit": limit})


def too_many_waits(scope: str, maximum: int, seconds: float) -> TooManyRequests:
    """The refusal for a long-poll beyond the open ones allowed per key or per server."""
    return TooManyRequests(f"Too many open long-polls {scope} (at most {maximum}); retry later or wait less.",
                           retry_after=seconds, code="too_many_waits", details={"limit": maximum, "scope": scope})
