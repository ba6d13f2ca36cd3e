"""Every client method, sync and async, over real HTTP against the session's `multimail serve`."""

from __future__ import annotations

import inspect
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import multimail_server.client as mm
from multimail_server.client import AsyncMultiMail, MultiMail

from .conftest import collect, new_address, run_client, v, wait_inbox


class Recorder:
    """Wraps a client and records which of its methods a test used."""

    def __init__(self, client: Any):
        self._client = client
        self.used: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.used.add(name)
        return getattr(self._client, name)


def public_methods(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")} - {"close", "aclose"}


async def every_method(c: Any) -> None:
    health = await v(c.health())
    assert health["status"] == "ok"

    gated, outside = new_address("gated"), new_address("outside")
    box = await v(c.create_mailbox(gated, oversight_mode="gated_send", display_name="Gated"))
    assert box["address"] == gated and box["oversight_mode"] == "gated_send" and box["mailbox_id"].startswith("mbx_")
    await v(c.create_mailbox(outside, oversight_mode="autonomous", display_name="Ana Outside"))
    assert {gated, outside} <= {m["address"] for m in (await v(c.list_mailboxes()))["mailboxes"]}
    updated = await v(c.update_mailbox(gated, display_name="Gated Box", approvals_required=1,
                                       quiet_hours={"start": "03:00", "end": "03:01", "timezone": "UTC"}))
    assert updated["display_name"] == "Gated Box" and updated["oversight_mode"] == "gated_send"
    assert updated["quiet_hours"] == {"start": "03:00", "end": "03:01", "timezone": "UTC"}
    assert (await v(c.update_mailbox(gated, quiet_hours="off")))["quiet_hours"] is None
    assert (await v(c.update_mailbox(gated, spam_threshold=40.0)))["spam_threshold"] == 40.0

    # Inbound mail for `gated`: an autonomous hosted mailbox's message goes out at once.
    subject = f"Inbound {secrets.token_hex(3)}"
    sent = await v(c.send_email(sender=outside, to=gated, subject=subject, body="Hello from outside.",
                                attachments=[mm.attachment("notes.txt", b"attached bytes")], metadata={"source": "sdk-test"}))
    assert isinstance(sent, mm.SendResult)
    assert sent.status in ("queued", "sent") and sent.oversight_mode == "autonomous" and sent.duplicate is False
    assert sent.message_id.startswith("msg_") and sent.thread_id.startswith("thr_")
    [item] = await wait_inbox(c, gated, 1)
    assert item["subject"] == subject and outside in item["from"] and item["read"] is False
    assert [m["message_id"] for m in await collect(c.iter_inbox(gated))] == [item["message_id"]]

    full = await v(c.read_email(item["message_id"]))
    assert full["direction"] == "inbound" and full["body"].strip() == "Hello from outside." and full["read"] is True
    [att] = full["attachments"]
    assert att["filename"] == "notes.txt"
    assert await v(c.get_attachment(full["message_id"], att["attachment_id"])) == b"attached bytes"
    raw = await v(c.get_raw(full["message_id"]))
    assert b"attached bytes" not in raw and raw.count(b"\n") > 3  # the MIME source (the attachment base64-encoded)
    checked = await v(c.verify_message(raw))
    assert set(checked) == {"dkim", "identity", "proves", "does_not_prove"}
    me = await v(c.whoami())
    assert me["role"] == "admin" and me["mailboxes"] is None

    assert (await v(c.tag_email(item["message_id"], ["processed"]))) == {"message_id": item["message_id"], "tags": {"processed": ""}}
    tagged = await v(c.tag_email(item["message_id"], {"priority": "high"}, remove=["processed"]))
    assert tagged["tags"] == {"priority": "high"}
    assert (await v(c.check_inbox(gated, tag="priority")))["messages"][0]["message_id"] == item["message_id"]
    assert (await v(c.check_inbox(gated, exclude_tag="priority")))["messages"] == []

    # Claims (tests/client/test_claims_client.py covers them in depth).
    claim = await v(c.claim_messages(gated, limit=5, lease_seconds=60))
    assert [m["message_id"] for m in claim["messages"]] == [item["message_id"]]
    assert (await v(c.release_messages(claim["claim_id"])))["released"] == [item["message_id"]]
    claim = await v(c.claim_messages(gated))
    assert (await v(c.ack_messages(claim["claim_id"])))["acked"] == [item["message_id"]]

    # gated_send: a reply in an existing thread goes out; a new conversation is held.
    reply = await v(c.reply_email(item["message_id"], body="Thanks, got it."))
    assert reply.status in ("queued", "sent") and reply.thread_id == item["thread_id"]
    thread = await v(c.get_thread(reply.thread_id))
    assert [m["message_id"] for m in thread["messages"]][-1] == reply.message_id
    assert item["message_id"] in [m["message_id"] for m in thread["messages"]]
    assert thread["messages"][-1]["is_reply"] is True and thread["messages"][-1]["subject"].startswith("Re:")

    held = await v(c.send_email(sender=gated, to=outside, subject="Needs approval", body="Please approve."))
    assert held.status == "pending" and held.approval_status == "pending" and held.is_pending
    edited = await v(c.edit_message(held.message_id, subject="Needs approval (edited)", to=[outside], note="tidied"))
    assert edited["subject"] == "Needs approval (edited)" and edited["to"] == [outside] and edited["content_hash"]
    approved = await v(c.approve_message(held.message_id, note="fine"))
    assert approved["message_id"] == held.message_id
    rejected_msg = await v(c.send_email(sender=gated, to=outside, subject="To reject", body="No."))
    await v(c.reject_message(rejected_msg.message_id, reason="not today"))
    decision = await v(c.decide_email(sender=gated, to=outside, question="Ship it?", options=["yes", "no"]))
    assert decision.status == "pending" and decision.thread_id.startswith("thr_")
    await v(c.cancel_message(decision.message_id, reason="changed my mind"))
    statuses = {m["message_id"]: m["status"] for m in (await v(c.list_pending(gated)))["messages"]}
    assert statuses == {held.message_id: "approved", rejected_msg.message_id: "rejected", decision.message_id: "cancelled"}
    wait = await v(c.register_wait(str(uuid.uuid4()), message_id=rejected_msg.message_id))
    assert wait["resume"] == "none" and wait["status"] == "resolved"  # the session server has no Prefect API
    assert wait["outcome"]["status"] == "rejected" and wait["outcome"]["reason"] == "not today"
    # a held reply with its own approval clock (the mailbox has none)
    timed = await v(c.reply_email(item["message_id"], body="Held, on its own clock.", oversight_mode="gated_all",
                                  approval_timeout=3600, on_timeout="reject"))
    pending = {m["message_id"]: m for m in (await v(c.list_pending(gated)))["messages"]}[timed.message_id]
    assert timed.status == "pending" and pending["approval_due_at"] and pending["on_timeout"] == "reject"
    await v(c.cancel_message(timed.message_id))

    # Scheduled send and forward (tests/scheduling covers them in depth).
    later = await v(c.send_email(sender=gated, to=outside, subject="Later", body="Tomorrow.",
                                 send_at=datetime.now(UTC) + timedelta(days=1)))
    assert later.status == "pending" and later.send_at
    moved = await v(c.edit_scheduled_email(later.message_id, send_at=datetime.now(UTC) + timedelta(days=2), subject="Later still"))
    assert moved.status == "pending" and moved.send_at != later.send_at
    forwarded = await v(c.forward_email(item["message_id"], to=outside, note="FYI"))
    assert forwarded.status == "pending" and forwarded.thread_id != item["thread_id"]
    for m in (later, forwarded):
        await v(c.cancel_message(m.message_id))

    # The kill switch (tests/api/test_approval_policies.py covers it in depth).
    paused = await v(c.pause_outbound(gated, reason="sdk test"))
    assert [(p["mailbox"], p["reason"]) for p in paused["paused"]] == [(gated, "sdk test")]
    assert (await v(c.list_paused()))["paused"] == paused["paused"]
    assert (await v(c.resume_outbound(gated)))["paused"] == []

    # The suppression list (tests/bounces covers bounces, complaints and bypass attempts).
    blocked = new_address("blocked")
    added = await v(c.add_suppression(gated, blocked.upper(), detail="asked us to stop"))
    assert added["added"] is True and added["suppression"]["address"] == blocked and added["suppression"]["reason"] == "manual"
    listed = await v(c.list_suppressions(mailbox=gated))
    assert [s["address"] for s in listed["suppressions"]] == [blocked] and listed["next_cursor"] is None
    removed = await v(c.remove_suppression(gated, blocked))
    assert [s["address"] for s in removed["removed"]] == [blocked]
    assert (await v(c.list_suppressions(mailbox=gated)))["suppressions"] == []

    # The address book (tests/contacts covers roles, spellings and contacts_only).
    friend = new_address("friend")
    made = await v(c.add_contact(friend.upper(), mailbox=gated, name="Friend", tags=["sdk"]))
    assert made["created"] is True and made["contact"]["email"].lower() == friend and made["contact"]["approved"] is True
    found = await v(c.search_contacts("friend", mailbox=gated))
    assert [x["contact_id"] for x in found["contacts"]] == [made["contact"]["contact_id"]]
    assert (await v(c.delete_contact(made["contact"]["contact_id"])))["deleted"] is True
    # The spam quarantine (tests/spam covers verdicts, rspamd and the other interfaces).
    reported = await v(c.report_spam(item["message_id"]))
    assert reported["spam"]["state"] == "quarantined" and reported["spam"]["label"] == "spam"
    assert [m["message_id"] for m in (await v(c.list_spam(mailbox=gated)))["messages"]] == [item["message_id"]]
    assert item["message_id"] not in [m["message_id"] for m in (await v(c.check_inbox(gated)))["messages"]]
    assert item["message_id"] in [m["message_id"] for m in (await v(c.check_inbox(gated, include_spam=True)))["messages"]]
    released = await v(c.not_spam(item["message_id"]))
    assert released["spam"]["state"] is None and released["read"] is False

    page = await v(c.audit_log(mailbox=gated, limit=2))
    assert len(page["events"]) == 2 and page["next_cursor"]
    events = await collect(c.iter_audit_log(mailbox=gated, page_size=3))
    assert len({e["event_id"] for e in events}) == len(events) > 3
    assert page["events"][0]["event_id"] == events[0]["event_id"]
    assert {"message.approved", "message.rejected", "message.cancelled"} <= {e["action"] for e in events}

    hook = await v(c.create_webhook("http://127.0.0.1:9/hook", events=["message.received"], mailbox=gated, description="sdk"))
    assert hook["webhook_id"] and hook["secret"]
    assert hook["webhook_id"] in [w["webhook_id"] for w in (await v(c.list_webhooks()))["webhooks"]]
    assert (await v(c.delete_webhook(hook["webhook_id"])))["deleted"] is True
    assert hook["webhook_id"] not in [w["webhook_id"] for w in (await v(c.list_webhooks()))["webhooks"]]

    key = await v(c.create_api_key(role="agent", mailboxes=[gated], name="sdk-agent"))
    assert key["api_key"].startswith("mm_live_") and key["role"] == "agent"
    assert key["key_id"] in [k["key_id"] for k in (await v(c.list_api_keys()))["keys"]]
    revoked = await v(c.revoke_api_key(key["key_id"]))
    assert revoked["key_id"] == key["key_id"] and revoked["revoked_at"]

    assert (await v(c.delete_mailbox(outside)))["deleted"] is True
    assert outside not in {m["address"] for m in (await v(c.list_mailboxes()))["mailboxes"]}


@pytest.mark.parametrize("cls", [MultiMail, AsyncMultiMail], ids=["sync", "async"])
def test_every_method_against_the_server(cls, conn):
    flavor = "sync" if cls is MultiMail else "async"
    recorders: list[Recorder] = []

    async def go(client):
        rec = Recorder(client)
        recorders.append(rec)
        await every_method(rec)

    run_client(flavor, go, **conn)
    missing = public_methods(cls) - recorders[0].used
    assert not missing, f"methods not exercised: {sorted(missing)}"


def test_errors_map_to_typed_exceptions(flavor, conn, server, mailbox):
    box = mailbox(oversight_mode="gated_send")
    other = mailbox(oversight_mode="autonomous")

    async def go(c):
        with pytest.raises(mm.NotFound) as info:
            await v(c.read_email("msg_doesnotexist"))
        assert (info.value.status, info.value.code) == (404, "message_not_found") and info.value.message
        with pytest.raises(mm.NotFound):
            await v(c.get_thread("thr_doesnotexist"))

        with pytest.raises(mm.BadRequest) as info:
            await v(c.send_email(sender=box, to=other, subject="s", body="b", oversight_mode="sometimes"))  # type: ignore[arg-type]
        assert info.value.status == 400 and info.value.details.get("field") == "oversight_mode"

        key = f"sdk-{secrets.token_hex(6)}"
        first = await v(c.send_email(sender=box, to=other, subject="Pinned", body="one", idempotency_key=key))
        again = await v(c.send_email(sender=box, to=other, subject="Pinned", body="one", idempotency_key=key))
        assert again.message_id == first.message_id and again.duplicate is True and first.duplicate is False
        with pytest.raises(mm.Conflict) as info:
            await v(c.send_email(sender=box, to=other, subject="Pinned", body="two", idempotency_key=key))
        assert (info.value.status, info.value.code) == (409, "idempotency_key_reused")

        agent_key = (await v(c.create_api_key(role="agent", mailboxes=[box], name="sdk-agent")))["api_key"]
        return first.message_id, agent_key

    message_id, agent_key = run_client(flavor, go, **conn)

    async def as_agent(c):
        with pytest.raises(mm.PermissionDenied) as info:
            await v(c.approve_message(message_id))
        assert info.value.status == 403
        pending = {m["message_id"]: m["status"] for m in (await v(c.list_pending(box)))["messages"]}
        assert pending[message_id] == "pending"  # the refusal changed nothing

    run_client(flavor, as_agent, api_key=agent_key, base_url=server.base)

    async def bad_key(c):
        with pytest.raises(mm.AuthenticationError) as info:
            await v(c.list_mailboxes())
        assert info.value.status == 401 and isinstance(info.value, mm.MultiMailError)

    run_client(flavor, bad_key, api_key="mm_live_not-a-real-key", base_url=server.base)


def test_connection_refused_is_connection_error(flavor):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go(c):
        with pytest.raises(mm.ConnectionError) as info:
            await v(c.health())
        assert info.value.status is None and info.value.code == "connection_error"

    run_client(flavor, go, base_url=f"http://127.0.0.1:{port}", max_retries=1, retry_backoff=0)
