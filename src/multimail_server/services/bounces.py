"""Bounces and complaints: VERP envelope senders, and what a report arriving at one does.

Every message the delivery worker hands to a remote system goes out with its own envelope sender
(MAIL FROM, the Return-Path the receiver bounces to): the sending mailbox's address with a tag,
`<local>+b_<message token>_<mac>@<domain>`. The mac is 80 bits of HMAC (the server's link key,
services/decision_links.py) over the message id, in lower-case base32 because mail systems may
change the case of a local part. Plus-addressing already routes such an address to the mailbox
(services/receiving.hosted_mailbox), so the SMTP receiver accepts it; services/receiving.receive
hands mail for it here instead of to the inbox.

A report is believed only at the VERP address of the message it is about, and only about that
message's own recipients, so a stranger can neither bounce a message they never saw (the mac)
nor put arbitrary addresses on a suppression list:

- a DSN (RFC 3464, mail/dsn.py): each `failed` recipient is recorded on the message (`bounces`,
  `failure_reason`), event `message.bounced`; the message becomes `bounced` once all its
  recipients have failed (until then it stays `sent`: the others got it); a 5.x.x failure
  puts the address on the mailbox's suppression list (reason `hard_bounce`); a 4.x.x failure or
  a `delayed` report is recorded but suppresses nothing (the next send may well get through);
- an ARF complaint (RFC 5965): the complaining recipient (Original-Rcpt-To, or the message's only
  recipient when the reporter redacted it) is suppressed (reason `complaint`), event
  `message.complained`;
- a forged or unknown tag, a report about another message (its Message-ID differs), or about
  addresses the message was not sent to: nothing changes; audited as `bounce.ignored` with the
  reason;
- mail at a genuine VERP address that is not a readable report (an out-of-office reply sent to the
  Return-Path, a malformed DSN): stored in the mailbox's inbox as ordinary mail, so a human can
  read it, and audited as `bounce.unrecognised` with why it was not read as a report.
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.decision_secrets import split_plus_tag
from ..core.errors import BadRequest
from ..mail.dsn import NotAReport, Report, parse_report
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from . import decision_links
from .common import iso, record
from .suppressions import suppress, suppression_key

TAG_PREFIX = "b_"
_MAC_CHARS = 16
_MAX_LOCAL = 64  # RFC 5321 section 4.5.3.1.1


def _mac(key: bytes, message_id: str) -> str:
    return base64.b32encode(decision_links._mac(key, "verp", message_id)[:10]).decode().lower()[:_MAC_CHARS]


def envelope_sender(key: bytes, message_id: str, mailbox_address: str) -> str:
    """The VERP MAIL FROM for one outbound message; the mailbox's own address when the tagged
    local part would be longer than SMTP allows (such a message's bounces are not read)."""
    local, _, domain = mailbox_address.rpartition("@")
    token = message_id.removeprefix("msg_")
    tagged = f"{local}+{TAG_PREFIX}{token}_{_mac(key, message_id)}"
    if not message_id.startswith("msg_") or "+" in local or len(tagged.encode()) > _MAX_LOCAL:
        return mailbox_address
    return f"{tagged}@{domain}"


def is_bounce_address(address: str) -> bool:
    """Whether `address` has the shape of a VERP address (genuine or not: the handler decides)."""
    _, tag = split_plus_tag(address)
    return tag is not None and tag.lower().startswith(TAG_PREFIX)


def _message_of(key: bytes | None, address: str) -> str | None:
    """The message id a genuine VERP address names (mac compared in constant time), else None."""
    _, tag = split_plus_tag(address)
    if key is None or tag is None:
        return None
    token, _, mac = tag.lower().removeprefix(TAG_PREFIX).rpartition("_")
    if not token or len(token) > 40:
        return None
    message_id = f"msg_{token}"
    return message_id if hmac.compare_digest(mac.encode(), _mac(key, message_id).encode()) else None


def read_report(raw: bytes) -> Report | str:
    """The report in `raw`, or the reason it is not one (parsed before the write transaction)."""
    try:
        return parse_report(raw)
    except NotAReport as exc:
        return str(exc)


def _key_or_none(address: str) -> str | None:
    try:
        return suppression_key(address)
    except BadRequest:
        return None


def _recipients(msg: dict[str, Any]) -> list[str]:
    keys = [_key_or_none(a) for a in msg["to_addrs"] + msg["cc_addrs"] + msg["bcc_addrs"]]
    return list(dict.fromkeys(k for k in keys if k))


def handle(tx: Connection, *, address: str, report: Report | str, raw_sha256: str | None, now: datetime) -> dict[str, Any] | None:
    """Apply mail that arrived at `address` (a VERP-shaped address). Returns the mailbox when
    the mail is to be stored as ordinary mail (a genuine address, but not a report), else None."""
    base, _ = split_plus_tag(address)
    mailbox = mailbox_q.by_address(tx, base)
    if mailbox is None:
        return None

    def ignore(reason: str, **details: Any) -> None:
        record(tx, at=now, principal=None, action="bounce.ignored", mailbox=mailbox,
               details={"reason": reason, "address": address, "raw_sha256": raw_sha256, **details})

    message_id = _message_of(decision_links.secret_in(tx), address)
    if message_id is None:
        ignore("forged_verp_tag")
        return None
    msg = message_q.by_id(tx, message_id, lock=True)
    if msg is None or msg["mailbox_id"] != mailbox["id"] or msg["direction"] != "outbound":
        ignore("unknown_message", message_id=message_id)
        return None
    if isinstance(report, str):
        record(tx, at=now, principal=None, action="bounce.unrecognised", mailbox=mailbox, message=msg,
               details={"reason": report, "address": address, "stored_as": "inbound mail"})
        return mailbox
    if report.original_message_id and report.original_message_id != msg["internet_message_id"]:
        ignore("message_id_mismatch", message_id=msg["id"], report_message_id=report.original_message_id)
        return None
    if msg["status"] not in ("sent", "bounced"):
        ignore("message_not_sent", message_id=msg["id"], status=msg["status"])
        return None
    if report.type == "delivery-status":
        _apply_dsn(tx, mailbox, msg, report, now, ignore)
    else:
        _apply_complaint(tx, mailbox, msg, report, now, ignore)
    return None


def _apply_dsn(tx: Connection, mailbox: dict[str, Any], msg: dict[str, Any], report: Report, now: datetime, ignore) -> None:
    recipients = _recipients(msg)
    bounces = dict(msg.get("bounces") or {})
    strangers, changed = [], []
    for r in report.recipients:
        key = _key_or_none(r.address)
        if key is None or key not in recipients:
            strangers.append(r.address)
            continue
        entry = {"action": r.action, "status": r.status, "diagnostic": r.diagnostic, "kind": r.kind, "at": iso(now)}
        before = bounces.get(key)
        if before and before.get("action") == "failed" and r.action != "failed":
            continue  # a late `delayed` report never downgrades a recorded failure
        if before and all(before.get(k) == entry[k] for k in ("action", "status", "diagnostic")):
            continue  # the same report again
        bounces[key] = entry
        changed.append((key, r))
    if not changed:
        ignore("not_a_recipient" if strangers else "already_recorded", message_id=msg["id"], addresses=strangers)
        return
    failed = [(k, r) for k, r in changed if r.action == "failed"]
    values: dict[str, Any] = {"bounces": bounces}
    if failed:
        # `bounced` once every recipient failed: a message some recipients got stays `sent` (a
        # question they may answer, a thread they are in), its failures in failure_reason.
        if all((bounces.get(k) or {}).get("action") == "failed" for k in recipients):
            values["status"] = "bounced"
        values["failure_reason"] = "; ".join(
            f"{k}: {v['status']}" + (f" {v['diagnostic']}" if v.get("diagnostic") else "")
            for k, v in bounces.items() if v.get("action") == "failed")[:2000]
    message_q.update_message(tx, msg["id"], values)
    msg = {**msg, **values}
    listed = []
    for key, r in changed:
        suppressed = False
        if r.kind == "hard":
            suppressed = suppress(tx, mailbox=mailbox, address=key, reason="hard_bounce",
                                  detail=f"{r.status} {r.diagnostic or ''}".strip(), message_id=msg["id"], principal=None, now=now)
        listed.append({"address": key, "action": r.action, "status": r.status, "diagnostic": r.diagnostic,
                       "kind": r.kind, "suppressed": suppressed})
    data = {"message_id": msg["id"], "thread_id": msg["thread_id"], "status": msg["status"], "recipients": listed}
    if failed:
        record(tx, at=now, principal=None, action="message.bounced", mailbox=mailbox, message=msg,
               details={**data, "ignored_addresses": strangers}, event="message.bounced", event_data=data)
    else:
        record(tx, at=now, principal=None, action="message.delayed", mailbox=mailbox, message=msg,
               details={**data, "ignored_addresses": strangers})


def _apply_complaint(tx: Connection, mailbox: dict[str, Any], msg: dict[str, Any], report: Report, now: datetime, ignore) -> None:
    recipients = _recipients(msg)
    named = [k for k in (_key_or_none(a) for a in report.complainants) if k]
    if named:
        complainants = [k for k in dict.fromkeys(named) if k in recipients]
    else:  # reporters often redact the complainant; with one recipient there is no doubt who it is
        complainants = recipients if len(recipients) == 1 else []
    if not complainants:
        ignore("complainant_unknown" if not named else "not_a_recipient", message_id=msg["id"], addresses=named)
        return
    added = [suppress(tx, mailbox=mailbox, address=k, reason="complaint", detail=f"feedback-type {report.feedback_type}",
                      message_id=msg["id"], principal=None, now=now) for k in complainants]
    if not any(added):
        ignore("already_recorded", message_id=msg["id"], addresses=complainants)
        return
    data = {"message_id": msg["id"], "thread_id": msg["thread_id"], "addresses": complainants,
            "feedback_type": report.feedback_type}
    record(tx, at=now, principal=None, action="message.complained", mailbox=mailbox, message=msg, details=data,
           event="message.complained", event_data=data)
