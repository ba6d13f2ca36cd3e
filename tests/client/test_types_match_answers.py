"""client/types.py is the one declaration of what each verb answers; the server uses the same
TypedDicts as its response models, and FastAPI drops any key a model lacks. So: call every verb
of a real server and check, answer by answer and at every depth, that the JSON keys are the ones
its TypedDict declares (none undeclared, none required missing), that every declared key shows up
in some answer, and that the values have the declared types (pydantic, strict)."""

from __future__ import annotations

import dataclasses
import typing
import uuid
from collections import defaultdict
from email.message import EmailMessage
from typing import Any

import requests
from pydantic import TypeAdapter
from typing_extensions import is_typeddict

from multimail_server.client import types as t
from tests.api.helpers import find_in_inbox, wait_status
from tests.conftest import Api, unique_address, wait_for
from tests.mail.test_smtp_inbound import smtp_send

_NONE = type(None)
RAW_MESSAGE = b"From: ana@partner.test\r\nTo: bob@example.com\r\nSubject: Hi\r\n\r\nHello\r\n"
# Declared keys this scenario cannot produce, and why.
UNSEEN = {
    "Webhook": {"deployment", "parameter"},  # kind prefect_deployment needs a Prefect API
}


def _typed_dict_members(hint: Any) -> list[type]:
    """The TypedDicts a hint allows (`X`, `X | None`, `X | Y`)."""
    if is_typeddict(hint):
        return [hint]
    return [a for a in typing.get_args(hint) if is_typeddict(a)] if typing.get_origin(hint) is typing.Union else []


