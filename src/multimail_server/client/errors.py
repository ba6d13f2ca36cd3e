"""Typed errors of the MultiMail client, one class per HTTP status class of the API.

Every non-2xx answer of the API has the body
`{"error": {"code": "<snake_case_code>", "message": "<one sentence>", "details": {...}}}`; the client
raises the subclass of :class:`MultiMailError` that matches the status, carrying those fields, so
callers can write ``except multimail_server.client.NotFound`` and still read ``err.code`` for the detail.

Transport failures (connection refused, timeouts, a connection dropped mid-answer) raise
:class:`ConnectionError`, which has no HTTP status.

This module imports nothing but the standard library.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MultiMailError",
    "BadRequest",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnprocessableEntity",
    "RateLimited",
    "ServerError",
    "ConnectionError",
    "APIConnectionError",
    "error_for_status",
]


class MultiMailError(Exception):
    """Base of every error the client raises.

    Attributes:
        status: The HTTP status of the answer, or ``None`` when no answer came (transport failure).
        code: The API's stable snake_case error code, e.g. ``"message_not_found"``.
        message: One human sentence from the server (or the client, for transport failures).
        details: Structured details from the server, e.g. ``{"field": "to"}``; may be empty.

    Example:
        >>> try:
        ...     client.read_email("msg_unknown")
        ... except MultiMailError as err:
        ...     print(err.status, err.code)
        404 message_not_found
    """

    def __init__(self, status: int | None, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class BadRequest(MultiMailError):
    """400: malformed input; ``details["field"]`` names the field."""


class AuthenticationError(MultiMailError):
    """401: no API key, or a key the server does not know (or revoked)."""


class PermissionDenied(MultiMailError):
    """403: the key is known but not allowed (role, mailbox scope, oversight such as ``oversight_read_only``)."""


class NotFound(MultiMailError):
    """404: unknown id (also for ids outside the key's scope: existence never leaks)."""


class Conflict(MultiMailError):
    """409: idempotency key reused with another body, or a state transition not allowed."""


class PayloadTooLarge(MultiMailError):
    """413: the request or the message is too large."""


class UnprocessableEntity(MultiMailError):
    """422: well-formed but semantically invalid."""


class RateLimited(MultiMailError):
    """429: too many requests.

    Attributes:
        retry_after: Seconds the server asked to wait (its ``Retry-After`` header), or ``None``.
    """

    def __init__(self, status: int | None, code: str, message: str, details: dict[str, Any] | None = None,
                 retry_after: float | None = None):
        super().__init__(status, code, message, details)
        self.retry_after = retry_after


class ServerError(MultiMailError):
    """5xx: the server failed (the API reference: a 5xx is a bug, never a validation answer) or is unavailable."""


class ConnectionError(MultiMailError):  # noqa: A001 - deliberately the SDK's own name; see APIConnectionError
    """No answer: connection refused or dropped, DNS failure, or timeout. ``status`` is ``None``.

    ``code`` is ``"timeout"`` for timeouts and ``"connection_error"`` otherwise. The underlying
    httpx exception is the ``__cause__``.
    """


#: The same class under a name that does not shadow the builtin ``ConnectionError``.
APIConnectionError = ConnectionError

_BY_STATUS: dict[int, type[MultiMailError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: UnprocessableEntity,
    429: RateLimited,
}


def error_for_status(status: int, body: Any, *, retry_after: float | None = None, text: str = "") -> MultiMailError:
    """Build the typed error for an HTTP answer.

    Args:
        status: The HTTP status (>= 400).
        body: The decoded JSON body, if any; the API reference's ``{"error": {...}}`` shape is read when present.
        retry_after: Seconds from a ``Retry-After`` header (kept on :class:`RateLimited`).
        text: The raw body text, used for the message when the body is not the API reference's shape
            (e.g. an HTML page from a proxy).

    Returns:
        An instance of the matching :class:`MultiMailError` subclass (not raised).
    """
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code = str(err.get("code") or f"http_{status}")
        message = str(err.get("message") or f"HTTP {status}")
        details = err.get("details") if isinstance(err.get("details"), dict) else {}
    else:
        code, message, details = f"http_{status}", (text.strip()[:200] or f"HTTP {status}"), {}
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else MultiMailError)
    if cls is RateLimited:
        return RateLimited(status, code, message, details, retry_after=retry_after)
    return cls(status, code, message, details)
