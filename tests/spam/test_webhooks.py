"""Webhooks and spam: quarantined mail announces itself as `message.spam`, never as
`message.received`, until not_spam releases it into the inbox (then `message.received`)."""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.conftest import wait_for
from tests.webhooks.conftest import receiver  # noqa: F401

from .conftest import GTUBE, stored


def test_spam_is_message_spam_until_released(admin, mailbox, deliver, receiver):  # noqa: F811
    box = mailbox()
    hook = admin.ok("POST", "create_webhook", {"url": receiver.url, "mailbox": box,
                                               "events": ["message.received", "message.spam"]})
    ham = deliver(box)
    gtube = deliver(box, body=GTUBE)
    ham_id, spam_id = stored(admin, box, ham)["message_id"], stored(admin, box, gtube)["message_id"]

    def events(at_least: int):
        got = [Webhook(hook["secret"]).verify(r["body"], r["headers"]) for r in list(receiver.requests)]
        return got if len(got) >= at_least else None

    got = wait_for(lambda: events(2), what="two events")
    assert sorted((e["type"], e["data"]["message_id"]) for e in got) == sorted(
        [("message.received", ham_id), ("message.spam", spam_id)])
    [spam_event] = [e for e in got if e["type"] == "message.spam"]
    assert spam_event["data"]["spam"]["state"] == "quarantined"
    admin.ok("POST", "not_spam", {"message_id": spam_id})
    got = wait_for(lambda: events(3), what="the release's event")
    assert (got[-1]["type"], got[-1]["data"]["message_id"]) == ("message.received", spam_id)
    assert got[-1]["data"]["released_from_spam"] is True
