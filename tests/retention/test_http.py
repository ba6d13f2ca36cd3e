"""Through the real interfaces: a `multimail serve` with `--blob-store file://...` (the bytes leave the
database; every reader still gets them: get_raw, get_attachment, the hosted download, the
dashboard), the retention settings on the verb and hosted routes and their bad input,
`GET /v1/export_mailbox` (mbox parsed back and compared with get_raw), and the CLI's
`multimail export`, `multimail mailboxes retention` and `multimail blobs gc`."""

from __future__ import annotations

import base64
import hashlib
import io
import mailbox
import re
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from multimail_server.testing import Api, start_session_server
from tests.api.helpers import find_in_inbox, wait_status
from tests.dashboard.conftest import Dashboard


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("blobs")


@pytest.fixture(scope="module")
def server(tmp_path_factory, blob_dir):
    srv = start_session_server(tmp_path_factory.mktemp("blob-server"), env={"MULTIMAIL_BLOB_STORE": blob_dir.as_uri()})
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-4000:]  # no request or worker pass failed


@pytest.fixture(scope="module")
def admin(server) -> Api:
    return Api(server.base, server.admin_key)


def _box(admin: Api, **fields) -> str:
    address = f"box-{secrets.token_hex(4)}@acme.test"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "autonomous", **fields})
    return address


def _cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multimail_server.cli", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, timeout=120)


PAYLOAD = bytes(range(256)) * 64


@pytest.fixture(scope="module")
def delivered(admin, server):
    """A message with an attachment, sent by one hosted mailbox and delivered to another."""
    sender, to = _box(admin), _box(admin)
    subject = f"Report {secrets.token_hex(3)}"
    sent = admin.ok("POST", "send_email", {"from": sender, "to": to, "subject": subject, "body": "From the top: see the file.",
                                           "attachments": [{"filename": "report.bin", "content_type": "application/octet-stream",
                                                            "content_base64": base64.b64encode(PAYLOAD).decode()}]})
    wait_status(admin, sent["message_id"], "sent")
    item = find_in_inbox(admin, to, subject)
    return {"sender": sender, "to": to, "out_id": sent["message_id"], "in_id": item["message_id"], "subject": subject}


def test_the_bytes_live_in_the_blob_store_and_every_reader_gets_them(admin, server, blob_dir, delivered):
    [(raw_sha, raw_in_db, size)] = server.query(
        "SELECT m.raw_sha256, b.raw, b.size FROM messages m JOIN raw_blobs b ON b.sha256 = m.raw_sha256 WHERE m.id = :m",
        m=delivered["in_id"])
    assert raw_in_db is None and size > len(PAYLOAD)
    assert server.query("SELECT count(*) FROM attachments WHERE content IS NOT NULL") == [(0,)]
    on_disk = {p.name for p in blob_dir.rglob("*") if p.is_file()}
    assert {raw_sha, hashlib.sha256(PAYLOAD).hexdigest()} <= on_disk

    raw = admin.get("get_raw", message_id=delivered["in_id"])
    assert raw.status_code == 200 and hashlib.sha256(raw.content).hexdigest() == raw_sha
    assert admin.get("get_raw", message_id=delivered["out_id"]).status_code == 200
    view = admin.ok("GET", "read_email", message_id=delivered["in_id"])
    [att] = view["attachments"]
    assert admin.get("get_attachment", message_id=delivered["in_id"], attachment_id=att["attachment_id"]).content == PAYLOAD
    [mbx] = [m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == delivered["to"]]
    hosted = requests.get(f"{server.base}/v1/mailboxes/{mbx['mailbox_id']}/emails/{delivered['in_id']}/attachments/report.bin",
                          headers=admin.headers(), timeout=30)
    assert hosted.status_code == 200 and hosted.content == PAYLOAD


def test_held_mail_is_reviewed_approved_and_delivered_with_its_bytes_in_the_blob_store(admin, server):
    """The approver's review (dashboard page and download), the approval's content hash and the
    delivery all read the held message's attachment from the blob store."""
    held_box, to = _box(admin, oversight_mode="gated_send"), _box(admin)
    subject = f"Held {secrets.token_hex(3)}"
    sent = admin.ok("POST", "send_email", {"from": held_box, "to": to, "subject": subject, "body": "Please check.",
                                           "attachments": [{"filename": "report.bin", "content_base64":
                                                            base64.b64encode(PAYLOAD).decode()}]})
    dash = Dashboard(server.base)
    assert dash.sign_in(server.admin_key).status_code == 303
    page = dash.get(f"/messages/{sent['message_id']}")
    assert page.status_code == 200 and "report.bin" in page.text
    [att_id] = re.findall(rf"/messages/{sent['message_id']}/attachments/([A-Za-z0-9_]+)", page.text)[:1]
    download = dash.get(f"/messages/{sent['message_id']}/attachments/{att_id}")
    assert download.status_code == 200 and download.content == PAYLOAD
    admin.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    wait_status(admin, sent["message_id"], "sent")
    item = find_in_inbox(admin, to, subject)
    [att] = admin.ok("GET", "read_email", message_id=item["message_id"])["attachments"]
    assert admin.get("get_attachment", message_id=item["message_id"], attachment_id=att["attachment_id"]).content == PAYLOAD


