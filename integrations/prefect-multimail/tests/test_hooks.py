"""cancel_pending_mail: both forms (the hook itself, and a factory given credentials or a block
name), where its credentials come from, and what it cancels (against the recording fake; the
real cancellation of a served run is in test_runner_cancellation.py)."""

from __future__ import annotations

import uuid

import pytest
from fake_multimail import FakeMultiMail
from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelling, Crashed
from prefect_multimail import MultiMailCredentials, cancel_pending_mail

pytestmark = pytest.mark.usefixtures("prefect_api_url")


@flow(name="mail-sender", on_cancellation=[cancel_pending_mail], on_crashed=[cancel_pending_mail])
def direct_flow():
    pass


def a_flow_run() -> FlowRun:
    return FlowRun(id=uuid.uuid4(), name="brave-otter", flow_id=uuid.uuid4())


def pending_item(message_id: str, flow_run_id: str, status: str = "pending", with_metadata: bool = True) -> dict:
    item = {"message_id": message_id, "status": status}
    if with_metadata:
        item["metadata"] = {"prefect": {"flow_run_id": flow_run_id}}
    return item


@pytest.fixture
def fake(monkeypatch) -> FakeMultiMail:
    fake = FakeMultiMail()
    fake.install(monkeypatch)
    for name in ("MULTIMAIL_API_KEY", "MULTIMAIL_BASE_URL", "MULTIMAIL_CREDENTIALS_BLOCK"):
        monkeypatch.delenv(name, raising=False)
    return fake


def cancels(fake: FakeMultiMail) -> list[dict]:
    return [fake.body(r) for r in fake.sent("cancel_message")]


def test_direct_form_uses_the_environment_and_cancels_only_this_runs_pending_mail(fake, monkeypatch):
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_live_env")
    monkeypatch.setenv("MULTIMAIL_BASE_URL", "http://env.test")
    run = a_flow_run()
    mine, other = str(run.id), str(uuid.uuid4())
    fake.pending = [pending_item("msg_a", mine), pending_item("msg_b", mine, status="approved"),
                    pending_item("msg_c", other),  # a server that ignored the filter must not make us cancel it
                    pending_item("msg_d", mine)]
    fake.cancel_answers["msg_d"] = 409  # approved in the meantime: fine

    assert direct_flow.on_cancellation_hooks == [cancel_pending_mail]
    assert cancel_pending_mail(direct_flow, run, Cancelling()) is None  # as the flow engine calls it

    [listing] = fake.sent("list_pending")
    assert listing.url.params["flow_run_id"] == mine
    assert listing.headers["Authorization"] == "Bearer mm_live_env" and listing.url.host == "env.test"
    done = cancels(fake)
    assert [c["message_id"] for c in done] == ["msg_a", "msg_d"]
    assert "brave-otter" in done[0]["reason"] and mine in done[0]["reason"] and "Cancelling" in done[0]["reason"]
    assert "mail-sender" in done[0]["reason"]


def test_direct_form_called_by_name_as_the_runner_does(fake):
    run = a_flow_run()
    fake.pending = [pending_item("msg_a", str(run.id), with_metadata=False)]  # no metadata: trust the filter
    cancel_pending_mail(flow=direct_flow, flow_run=run, state=Crashed())
    [cancel] = cancels(fake)
    assert cancel["message_id"] == "msg_a" and "Crashed" in cancel["reason"]


def test_factory_with_a_block(fake):
    hook = cancel_pending_mail(MultiMailCredentials(api_key="mm_live_block", base_url="http://block.test"))
    assert callable(hook) and hook.__name__ == "cancel_pending_mail"

    @flow(on_cancellation=[hook])
    def f():
        pass

    run = a_flow_run()
    fake.pending = [pending_item("msg_a", str(run.id))]
    f.on_cancellation_hooks[0](f, run, Cancelling())
    [listing] = fake.sent("list_pending")
    assert listing.headers["Authorization"] == "Bearer mm_live_block" and listing.url.host == "block.test"
    assert [c["message_id"] for c in cancels(fake)] == ["msg_a"]


def test_factory_with_a_block_name_loads_it_when_the_hook_runs(fake):
    hook = cancel_pending_mail("hook-test-creds")  # not saved yet: defining the flow needs no API
    MultiMailCredentials(api_key="mm_live_named", base_url="http://named.test").save("hook-test-creds", overwrite=True)
    hook(direct_flow, a_flow_run(), Cancelling())
    [listing] = fake.sent("list_pending")
    assert listing.headers["Authorization"] == "Bearer mm_live_named"


def test_direct_form_loads_the_block_named_by_the_environment(fake, monkeypatch):
    MultiMailCredentials(api_key="mm_live_env_block", base_url="http://envblock.test").save("hook-env-creds", overwrite=True)
    monkeypatch.setenv("MULTIMAIL_CREDENTIALS_BLOCK", "hook-env-creds")
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_live_ignored")
    cancel_pending_mail(direct_flow, a_flow_run(), Cancelling())
    [listing] = fake.sent("list_pending")
    assert listing.headers["Authorization"] == "Bearer mm_live_env_block" and listing.url.host == "envblock.test"


def test_nothing_pending_means_no_cancellation(fake):
    cancel_pending_mail(direct_flow, a_flow_run(), Cancelling())
    assert len(fake.sent("list_pending")) == 1 and cancels(fake) == []


def test_factory_refuses_what_is_not_credentials():
    with pytest.raises(TypeError):
        cancel_pending_mail(42)
    with pytest.raises(TypeError):
        cancel_pending_mail(MultiMailCredentials(), "extra")
