"""Typed errors shared by every interface.

Services raise these; each interface (HTTP, CLI, SMTP, MCP) maps them to its own answer in exactly
one place. The `status` is the HTTP status the API assigns to the class of error, so the mapping
for HTTP is the identity and other interfaces can still tell a client error from a conflict.
"""

from __future__ import annotations

from typing import Any


class MultiMailError(Exception):
    """Base of every error a client can act on: a stable snake_case code, one sentence, details."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(MultiMailError):
    """400: malformed input (which field, why)."""

    status = 400
    code = "invalid_request"


class Unauthorized(MultiMailError):
    """401: no key, or a key the server does not know."""

    status = 401
    code = "unauthorized"


class Forbidden(MultiMailError):
    """403: the key is known but not allowed (role, mailbox scope, oversight)."""

    status = 403
    code = "forbidden"


class NotFound(MultiMailError):
    """404: unknown id; also the answer for ids outside the key's scope, so existence never leaks."""

    status = 404
    code = "not_found"


class Conflict(MultiMailError):
    """409: idempotency key reused with another body, or a state transition that is not allowed."""

    status = 409
    code = "conflict"


class PayloadTooLarge(MultiMailError):
    """413: the request or message is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(MultiMailError):
    """415: the body is not JSON."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(MultiMailError):
    """422: well-formed but semantically invalid (e.g. a mode looser than the mailbox floor)."""

    status = 422
    code = "unprocessable"


class Gone(MultiMailError):
    """410: the thing existed and was removed for good (a message's content purged under its
    mailbox's retention settings); the details say when."""

    status = 410
    code = "content_purged"


class StorageUnavailable(MultiMailError):
    """503: the blob store lost or altered bytes the database references, or did not answer (the
    operator's problem, not the client's: the one core error that is not a client error); the
    hash is named so the operator can restore it from a backup, and a retry may succeed once the
    store answers again."""

    status = 503
    code = "blob_unavailable"