def test_export_mailbox_streams_the_stored_bytes(admin, server, delivered, tmp_path):
    r = admin.get("export_mailbox", mailbox=delivered["to"], format="mbox")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/mbox")
    assert "attachment" in r.headers["content-disposition"]
    path = tmp_path / "box.mbox"
    path.write_bytes(r.content)
    box = mailbox.mbox(path)
    [key] = box.keys()
    exported = re.sub(rb"^>(>*From )", rb"\1", box.get_bytes(key), flags=re.MULTILINE)
    assert exported == admin.get("get_raw", message_id=delivered["in_id"]).content

    z = admin.get("export_mailbox", mailbox=delivered["sender"], format="eml")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        [name] = zf.namelist()
        assert zf.read(name) == admin.get("get_raw", message_id=delivered["out_id"]).content


def test_export_refuses_bad_input_in_the_error_shape(admin, server, delivered, make_agent):
    bad = admin.get("export_mailbox", mailbox=delivered["to"], format="pst")
    assert bad.status_code in (400, 422) and set(bad.json()["error"]) == {"code", "message", "details"}
    missing = admin.get("export_mailbox", mailbox="nobody@acme.test")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "mailbox_not_found"
    agent = make_agent(delivered["to"])
    refused = agent.get("export_mailbox", mailbox=delivered["to"])
    assert refused.status_code == 403 and "error" in refused.json()


@pytest.fixture
def make_agent(admin):
    def _make(*boxes: str) -> Api:
        created = admin.ok("POST", "create_api_key", {"role": "agent", "name": "agent", "mailboxes": list(boxes)})
        return Api(admin.base, created["api_key"])

    return _make


def test_retention_settings_on_both_dialects_with_their_bad_input(admin, server):
    box = _box(admin, retain_bodies_days=90)
    [view] = [m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box]
    assert (view["retain_bodies_days"], view["retain_attachments_days"]) == (90, None)
    updated = admin.ok("POST", "update_mailbox", {"mailbox": box, "retain_attachments_days": 14})
    assert (updated["retain_bodies_days"], updated["retain_attachments_days"]) == (90, 14)
    for value in (-3, 36501, "ten", 1.5):
        r = admin.post("update_mailbox", {"mailbox": box, "retain_bodies_days": value})
        assert r.status_code in (400, 422) and set(r.json()["error"]) == {"code", "message", "details"}, r.text
    hosted = requests.patch(f"{server.base}/v1/mailboxes/{view['mailbox_id']}", json={"retain_bodies_days": 0},
                            headers=admin.headers(), timeout=30)
    assert hosted.status_code == 200, hosted.text
    [after] = [m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box]
    assert (after["retain_bodies_days"], after["retain_attachments_days"]) == (None, 14)


def test_the_cli_exports_sets_retention_and_collects_garbage(admin, server, blob_dir, delivered, tmp_path):
    out = tmp_path / "cli.mbox"
    done = _cli(server, "export", delivered["to"], "--output", str(out), "--blob-store", blob_dir.as_uri())
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == admin.get("export_mailbox", mailbox=delivered["to"]).content
    to_stdout = _cli(server, "export", delivered["to"], "--format", "eml", "--blob-store", blob_dir.as_uri())
    assert to_stdout.returncode == 0 and zipfile.ZipFile(io.BytesIO(to_stdout.stdout)).namelist()
    bad = _cli(server, "export", delivered["to"], "--format", "pst")
    assert bad.returncode == 2 and b"pst" in bad.stderr

    kept = _cli(server, "mailboxes", "retention", delivered["to"], "--bodies-days", "30", "--json")
    assert kept.returncode == 0 and b'"retain_bodies_days": 30' in kept.stdout
    refused = _cli(server, "mailboxes", "retention", delivered["to"], "--attachments-days", "-1")
    assert refused.returncode == 1 and b"invalid_field" in refused.stderr

    orphan = blob_dir / "ab" / "cd" / ("abcd" + "0" * 60)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a crash before its commit")
    gc = _cli(server, "blobs", "gc", "--grace-seconds", "0", "--blob-store", blob_dir.as_uri())
    assert gc.returncode == 0 and b"Removed 1 " in gc.stdout, gc.stdout + gc.stderr
    assert not orphan.exists()
    assert admin.get("get_raw", message_id=delivered["in_id"]).status_code == 200  # referenced blobs stay
    no_store = _cli(server, "blobs", "gc")
    assert no_store.returncode == 2 and b"no blob store" in no_store.stderr
