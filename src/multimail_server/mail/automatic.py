"""Mail no person wrote: auto-replies, out-of-office notices, bounces and list traffic.

RFC 3834's Auto-Submitted is the standard signal; the rest are the headers, subjects and sender
names that real autoresponders (Exchange, Gmail, Postfix, list managers) use instead of it.
"""

from __future__ import annotations

import re
from email.message import Message

from .headers import first_header

# Subjects that only automatic mail carries (at the start; "Re: Vacation plans" is a person).
_AUTO_SUBJECT = re.compile(
    r"^\s*\[?(auto(matic|matische)?[\s-]*(reply|response|answer|antwort)|autoreply|auto\s*:|out of (the )?office\s*(reply|:|autoreply)|"
    r"ooo\s*:|abwesenheitsnotiz|abwesend\s*:|r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica|"
    r"fuera de la oficina|risposta automatica|automatisch antwoord|autosvar|automatisk svar|"
    r"undeliverable\s*:|undelivered mail|delivery status notification|mail delivery failed|returned mail\s*:)",
    re.IGNORECASE,
)


def is_automatic(msg: Message, subject: str, from_addr: str) -> bool:
    """Whether the message says (or its sender, subject or list headers show) that no person wrote
    it: an auto-reply, a bounce, a mailing list. Such mail is nobody's answer to a question."""
    auto = first_header(msg, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-AutoReply-From", "X-Mail-Autoreply"):
        value = first_header(msg, name).strip().lower()
        if value and value not in ("no", "false", "0"):
            return True
    if first_header(msg, "Precedence").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    if first_header(msg, "X-Auto-Response-Suppress") and first_header(msg, "X-MS-Exchange-Inbox-Rules-Loop"):
        return True  # Exchange rule-generated
    if first_header(msg, "List-Id") or first_header(msg, "List-Unsubscribe"):
        return True  # mailing-list traffic is nobody's answer
    if _AUTO_SUBJECT.match(subject):
        return True
    local = from_addr.rsplit("<", 1)[-1].split("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster") or local.startswith(("noreply", "no-reply", "do-not-reply", "donotreply")):
        return True
    return False
