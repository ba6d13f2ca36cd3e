"""Decision secrets out of a whole RFC 5322 message, wherever its encoding hides them.

A one-click link or a private reply address (core/decision_secrets.py) can sit in a header, in a
text part encoded as quoted-printable (a soft line break may split it) or base64, or in a
forwarded message attached to the mail: a byte-level search misses most of these. So the message
is parsed, every header and every text part (nested messages included) is read decoded, and only
the parts that held a secret are rewritten. A message without secrets comes back byte for byte.
"""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from ..core.decision_secrets import contains_secret, redact_text


def _redact_headers(part: EmailMessage) -> bool:
    changed = False
    for name, value in list(part.items()):
        text = str(value)
        if contains_secret(text):
            part.replace_header(name, redact_text(text) or "")
            changed = True
    return changed


def _redact_text_part(part: EmailMessage) -> bool:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken part
        return False
    if not isinstance(content, str) or not contains_secret(content):
        return False
    subtype = part.get_content_subtype()
    filename = part.get_filename()
    disposition = part.get_content_disposition()
    part.set_content(redact_text(content) or "", subtype=subtype, disposition=disposition, filename=filename)
    return True


def redact_message(raw: bytes) -> bytes:
    """`raw` with every decision secret replaced; the same bytes when it held none."""
    if b"/d/" not in raw and b"/a/" not in raw and b"q_" not in raw and b"a_" not in raw and b"=" not in raw:  # cheap exit: nothing encoded, no marker
        return raw
    msg = message_from_bytes(raw, policy=default_policy)
    changed = False
    for part in msg.walk():
        changed |= _redact_headers(part)
        if part.get_content_maintype() == "text":
            changed |= _redact_text_part(part)
    return msg.as_bytes(policy=default_policy.clone(linesep="\r\n")) if changed else raw
