"""Identifiers and API key material.

Public ids carry a type prefix (`msg_`, `thr_`, `mbx_`, ...) so a wrong id is caught by eye and by
code. API keys are `mm_live_<random>`; only their SHA-256 is stored: they are 256-bit random
strings, so a fast hash is enough (no password stretching needed) and lookup stays O(1).
"""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 20) -> str:
    # One draw of random bits written in base 36, rather than a `secrets.choice` per character
    # (twenty calls into the OS's random source for every id, several ids per stored message).
    # 36**length < 2**(5.2 * length); drawing 8 * length bits keeps the modulo's bias negligible.
    n = int.from_bytes(secrets.token_bytes(length), "big")
    chars = []
    for _ in range(length):
        n, r = divmod(n, 36)
        chars.append(_ALPHABET[r])
    return f"{prefix}_" + "".join(chars)


API_KEY_PREFIX = "mm_live_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1]