def _list_item(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Union:
        hint = next((a for a in typing.get_args(hint) if a is not _NONE), hint)
    return typing.get_args(hint)[0] if typing.get_origin(hint) is list else None


class Shapes:
    """Walks answers against their TypedDicts, collecting the problems and the keys seen per type."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: dict[type, set[str]] = defaultdict(set)

    def check(self, where: str, td: type, value: Any) -> None:
        if not isinstance(value, dict):
            self.problems.append(f"{where}: {type(value).__name__}, expected the object {td.__name__}")
            return
        hints = typing.get_type_hints(td)
        undeclared = sorted(set(value) - set(hints))
        missing = sorted(td.__required_keys__ - set(value))
        if undeclared:
            self.problems.append(f"{where}: keys {undeclared} are not declared in {td.__name__}")
        if missing:
            self.problems.append(f"{where}: required keys {missing} of {td.__name__} are missing")
        self.seen[td] |= set(value)
        for key, item in value.items():
            if key in hints:
                self.value(f"{where}.{key}", hints[key], item)

    def value(self, where: str, hint: Any, item: Any) -> None:
        if item is None:
            return
        members = _typed_dict_members(hint)
        if members:
            # a union of TypedDicts (an outcome) is told apart by its `kind`
            chosen = next((m for m in members if item.get("kind") in typing.get_args(typing.get_type_hints(m).get("kind"))),
                          members[0]) if isinstance(item, dict) else members[0]
            self.check(where, chosen, item)
        elif (inner := _list_item(hint)) is not None and isinstance(item, list):
            for i, element in enumerate(item):
                self.value(f"{where}[{i}]", inner, element)


def _answers(server, admin: Api) -> list[tuple[str, type, Any]]:
    """(verb, declared type, JSON answer) for every JSON verb, from one scenario on a real server."""
    got: list[tuple[str, type, Any]] = []

    def ok(method: str, verb: str, td: type, body: Any = None, **params: Any) -> Any:
        answer = admin.ok(method, verb, body, **params)
        got.append((verb, td, answer))
        return answer

    got.append(("health", t.Health, requests.get(f"{server.base}/health", timeout=30).json()))
    verified = requests.post(f"{server.base}/v1/verify_message", data=RAW_MESSAGE,
                             headers={"Content-Type": "message/rfc822"}, timeout=30)
    got.append(("verify_message", t.VerifyResult, verified.json()))
    got.append(("signing_key", t.SigningKeys,
                requests.get(f"{server.base}/.well-known/multimail-signing-key", timeout=30).json()))

    missing = admin.get("read_email", message_id="msg_none")
    assert missing.status_code == 404
    got.append(("read_email (unknown id)", t.ErrorBody, missing.json()))

    # mailboxes
    gated, auto, inbox = unique_address("gated"), unique_address("auto"), unique_address("inbox")
    ok("POST", "create_mailbox", t.Mailbox, {"address": gated, "oversight_mode": "gated_send"})
    ok("POST", "create_mailbox", t.Mailbox, {"address": auto, "oversight_mode": "autonomous"})
    ok("POST", "create_mailbox", t.Mailbox, {"address": inbox, "oversight_mode": "autonomous"})
    ok("POST", "update_mailbox", t.Mailbox, {"mailbox": gated, "display_name": "Gated"})
    ok("GET", "list_mailboxes", t.MailboxList)

    # held messages and their approval: approve (after an edit), reject, cancel
    held = ok("POST", "send_email", t.SendAnswer, {"from": gated, "to": "bob@example.com", "subject": "Held",
              "body": "Hi", "html": "<p>Hi <img src='https://tracker.test/x.png'></p>",
              "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content_base64": "aGk="}]})
    ok("GET", "list_pending", t.PendingList, mailbox=gated)
    ok("GET", "list_pending", t.PendingList, message_id=held["message_id"])
    edited = ok("POST", "edit_message", t.PendingMessage, {"message_id": held["message_id"], "subject": "Held (edited)"})
    ok("GET", "read_email", t.Message, message_id=held["message_id"])
    ok("POST", "register_wait", t.FlowRunWait, {"flow_run_id": str(uuid.uuid4()), "message_id": held["message_id"]})
    ok("POST", "approve_message", t.PendingMessage, {"message_id": held["message_id"], "content_hash": edited["content_hash"]})
    for verb in ("reject_message", "cancel_message"):
        other = ok("POST", "send_email", t.SendAnswer, {"from": gated, "to": "bob@example.com", "subject": verb, "body": "x"})
        ok("POST", verb, t.PendingMessage, {"message_id": other["message_id"], "reason": "no"})
    ok("POST", "register_wait", t.FlowRunWait, {"flow_run_id": str(uuid.uuid4()), "message_id": other["message_id"]})
    refused = ok("POST", "decide_email", t.SendAnswer, {"from": gated, "to": "bob@example.com", "question": "Go?",
                 "options": ["yes", "no"]})
    ok("POST", "reject_message", t.PendingMessage, {"message_id": refused["message_id"]})
    ok("POST", "register_wait", t.FlowRunWait, {"flow_run_id": str(uuid.uuid4()), "thread_id": refused["thread_id"]})

    # mail between hosted mailboxes: inbox, reading, tags, threads, claims
    sent = ok("POST", "send_email", t.SendAnswer, {"from": auto, "to": inbox, "subject": "Local", "body": "Hello"})
    wait_status(admin, sent["message_id"], "sent")
    ok("GET", "read_email", t.Message, message_id=sent["message_id"])
    received = find_in_inbox(admin, inbox, "Local")
    ok("GET", "check_inbox", t.InboxPage, mailbox=inbox)
    ok("GET", "read_email", t.Message, message_id=received["message_id"])
    ok("POST", "tag_email", t.TagResult, {"message_id": received["message_id"], "tags": {"n": 1, "done": True, "s": "x"}})
    ok("POST", "reply_email", t.SendAnswer, {"message_id": received["message_id"], "body": "Thanks"})
    question = ok("POST", "decide_email", t.SendAnswer, {"from": auto, "to": "Boss <boss@partner.test>",
                  "question": "Ship?", "options": ["yes", "no"]})
    asked = wait_status(admin, question["message_id"], "sent")
    ok("GET", "get_thread", t.Thread, thread_id=received["thread_id"])
    ok("POST", "register_wait", t.FlowRunWait, {"flow_run_id": str(uuid.uuid4()), "thread_id": question["thread_id"]})
    answer = EmailMessage()  # the person asked answers from a mail client (partner.test passes DMARC)
    answer["From"], answer["To"], answer["Subject"] = "Boss <boss@partner.test>", auto, "Re: Ship?"
    answer["In-Reply-To"] = answer["References"] = asked["internet_message_id"]
    answer.set_content("yes")
    smtp_send(server, answer)
    wait_for(lambda: admin.ok("GET", "get_thread", thread_id=question["thread_id"])["decision"], what="the decision")
    ok("GET", "get_thread", t.Thread, thread_id=question["thread_id"])
    ok("POST", "register_wait", t.FlowRunWait, {"flow_run_id": str(uuid.uuid4()), "thread_id": question["thread_id"]})
    claim = ok("POST", "claim_messages", t.Claim, {"mailbox": inbox, "limit": 1})
    ok("POST", "release_messages", t.ReleaseResult, {"claim_id": claim["claim_id"]})
    claim = ok("POST", "claim_messages", t.Claim, {"mailbox": inbox, "limit": 1})
    ok("POST", "ack_messages", t.AckResult, {"claim_id": claim["claim_id"]})
    ok("POST", "claim_messages", t.Claim, {"mailbox": gated})  # nothing to claim
    ok("GET", "audit_log", t.AuditPage, mailbox=gated, limit=100)

    # webhooks
    hook = ok("POST", "create_webhook", t.Webhook, {"url": "https://hooks.example.com/mail", "events": ["message.received"]})
    ok("GET", "list_webhooks", t.WebhookList)
    ok("POST", "update_webhook", t.Webhook, {"webhook_id": hook["webhook_id"], "description": "changed"})
    ok("POST", "rotate_webhook_secret", t.Webhook, {"webhook_id": hook["webhook_id"]})
    test = ok("POST", "test_webhook", t.WebhookTest, {"webhook_id": hook["webhook_id"]})
    ok("GET", "list_webhook_deliveries", t.WebhookDeliveryPage, webhook_id=hook["webhook_id"])
    ok("POST", "redeliver", t.Redelivered, {"delivery_id": test["delivery_id"]})
    ok("GET", "list_event_types", t.EventTypeList)
    ok("POST", "delete_webhook", t.WebhookDeleted, {"webhook_id": hook["webhook_id"]})

    # the suppression list
    ok("POST", "add_suppression", t.SuppressionAdded, {"mailbox": auto, "address": "sup@partner.test", "detail": "by hand"})
    ok("GET", "list_suppressions", t.SuppressionPage, mailbox=auto)
    ok("POST", "remove_suppression", t.SuppressionsRemoved, {"mailbox": auto, "address": "sup@partner.test"})

    # the address book
    contact = ok("POST", "add_contact", t.ContactAdded, {"mailbox": auto, "email": "Con Tact <con@partner.test>", "tags": ["t"]})
    ok("GET", "search_contacts", t.ContactPage, mailbox=auto, q="con")
    ok("POST", "delete_contact", t.ContactDeleted, {"contact_id": contact["contact"]["contact_id"]})

    # API keys, then the mailbox's end
    key = ok("POST", "create_api_key", t.ApiKey, {"role": "agent", "mailboxes": [auto], "name": "shape"})
    ok("GET", "list_api_keys", t.ApiKeyList)
    ok("POST", "revoke_api_key", t.ApiKey, {"key_id": key["key_id"]})
    ok("POST", "delete_mailbox", t.MailboxDeleted, {"mailbox": gated})
    return got


def test_every_answer_has_exactly_the_keys_its_typed_dict_declares(server, admin):
    shapes = Shapes()
    answers = _answers(server, admin)
    for verb, td, answer in answers:
        shapes.check(verb, td, answer)
    never_seen = {td.__name__: sorted(set(typing.get_type_hints(td)) - keys)
                  for td, keys in shapes.seen.items() if set(typing.get_type_hints(td)) - keys - UNSEEN.get(td.__name__, set())}
    assert shapes.problems == [], "\n".join(shapes.problems)
    assert never_seen == {}, "declared keys no answer had (a misspelt or stale declaration)"
    for verb, td, answer in answers:
        TypeAdapter(td).validate_python(answer, strict=True)


def test_send_result_has_the_fields_of_the_send_answer():
    """The SDK's SendResult dataclass reads the answer that SendAnswer declares, field for field."""
    fields = {f.name for f in dataclasses.fields(t.SendResult)} - {"raw"}
    assert fields == set(typing.get_type_hints(t.SendAnswer))
