"""Rate limits shared by the HTTP API and the SMTP server, on the maintained `limits` library.

Why: the API contract promises 429 with Retry-After, unauthenticated endpoints (verify_message,
one-click decision links) and API-key / SMTP AUTH checks are brute-force and load targets, and
one noisy agent key must not starve the rest. Every budget is a setting (config.py, "Rate limits
and long-polls"), counted in a moving window in `rate_limit_storage`: memory by default (per
process), or a `limits` storage URI such as redis://127.0.0.1:6379 so several server processes
share one budget. `rate_limit_enabled=false` turns every limit off.

If the shared storage is unreachable, requests are let through (for a few seconds without asking
it again) and the failure is logged: a Redis outage must not take the mail server down with it
(the limits are a shield, not the gate that keeps data safe; authentication and scopes are).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..core.limits import TooManyRequests, rate_limited

log = logging.getLogger("multimail.ratelimit")

# After the storage failed, requests skip it this long instead of each waiting for its timeout.
STORAGE_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Budget:
    """One named limit: `name` namespaces its counters, `item` is the parsed "N per period"."""

    name: str
    item: RateLimitItem

    @property
    def text(self) -> str:
        return str(self.item)


class RateLimits:
    """The budgets of one server component over one `limits` storage."""

    def __init__(self, settings: Any):
        self.enabled = bool(settings.rate_limit_enabled)
        self.storage_uri = settings.rate_limit_storage
        self._limiter = MovingWindowRateLimiter(storage_from_string(self.storage_uri)) if self.enabled else None
        self.per_key = _budget("api-key", settings.rate_limit_per_key)
        self.per_ip = _budget("api-ip", settings.rate_limit_per_ip)
        self.auth_failures = _budget("api-auth-fail", settings.rate_limit_auth_failures)
        self.verify = _budget("verify", settings.rate_limit_verify)
        self.links = _budget("links", settings.rate_limit_links)
        self.smtp_connections = _budget("smtp-conn", settings.rate_limit_smtp_connections)
        self.smtp_auth_failures = _budget("smtp-auth-fail", settings.rate_limit_smtp_auth_failures)
        self.smtp_messages_per_ip = _budget("smtp-msg-ip", settings.rate_limit_smtp_messages_per_ip)
        self.smtp_messages_per_sender = _budget("smtp-msg-from", settings.rate_limit_smtp_messages_per_sender)
        self.smtp_concurrent = int(settings.rate_limit_smtp_concurrent)
        self._open: dict[str, int] = {}
        self._open_lock = threading.Lock()
        self._storage_down_until = 0.0

    # -- rate budgets -------------------------------------------------------------------------
    def hit(self, budget: Budget, who: str) -> None:
        """Spend one unit of `who`'s budget, or raise 429 `rate_limited` (spending nothing)."""
        if self._limiter is None or time.monotonic() < self._storage_down_until:
            return
        try:
            allowed = self._limiter.hit(budget.item, budget.name, who)
        except Exception as exc:
            self._unavailable(exc)
            return
        if not allowed:
            raise rate_limited(budget.text, self._reset_in(budget, who))

    def check(self, budget: Budget, who: str) -> None:
        """Raise 429 if `who`'s budget is spent, without spending any (used before an attempt
        whose failure alone is counted, such as authentication)."""
        if self._limiter is None or time.monotonic() < self._storage_down_until:
            return
        try:
            allowed = self._limiter.test(budget.item, budget.name, who)
        except Exception as exc:
            self._unavailable(exc)
            return
        if not allowed:
            raise rate_limited(budget.text, self._reset_in(budget, who))

    def _unavailable(self, exc: Exception) -> None:
        """Fail open, and say so (one line per failure: an outage is visible, not a traceback
        flood); skip the storage for a few seconds so requests do not each wait for its timeout."""
        self._storage_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
        log.warning("rate limit storage %s unavailable (%s: %s); letting the request through",
                    self.storage_uri, type(exc).__name__, exc)

    def _reset_in(self, budget: Budget, who: str) -> float:
        if self._limiter is None:
            return 0.0
        try:
            stats = self._limiter.get_window_stats(budget.item, budget.name, who)
            return stats.reset_time - time.time()
        except Exception:
            return float(budget.item.get_expiry())

    # -- connections open at once (SMTP) ------------------------------------------------------
    def open_connection(self, ip: str) -> bool:
        """Count one open connection of `ip`; False (counting nothing) when it has too many."""
        if not self.enabled:
            return True
        with self._open_lock:
            if self._open.get(ip, 0) >= self.smtp_concurrent:
                return False
            self._open[ip] = self._open.get(ip, 0) + 1
            return True

    def close_connection(self, ip: str) -> None:
        if not self.enabled:
            return
        with self._open_lock:
            left = self._open.get(ip, 0) - 1
            if left > 0:
                self._open[ip] = left
            else:
                self._open.pop(ip, None)


def _budget(name: str, text: str) -> Budget:
    """A Budget from a setting such as "600/minute" (`limits.parse`; a bad value fails at start)."""
    return Budget(name, parse(text))


__all__ = ["Budget", "RateLimits", "TooManyRequests"]
