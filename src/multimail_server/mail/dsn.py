"""Delivery status notifications (RFC 3464) and abuse feedback reports (RFC 5965, ARF): the two
machine-readable reports a receiving system mails back about a message we sent.

Both are `multipart/report` messages: a human-readable part, a machine-readable part
(`message/delivery-status`, or `message/feedback-report`) made of header-like field groups, and the
original message or its headers (`message/rfc822`, `text/rfc822-headers`). `parse_report` reads
one with the stdlib email package (policy.default) and answers a `Report`, or raises
`NotAReport` saying why the bytes are not one: the caller decides what to do with mail that is
not a report (services/bounces.py stores it as ordinary mail).

Nothing here decides anything: which message a report is about, and whether to believe it, is the
caller's business (a report is only trusted when it arrives at a message's VERP address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import default as default_policy

MAX_RECIPIENTS = 100  # a report naming more recipients than a message can have is not believed past this
MAX_DIAGNOSTIC = 1000
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


class NotAReport(ValueError):
    """The bytes are not a DSN or ARF report (or one too malformed to read); the text says why."""


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient group of a DSN. `kind`: `hard` (Action failed, status 5.x.x), `soft`
    (failed with a 4.x.x status, or delayed), or `none` (delivered, relayed, expanded)."""

    address: str
    action: str
    status: str
    diagnostic: str | None

    @property
    def kind(self) -> str:
        if self.action == "failed":
            return "hard" if self.status.startswith("5.") else "soft"
        if self.action == "delayed":
            return "soft"
        return "none"


@dataclass
class Report:
    """`type`: "delivery-status" or "feedback-report". `original_message_id` comes from the
    returned message or headers (None when the reporter left them out)."""

    type: str
    original_message_id: str | None
    recipients: list[RecipientStatus] = field(default_factory=list)  # delivery-status
    feedback_type: str | None = None  # feedback-report: abuse, fraud, virus, other, ...
    complainants: list[str] = field(default_factory=list)  # feedback-report: Original-Rcpt-To


def _address_of(value: str | None) -> str | None:
    """`rfc822; bob@example.test` → `bob@example.test` (the address type is required by RFC 3464
    but reporters sometimes omit it)."""
    if not value:
        return None
    text = " ".join(str(value).split())
    if ";" in text:
        kind, _, text = text.partition(";")
        if kind.strip().lower() not in ("rfc822", "utf-8"):
            return None
    text = text.strip().strip("<>").strip()
    return text if "@" in text and " " not in text else None


def _field_groups(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status or message/feedback-report part.

    The stdlib parses message/delivery-status into a list of header blocks; a
    message/feedback-report (and a delivery-status sent as text/plain by a careless reporter) is
    read from its text, one group per blank-line-separated block."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        return [p for p in payload if isinstance(p, Message)]
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload or "")
    blocks = [b for b in re.split(r"\r?\n[ \t]*\r?\n", text.strip()) if b.strip()]
    return [HeaderParser(policy=default_policy).parsestr(b + "\n") for b in blocks]


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                return _message_id(inner.get("Message-ID"))
        if kind in ("text/rfc822-headers", "message/rfc822-headers"):
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return _message_id(BytesHeaderParser(policy=default_policy).parsebytes(raw).get("Message-ID"))
    return None


def _message_id(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    match = re.search(r"<[^<>\s]+>", text)
    return match.group(0) if match else None


def _recipients(groups: list[Message]) -> list[RecipientStatus]:
    """The per-recipient groups (the first group is per-message: Reporting-MTA, Arrival-Date)."""
    found = []
    for group in groups:
        address = _address_of(group.get("Final-Recipient")) or _address_of(group.get("Original-Recipient"))
        action = (str(group.get("Action") or "")).strip().lower()
        status = (str(group.get("Status") or "")).strip().split(" ")[0]
        if address is None and not action:
            continue  # the per-message group
        if address is None:
            raise NotAReport("a per-recipient group has no usable Final-Recipient")
        if action not in ("failed", "delayed", "delivered", "relayed", "expanded"):
            raise NotAReport(f"recipient {address} has no valid Action (got {action or 'none'!r})")
        if not _STATUS.match(status):
            raise NotAReport(f"recipient {address} has no valid Status (got {status or 'none'!r})")
        diagnostic = group.get("Diagnostic-Code")
        text = " ".join(str(diagnostic).split())[:MAX_DIAGNOSTIC] if diagnostic else None
        found.append(RecipientStatus(address=address, action=action, status=status, diagnostic=text))
        if len(found) > MAX_RECIPIENTS:
            raise NotAReport(f"the report names more than {MAX_RECIPIENTS} recipients")
    return found


def parse_report(raw: bytes) -> Report:
    """The DSN or ARF report in `raw`; `NotAReport` when it is neither or cannot be read."""
    try:
        msg = message_from_bytes(raw, _class=EmailMessage, policy=default_policy)
    except Exception as exc:  # the parser raises on some malformed input
        raise NotAReport(f"unparseable: {type(exc).__name__}") from None
    if msg.get_content_type() != "multipart/report":
        raise NotAReport(f"not a multipart/report (it is {msg.get_content_type()})")
    report_type = (msg.get_param("report-type") or "")
    report_type = str(report_type).strip().lower() if isinstance(report_type, str) else ""
    parts = [p for p in msg.walk() if p is not msg]
    try:
        if report_type == "delivery-status":
            status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
            if status is None:
                raise NotAReport("a delivery-status report without a message/delivery-status part")
            recipients = _recipients(_field_groups(status))
            if not recipients:
                raise NotAReport("the delivery-status part names no recipient")
            return Report(type="delivery-status", original_message_id=_original_message_id(msg), recipients=recipients)
        if report_type == "feedback-report":
            feedback = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
            if feedback is None:
                raise NotAReport("a feedback-report without a message/feedback-report part")
            groups = _field_groups(feedback)
            first = groups[0] if groups else None
            if first is None or not first.get("Feedback-Type"):
                raise NotAReport("the feedback report has no Feedback-Type")
            rcpts = [a for a in (_address_of(v) for g in groups for v in (g.get_all("Original-Rcpt-To") or [])) if a]
            return Report(type="feedback-report", original_message_id=_original_message_id(msg),
                          feedback_type=str(first.get("Feedback-Type")).strip().lower(), complainants=rcpts[:MAX_RECIPIENTS])
    except NotAReport:
        raise
    except Exception as exc:  # a header the registry cannot read, an encoding it refuses
        raise NotAReport(f"unreadable report: {type(exc).__name__}") from None
    raise NotAReport(f"a multipart/report of an unknown report-type {report_type or 'none'!r}")
