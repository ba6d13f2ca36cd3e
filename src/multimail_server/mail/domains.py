"""Domain names as the sender checks compare them, and the RFC5322.From domain a message claims.

Two spellings of one name must compare equal (`BÜCHER.test.` and `xn--bcher-kva.test`), or an
internationalised From domain would never align with the DKIM d= that signs it.
"""

from __future__ import annotations

from email.utils import getaddresses

import idna


def normalize_domain(name: str) -> str:
    """The one form domains are compared in: IDNA A-labels after UTS #46 mapping (so `BÜCHER.test.`
    and `xn--bcher-kva.test` are the same name), lower case, no trailing dot. A name IDNA refuses
    (an underscore label, an address literal) is only lower-cased: it then matches only itself."""
    text = str(name).strip().rstrip(".")
    if text.isascii():  # what UTS #46 does to ASCII is lower-casing (idna.encode is slow: not for every name)
        return text.lower()
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return text.lower()


def domain_of(address: str | None) -> str | None:
    """The normalised domain of an address (`<a@B.test>` -> `b.test`), None when it has none."""
    if not address:
        return None
    address = address.strip().strip("<>")
    if "@" not in address:
        return None
    domain = normalize_domain(address.rpartition("@")[2])
    return domain or None


def from_domain_in(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(RFC5322.From domain, normalised, problem): the problem is set for a missing From, several
    From addresses in different domains, or an address without a domain. Header bytes are UTF-8
    (RFC 6532 allows an internationalised domain there)."""
    values = [" ".join(bytes(v).decode("utf-8", "replace").split()) for k, v in headers if bytes(k).lower() == b"from"]
    if not values:
        return None, "no From"
    try:
        addresses = getaddresses(values)
    except Exception:
        return None, "unparseable From"
    domains = {domain_of(addr) for _, addr in addresses}
    domains.discard(None)
    if len(domains) != 1:
        return None, "no From domain" if not domains else "several From domains"
    return domains.pop(), None
