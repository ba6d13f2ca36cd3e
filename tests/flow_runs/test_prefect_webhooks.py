"""Inbound mail starts flow runs: the `prefect_deployment` webhook kind against a deployment that
a real Runner serves, and the `prefect_events` kind into Prefect's event stream."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.conftest import Api, unique_address, wait_for

pytest.importorskip("prefect")

HERE = Path(__file__).parent


def _smtp(server, to: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "Ana <ana@partner.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@partner.test>"
    msg.set_content("Please handle this.")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=20) as s:
        s.send_message(msg)


@pytest.fixture(scope="module")
def api(prefect_server) -> Api:
    return Api(prefect_server.base, prefect_server.admin_key)


@pytest.fixture(scope="module")
def served(prefect_server, prefect_api_url, api, tmp_path_factory):
    """`handle-inbound/inbound`, served by a Runner in its own process."""
    log = open(tmp_path_factory.mktemp("runner") / "runner.log", "w")
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "MM_BASE": prefect_server.base, "MM_KEY": api.key,
           "PYTHONPATH": str(HERE.parent.parent)}
    proc = subprocess.Popen([sys.executable, str(HERE / "served_inbound_flow.py")], env=env, stdout=log, stderr=subprocess.STDOUT)
    prefect = httpx.Client(base_url=prefect_api_url, timeout=10)
    try:
        deployment = wait_for(lambda: prefect.get("/deployments/name/handle-inbound/inbound").json().get("id")
                              if prefect.get("/deployments/name/handle-inbound/inbound").status_code == 200 else None, timeout=60)
        yield {"id": deployment, "prefect": prefect}
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def test_an_inbound_smtp_message_starts_a_run_of_the_served_deployment(prefect_server, api, served):
    box = unique_address("inbox")
    api.ok("POST", "create_mailbox", {"address": box})
    hook = api.ok("POST", "create_webhook", {"kind": "prefect_deployment", "deployment": "handle-inbound/inbound",
                                             "parameter": "message", "events": ["message.received"], "mailbox": box})
    assert hook["kind"] == "prefect_deployment" and hook["url"] is None and hook["deployment"] == "handle-inbound/inbound"
    _smtp(prefect_server, box, "Invoice 42")
    msg_id = wait_for(lambda: (api.ok("GET", "check_inbox", mailbox=box)["messages"] or [{}])[0].get("message_id"), timeout=20)

    def handled():
        tags = api.ok("GET", "read_email", message_id=msg_id)["tags"]
        return tags.get("handled_by")

    run_id = wait_for(handled, timeout=90)
    message = api.ok("GET", "read_email", message_id=msg_id)
    runs = message["metadata"]["prefect"]["flow_runs"]
    assert [r["flow_run_id"] for r in runs] == [run_id]
    assert runs[0]["deployment_id"] == served["id"] and runs[0]["webhook_id"] == hook["webhook_id"]
    flow_run = served["prefect"].get(f"/flow_runs/{run_id}").json()
    assert flow_run["parameters"]["message"]["subject"] == "Invoice 42"
    assert flow_run["deployment_id"] == served["id"]
    wait_for(lambda: served["prefect"].get(f"/flow_runs/{run_id}").json()["state"]["type"] == "COMPLETED", timeout=60)
    assert "prefect.flow_run_created" in [e["action"] for e in api.ok("GET", "audit_log", message_id=msg_id)["events"]]

    # a redelivery is the same run (the delivery id is Prefect's idempotency key), not a second one
    delivery = api.ok("GET", "list_webhook_deliveries", webhook_id=hook["webhook_id"])["deliveries"][0]
    api.ok("POST", "redeliver", {"delivery_id": delivery["delivery_id"]})

    seen: list[dict] = []

    def redelivered():
        d = api.ok("GET", "list_webhook_deliveries", webhook_id=hook["webhook_id"])["deliveries"][0]
        seen[:] = [d]
        # at least one more attempt: under load an attempt may time out against Prefect and be retried,
        # which is the case the idempotency key is for (the run count below is what must not change)
        return d["status"] == "succeeded" and d["attempts"] >= 2

    wait_for(redelivered, timeout=90, what=lambda: f"the redelivery to succeed (last seen: {seen})")
    runs = api.ok("GET", "read_email", message_id=msg_id)["metadata"]["prefect"]["flow_runs"]
    assert [r["flow_run_id"] for r in runs] == [run_id]
    api.ok("POST", "delete_webhook", {"webhook_id": hook["webhook_id"]})


def test_deployments_and_parameters_are_checked_when_the_webhook_is_created(api, served):
    assert_error(api.post("create_webhook", {"kind": "prefect_deployment", "deployment": "handle-inbound/nope"}), 422,
                 "deployment_not_found")
    assert_error(api.post("create_webhook", {"kind": "prefect_deployment", "deployment": str(uuid.uuid4())}), 422,
                 "deployment_not_found")
    err = assert_error(api.post("create_webhook", {"kind": "prefect_deployment", "deployment": served["id"], "parameter": "msg"}),
                       422, "unknown_parameter")
    assert err["details"]["parameters"] == ["message"]
    assert_error(api.post("create_webhook", {"kind": "prefect_deployment", "deployment": served["id"],
                                             "url": "http://127.0.0.1:9/"}), 400, "invalid_field")


def test_prefect_events_webhooks_put_mail_into_prefects_event_stream(prefect_server, prefect_api_url, api):
    box = unique_address("events")
    api.ok("POST", "create_mailbox", {"address": box})
    hook = api.ok("POST", "create_webhook", {"kind": "prefect_events", "events": ["message.received"], "mailbox": box})
    _smtp(prefect_server, box, "Event me")
    msg_id = wait_for(lambda: (api.ok("GET", "check_inbox", mailbox=box)["messages"] or [{}])[0].get("message_id"), timeout=20)
    prefect = httpx.Client(base_url=prefect_api_url, timeout=10)

    def found():
        r = prefect.post("/events/filter", json={"filter": {"resource": {"id": [f"multimail.message.{msg_id}"]}}, "limit": 10})
        return r.json().get("events") if r.status_code == 200 else None

    events = wait_for(found, timeout=30)
    assert events[0]["event"] == "multimail.message.received"
    assert events[0]["payload"]["subject"] == "Event me"
    assert any(r["prefect.resource.role"] == "mailbox" for r in events[0]["related"])
    api.ok("POST", "delete_webhook", {"webhook_id": hook["webhook_id"]})


def test_prefect_events_flag_emits_every_event_without_any_subscription(tmp_path, prefect_api_url):
    from tests.conftest import ServerProcess

    srv = ServerProcess(tmp_path / "mm", env={"MULTIMAIL_PREFECT_API_URL": prefect_api_url, "MULTIMAIL_PREFECT_EVENTS": "1"},
                        smtp=False)
    try:
        api = Api(srv.base, srv.admin_key)
        hooks = api.ok("GET", "list_webhooks")["webhooks"]
        assert [(h["kind"], h["events"], h["mailbox"]) for h in hooks] == [("prefect_events", None, None)]
        box = unique_address("gated")
        api.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
        msg = api.ok("POST", "send_email", {"from": box, "to": "bob@x.test", "subject": "Approve me", "body": "b"})["message_id"]
        api.ok("POST", "approve_message", {"message_id": msg})
        prefect = httpx.Client(base_url=prefect_api_url, timeout=10)

        def names():
            r = prefect.post("/events/filter", json={"filter": {"resource": {"id": [f"multimail.message.{msg}"]}}, "limit": 20})
            got = {e["event"] for e in r.json().get("events", [])} if r.status_code == 200 else set()
            return got if {"multimail.message.pending", "multimail.message.approved"} <= got else None

        wait_for(names, timeout=30)
    finally:
        srv.stop()
    # a restart does not add a second subscription
    srv = ServerProcess(tmp_path / "mm", env={"MULTIMAIL_PREFECT_API_URL": prefect_api_url, "MULTIMAIL_PREFECT_EVENTS": "1"},
                        smtp=False)
    try:
        assert len(Api(srv.base, srv.admin_key or api.key).ok("GET", "list_webhooks")["webhooks"]) == 1
    finally:
        srv.stop()
