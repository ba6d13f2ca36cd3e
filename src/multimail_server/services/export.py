"""Export a mailbox: an mbox file (RFC 4155, mboxrd quoting) or a zip of `.eml` files, streamed.

Admin only (an export is every message of the mailbox, both directions). The mailbox is looked
up and the format checked before the first byte, so a bad request is a clear error, not a broken
download; then messages are read in batches of EXPORT_BATCH, each batch in a read transaction of
its own, and written out as they come: memory holds one batch, never the mailbox.

What is exported for each message is its stored raw bytes, exactly: as received (inbound) or as
handed over (outbound). Mail never composed (held, queued, rejected before it left) has no bytes
and is left out. A message whose content was purged by its mailbox's retention settings is
exported as a short stand-in carrying its headers, an `X-MultiMail-Purged` header with the date
and a body saying so, rather than silently missing.

mbox: each message starts with a `From sender date` line (the envelope sender, or
MAILER-DAEMON, and the asctime of when it was received or sent); lines of the message that
start with `From ` or `>From ` (any number of `>`) get one more `>` (mboxrd), so a reader that
strips one `>` gets the bytes back; a message not ending in a line break gets one, and an empty
line ends each message. eml: `NNNNNN-<message id>.eml` per message in order, deflated, in a zip
written to a non-seekable stream (data descriptors), so it streams too.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from typing import Any

from ..core.access import Principal, Scope, require_scope
from ..core.errors import BadRequest
from ..store import messages as message_q
from ..store import retention as retention_q
from .common import find_mailbox, iso, record
from .context import Context
from .retention import raw_purged_at

EXPORT_BATCH = 100
FORMATS = {"mbox": ("application/mbox", "mbox"), "eml": ("application/zip", "zip")}

_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


def export_mailbox(ctx: Context, *, principal: Principal, mailbox: str, format: str = "mbox") -> dict[str, Any]:
    """Check the request and return {mailbox, media_type, filename, chunks}: `chunks` yields the
    file's bytes as they are produced."""
    require_scope(principal.scopes, Scope.ADMIN, "export mailboxes")
    if format not in FORMATS:
        raise BadRequest("format must be mbox or eml (a zip of .eml files).", code="invalid_field",
                         details={"field": "format", "allowed": sorted(FORMATS)})
    with ctx.store.write() as tx:
        box = find_mailbox(tx, principal, mailbox)
        record(tx, at=ctx.now(), principal=principal, action="mailbox.exported", mailbox=box, details={"format": format})
    media_type, ext = FORMATS[format]
    chunks = _mbox(ctx, box) if format == "mbox" else _eml_zip(ctx, box)
    return {"mailbox": box["address"], "media_type": media_type, "filename": f"{box['address']}.{ext}", "chunks": chunks}


def _messages(ctx: Context, box: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bytes]]:
    """(message, bytes) in order: its raw bytes, or the stand-in of purged content."""
    after = 0
    while True:
        with ctx.store.read() as tx:
            rows = retention_q.messages_for_export(tx, mailbox_id=box["id"], after_seq=after, limit=EXPORT_BATCH)
            items = []
            for row in rows:
                if raw_purged_at(row) is not None:
                    atts = message_q.attachments_of(tx, row["id"])
                    items.append((row, purged_stand_in(row, box, atts)))
                    continue
                raw = message_q.raw_of(tx, row)
                if raw is not None:
                    items.append((row, raw))
        if not rows:
            return
        after = rows[-1]["seq"]
        yield from items


def purged_stand_in(row: dict[str, Any], box: dict[str, Any], attachments: list[dict[str, Any]]) -> bytes:
    """A small message standing in for one whose content was purged: its headers, when, and
    what is gone (the body, if it was purged; the attachments by name, type, size)."""
    msg = EmailMessage(policy=default_policy)
    when = raw_purged_at(row)
    headers = {"From": row["from_addr"], "To": ", ".join(row["to_addrs"] or []), "Cc": ", ".join(row["cc_addrs"] or []),
               "Subject": row["subject"], "Message-ID": row["internet_message_id"], "In-Reply-To": row["in_reply_to"],
               "Date": format_datetime(_when(row)), "X-MultiMail-Message-Id": row["id"], "X-MultiMail-Purged": iso(when)}
    for name, value in headers.items():
        if not value:
            continue
        try:
            msg[name] = value
        except (ValueError, TypeError):  # a stored value the header model refuses: left out, not guessed
            continue
    lines = [f"The content of this message was purged on {when.date().isoformat() if when else ''} under the retention "
             f"settings of {box['address']}; what remains is its headers."]
    if row.get("purged_at") is None:
        lines += ["", "Body (kept):", "", row.get("body_text") or ""]
    if attachments:
        lines += ["", "Attachments (purged):"] + [f"- {a['filename']} ({a['content_type']}, {a['size']} bytes)" for a in attachments]
    msg.set_content("\n".join(lines) + "\n")
    return msg.as_bytes()


def _when(row: dict[str, Any]) -> datetime:
    return row.get("received_at") or row.get("sent_at") or row["created_at"]


def from_line(row: dict[str, Any]) -> bytes:
    """The mbox separator line: `From <envelope sender> <asctime>` (RFC 4155)."""
    sender = parseaddr(row["from_addr"] or "")[1]
    if not sender or any(c.isspace() for c in sender) or not sender.isascii():
        sender = "MAILER-DAEMON"
    at = _when(row)
    return f"From {sender} {at:%a %b} {at.day:2d} {at:%H:%M:%S %Y}\n".encode("ascii")


def mbox_entry(row: dict[str, Any], raw: bytes) -> bytes:
    body = _FROM_LINE.sub(rb">\1", raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return from_line(row) + body + b"\n"


def _mbox(ctx: Context, box: dict[str, Any]) -> Iterator[bytes]:
    for row, raw in _messages(ctx, box):
        yield mbox_entry(row, raw)


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream the zip is written into, emptied after each file."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._parts.append(data)
        return len(data)

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _eml_zip(ctx: Context, box: dict[str, Any]) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, (row, raw) in enumerate(_messages(ctx, box), start=1):
            at = _when(row)
            info = zipfile.ZipInfo(f"{n:06d}-{row['id']}.eml", date_time=(max(at.year, 1980), at.month, at.day,
                                                                          at.hour, at.minute, at.second))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, raw)
            yield sink.drain()
    yield sink.drain()
