"""The new text of a reply, and the decision it carries.

`mail-parser-reply` strips quoted history (Gmail/Apple "On … wrote:", Outlook's unprefixed
"From: … Sent: …" block and "-----Original Message-----", localized headers in the languages it
supports) and signatures; `core.decisions.match_option` then reads the first meaningful line
conservatively (and applies its own quote markers as a second line of defence).

The library's patterns backtrack badly on crafted lines (its German "Am … schrieb" header takes
cubic time: 0.3 s for an 800-character line, 20 s for 3.2 KB), so it is only ever given a bounded
prefix: the first `MAX_LINES` lines, each cut to `MAX_LINE_CHARS`. A decision is the first
meaningful line of a reply and a quote header is a short line, so nothing that matters is cut;
benchmarks/reply_parsing.py measures the worst inputs against these bounds.
"""

from __future__ import annotations

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from ..core.decisions import match_option
from .parse import ParsedMail

# Every language the library knows: quote headers are recognised whatever the replier's locale.
LANGUAGES = sorted(code for code in MAIL_LANGUAGES if len(code) == 2)
_PARSER = EmailReplyParser(languages=LANGUAGES)


MAX_LINES = 40
MAX_LINE_CHARS = 160


def bounded(body: str) -> str:
    """The part of a body that reply parsing looks at (see the module docstring)."""
    lines = (body or "").replace("\r\n", "\n").replace("\r", "\n").split("\n", MAX_LINES)[:MAX_LINES]
    return "\n".join(line[:MAX_LINE_CHARS] for line in lines)


def new_text(body: str) -> str:
    """The reply's own text: quoted history and signatures stripped. On any trouble in the
    library, the bounded body (match_option still stops at the common quote markers)."""
    body = bounded(body)
    try:
        reply = _PARSER.parse_reply(body)
    except Exception:
        return body
    return reply if reply is not None else ""


def decision_of(mail: ParsedMail, options: list[str], *, reply_text: str | None = None) -> str | None:
    """The option a reply chooses, or None (unclear). Auto-replies never decide. The stripped
    text (`reply_text`, when the caller stripped it already, outside its transaction) decides;
    if the library's stripping and the core's own markers read different options, the reply is
    unclear (a wrong decision is far worse than none)."""
    if mail.auto_submitted or not options:
        return None
    body = bounded(mail.text or "")
    choice = match_option(new_text(body) if reply_text is None else reply_text, options)
    if choice is None:
        return None
    fallback = match_option(body, options)
    if fallback is not None and fallback != choice:
        return None
    return choice
