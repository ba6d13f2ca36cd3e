"""Verifying the webhooks a MultiMail server sends, for the receiver's side (stdlib only).

The server signs every delivery by the Standard Webhooks scheme (https://www.standardwebhooks.com):
headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(space-separated ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, several during a secret
rotation), keyed by the ``whsec_…`` secret ``create_webhook`` answered once. This module checks
them with ``hmac`` and ``base64`` so a receiver needs nothing beyond the SDK (httpx); any Standard
Webhooks library would accept the same deliveries.

Example:
    >>> from multimail_server.client import webhooks
    >>> event = webhooks.verify(request_body_bytes, request.headers, secret="whsec_...")
    >>> event["type"]
    'message.received'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from .errors import MultiMailError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds a delivery's timestamp may differ from this clock (replays, skew)


class WebhookVerificationError(MultiMailError):
    """The delivery is not signed with this secret, lacks a header, or is too old / too new.

    Answer such a request with a 4xx and do not act on its body."""

    def __init__(self, message: str):
        super().__init__(None, "invalid_webhook_signature", message)


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
        try:
            key = base64.b64decode(raw + "==")  # the secret may come unpadded
        except (binascii.Error, ValueError):
            raise ValueError("The webhook secret is not a whsec_ base64 secret.") from None
    if not key:
        raise ValueError("The webhook secret is empty.")
    return key


def sign(secret: str | bytes, msg_id: str, timestamp: int, payload: bytes | str) -> str:
    """The ``v1,<base64>`` signature of one delivery (what the server puts in ``webhook-signature``)."""
    body = payload.encode() if isinstance(payload, str) else payload
    mac = hmac.new(_key(secret), f"{msg_id}.{int(timestamp)}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str | bytes, *,
           tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> Any:
    """Check a delivery's Standard Webhooks signature and return its JSON body.

    Args:
        payload: The request body exactly as received (bytes, before any JSON parsing).
        headers: The request headers (any mapping; names are matched case-insensitively).
        secret: The webhook's ``whsec_…`` secret (during a rotation of yours, call once per secret).
        tolerance: Seconds the ``webhook-timestamp`` may be off this clock; older deliveries are
            refused so a captured one cannot be replayed later.
        now: The current Unix time (tests).

    Returns:
        The parsed JSON event (``{"id", "type", "created_at", "data"}``).

    Raises:
        WebhookVerificationError: Missing headers, a stale or future timestamp, or no signature
            that matches this secret.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("Missing webhook-id, webhook-timestamp or webhook-signature header.")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time in seconds.") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError(f"webhook-timestamp is more than {tolerance} s from this clock (a replay, or a skewed clock).")
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    expected = sign(secret, msg_id, sent_at, body).encode()
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            try:
                return json.loads(body)
            except ValueError:
                raise WebhookVerificationError("The signed body is not JSON.") from None
    raise WebhookVerificationError("No webhook-signature matches this secret.")
