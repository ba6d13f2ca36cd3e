"""MultiMail events as Prefect events: names, resources, stable ids."""

from __future__ import annotations

import uuid

from multimail_server.core.prefect_events import prefect_event, prefect_event_id


def _envelope(**data):
    return {"id": "evt_abc", "type": "message.received", "created_at": "2026-11-26T12:00:00Z", "data": data}


def test_a_message_event_names_the_message_and_relates_its_mailbox_and_thread():
    ev = prefect_event(_envelope(message_id="msg_1", thread_id="thr_1", mailbox="in@acme.test", subject="Invoice"))
    assert ev["event"] == "multimail.message.received"
    assert ev["occurred"] == "2026-11-26T12:00:00Z"
    assert ev["resource"] == {"prefect.resource.id": "multimail.message.msg_1", "prefect.resource.name": "Invoice"}
    assert {"prefect.resource.id": "multimail.mailbox.in@acme.test", "prefect.resource.role": "mailbox",
            "prefect.resource.name": "in@acme.test"} in ev["related"]
    assert {"prefect.resource.id": "multimail.thread.thr_1", "prefect.resource.role": "thread"} in ev["related"]
    assert ev["payload"]["subject"] == "Invoice"


def test_the_prefect_id_is_a_uuid_derived_from_the_event_id_so_retries_are_one_event():
    a = prefect_event(_envelope(message_id="msg_1"))["id"]
    assert a == prefect_event(_envelope(message_id="msg_1"))["id"] == prefect_event_id("evt_abc")
    assert uuid.UUID(a) and a != prefect_event_id("evt_abd")


def test_events_without_a_message_still_have_a_resource():
    ev = prefect_event({"id": "evt_1", "type": "webhook.test", "created_at": "2026-11-26T12:00:00Z", "data": {"webhook_id": "wh_1"}})
    assert ev["resource"]["prefect.resource.id"] == "multimail.webhook.wh_1" and ev["related"] == []
    ev = prefect_event({"id": "evt_2", "type": "x.y", "created_at": "2026-11-26T12:00:00Z", "data": {}})
    assert ev["resource"]["prefect.resource.id"] == "multimail.event.evt_2"
