"""Fixtures of the retention, export and blob store suite: a migrated store on each database
(`db_url`), with its bytes in the database, in a file:// blob store or in an fsspec memory://
one, a Context whose clock the test moves, and mail that really went through the services
(sent by one hosted mailbox, delivered to another by the delivery worker)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context, sending
from multimail_server.services import mailboxes as mailbox_svc
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.store import blobs, open_store

from ..conftest import Clock, Db, db_url  # noqa: F401


@pytest.fixture(params=["db", "file", "memory"])
def blob_url(request, tmp_path) -> str | None:
    if request.param == "db":
        return None
    if request.param == "file":
        return (tmp_path / "blobs").as_uri()
    return f"memory://blobs-{secrets.token_hex(6)}"


@pytest.fixture
def store(db_url, blob_url):  # noqa: F811
    st = open_store(db_url)
    blobs.attach(st.engine, blobs.open_blob_store(blob_url))
    yield st
    blobs.attach(st.engine, None)
    st.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(Clock.real_now())


@pytest.fixture
def ctx(store, clock, tmp_path, blob_url) -> Context:
    return Context(store=store, settings=Settings(data_dir=tmp_path, blob_store=blob_url, blob_gc_grace_seconds=60),
                   clock=clock)


@pytest.fixture
def operator() -> Principal:
    return Principal.local_operator()


@pytest.fixture
def db(store) -> Db:
    return Db(store)


@pytest.fixture
def new_mailbox(ctx, operator):
    def _make(**fields: Any) -> str:
        address = fields.pop("address", None) or f"box-{secrets.token_hex(4)}@acme.test"
        mailbox_svc.create_mailbox(ctx, principal=operator, address=address, **fields)
        return address

    return _make


@pytest.fixture
def deliver(ctx, operator):
    """deliver(sender, to, subject=..., body=..., attachments=[(name, bytes)]) -> the outbound
    message id, once the delivery worker handed it over (to a hosted mailbox: locally)."""

    def _send(sender: str, to: str, *, subject: str | None = None, body: str = "Hello.",
              attachments: list[tuple[str, bytes]] | None = None) -> str:
        atts = [{"filename": name, "content_type": "application/octet-stream",
                 "content_base64": base64.b64encode(data).decode()} for name, data in attachments or []]
        sent = sending.send_email(ctx, principal=operator, sender=sender, to=to, subject=subject or f"s-{secrets.token_hex(3)}",
                                  body=body, attachments=atts or None)
        worker = DeliveryWorker(ctx)
        while worker.run_once():
            pass
        return sent["message_id"]

    return _send
