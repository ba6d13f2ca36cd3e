"""The new text of a reply, and the decision it carries.

`mail-parser-reply` strips quoted history (Gmail/Apple "On … wrote:", Outlook's unprefixed
"From: … Sent: …" block and "-----Original Message-----", localized headers in the languages it
supports) and signatures; `core.decisions.match_option` then reads the first meaningful line
conservatively (and applies its own quote markers as a second line of defence).
"""

from __future__ import annotations

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from ..core.decisions import match_option
from .parse import ParsedMail

# Every language the library knows: quote headers are recognised whatever the replier's locale.
LANGUAGES = sorted(code for code in MAIL_LANGUAGES if len(code) == 2)
_PARSER = EmailReplyParser(languages=LANGUAGES)


def new_text(body: str) -> str:
    """The reply's own text: quoted history and signatures stripped. On any trouble in the
    library, the whole body (match_option still stops at the common quote markers)."""
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    try:
        reply = _PARSER.parse_reply(body)
    except Exception:
        return body
    return reply if reply is not None else ""


def decision_of(mail: ParsedMail, options: list[str]) -> str | None:
    """The option a reply chooses, or None (unclear). Auto-replies never decide. The stripped
    text decides; if the library's stripping and the core's own markers read different options,
    the reply is unclear (a wrong decision is far worse than none)."""
    if mail.auto_submitted or not options:
        return None
    body = mail.text or ""
    choice = match_option(new_text(body), options)
    if choice is None:
        return None
    fallback = match_option(body, options)
    if fallback is not None and fallback != choice:
        return None
    return choice
