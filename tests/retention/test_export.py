"""Export (services/export.py): a mailbox as mbox (RFC 4155, mboxrd quoting) or a zip of .eml files,
streamed one message at a time; the bytes are the stored raw bytes exactly (checked by parsing the
mbox back with the standard library), purged messages say so, and bad requests change nothing."""

from __future__ import annotations

import io
import mailbox
import re
import zipfile

import pytest

from multimail_server.core.errors import BadRequest, Forbidden, NotFound
from multimail_server.services import export as export_svc
from multimail_server.services import sending
from multimail_server.services.retention import purge_due
from multimail_server.store import messages as message_q
from multimail_server.store import tables as t

# Lines a naive mbox reader would take for the start of a new message.
TRICKY = "From the start, this line looks like a separator.\n>From here too, once quoted.\nplain line"


def _stored(ctx, db, box: str) -> list[tuple[dict, bytes]]:
    """(row, stored raw bytes) of the mailbox's composed messages, in order."""
    [mbx] = db.rows(t.mailboxes, address=box)
    rows = sorted(db.rows(t.messages, mailbox_id=mbx["id"]), key=lambda r: r["seq"])
    with ctx.store.read() as tx:
        return [(r, raw) for r in rows if (raw := message_q.raw_of(tx, r)) is not None]


def _unquote(data: bytes) -> bytes:
    return re.sub(rb"^>(>*From )", rb"\1", data, flags=re.MULTILINE)


def _mailbox_with_mail(new_mailbox, deliver, **fields) -> str:
    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous", **fields)
    deliver(sender, box, subject="First", body=TRICKY)
    deliver(sender, box, subject="Second", body="With a file.", attachments=[("notes.txt", b"From a file\r\n")])
    deliver(box, sender, subject="Outbound", body="From me, sent.")
    return box


def test_mbox_holds_the_stored_bytes_exactly_and_parses_back(ctx, operator, new_mailbox, deliver, db, tmp_path):
    box = _mailbox_with_mail(new_mailbox, deliver)
    out = export_svc.export_mailbox(ctx, principal=operator, mailbox=box, format="mbox")
    assert out["media_type"] == "application/mbox" and out["filename"] == f"{box}.mbox"
    chunks = list(out["chunks"])
    expected = _stored(ctx, db, box)
    assert len(chunks) == len(expected) == 3  # one chunk per message: streamed, not built whole

    path = tmp_path / "export.mbox"
    path.write_bytes(b"".join(chunks))
    parsed = mailbox.mbox(path)
    got = [parsed.get_bytes(key) for key in parsed.keys()]
    assert [_unquote(g) for g in got] == [raw for _, raw in expected]
    # mboxrd: inside a message no line starts with "From " (the reader would split there).
    assert not any(re.search(rb"^From ", g, flags=re.MULTILINE) for g in got)
    assert any(b">From the start" in g for g in got) and any(b">>From here too" in g for g in got)
    for key, (row, _) in zip(parsed.keys(), expected):
        assert parsed.get_message(key).get_from().split()[0] in row["from_addr"]


def test_eml_zip_holds_one_file_per_message_with_the_exact_bytes(ctx, operator, new_mailbox, deliver, db):
    box = _mailbox_with_mail(new_mailbox, deliver)
    out = export_svc.export_mailbox(ctx, principal=operator, mailbox=box, format="eml")
    assert out["media_type"] == "application/zip"
    data = b"".join(out["chunks"])
    expected = _stored(ctx, db, box)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names == [f"{n:06d}-{row['id']}.eml" for n, (row, _) in enumerate(expected, start=1)]
        assert [zf.read(name) for name in names] == [raw for _, raw in expected]


def test_purged_messages_are_exported_as_a_stand_in_that_says_so(ctx, clock, operator, new_mailbox, deliver, db, tmp_path):
    box = _mailbox_with_mail(new_mailbox, deliver, retain_attachments_days=5)
    clock.advance(days=6)
    assert purge_due(ctx) == 1
    path = tmp_path / "after.mbox"
    path.write_bytes(b"".join(export_svc.export_mailbox(ctx, principal=operator, mailbox=box)["chunks"]))
    messages = [mailbox.mbox(path).get_message(k) for k in mailbox.mbox(path).keys()]
    assert [m["Subject"] for m in messages] == ["First", "Second", "Outbound"]
    stand_in = messages[1]
    assert stand_in["X-MultiMail-Purged"].startswith(clock.now.date().isoformat())
    text = stand_in.get_payload(decode=True).decode()
    assert "purged on" in text and "notes.txt" in text and "With a file." in text  # the body was kept
    assert "X-MultiMail-Purged" not in messages[0]


def test_only_an_admin_may_export_and_a_bad_format_or_mailbox_is_refused(ctx, operator, new_mailbox, db):
    from multimail_server.services import keys as key_svc

    box = new_mailbox(oversight_mode="autonomous")
    created = key_svc.create_key(ctx, principal=operator, role="agent", mailboxes=[box], name="agent")
    agent = key_svc.authenticate(ctx, f"Bearer {created['api_key']}")
    before = db.count(t.audit_events, action="mailbox.exported")
    with pytest.raises(Forbidden):
        export_svc.export_mailbox(ctx, principal=agent, mailbox=box)
    with pytest.raises(BadRequest) as bad:
        export_svc.export_mailbox(ctx, principal=operator, mailbox=box, format="pst")
    assert bad.value.details["field"] == "format"
    with pytest.raises(NotFound):
        export_svc.export_mailbox(ctx, principal=operator, mailbox="nobody@acme.test")
    assert db.count(t.audit_events, action="mailbox.exported") == before
    export_svc.export_mailbox(ctx, principal=operator, mailbox=box)
    assert db.count(t.audit_events, action="mailbox.exported") == before + 1  # an export is on the record


def test_unsent_mail_is_left_out(ctx, operator, new_mailbox, db):
    box = new_mailbox(oversight_mode="gated_send")
    sending.send_email(ctx, principal=operator, sender=box, to="x@partner.test", subject="Held", body="Not yet.",
                       oversight_mode="gated_send")
    assert b"".join(export_svc.export_mailbox(ctx, principal=operator, mailbox=box)["chunks"]) == b""
