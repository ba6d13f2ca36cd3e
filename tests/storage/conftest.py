"""Service-level fixtures for the storage tests: a migrated store on each database (`db_url` from
the root conftest), a Context whose clock the test moves, keys and mailboxes made through the
services, and a few SQL helpers for checking what was (not) written."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context
from multimail_server.services import keys as key_svc
from multimail_server.services import mailboxes as mailbox_svc
from multimail_server.store import open_store

from ..conftest import Clock, Db


@pytest.fixture
def store(db_url):
    st = open_store(db_url)
    yield st
    st.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(Clock.real_now())


@pytest.fixture
def ctx(store, clock, tmp_path) -> Context:
    return Context(store=store, settings=Settings(data_dir=tmp_path), clock=clock)


@pytest.fixture
def operator() -> Principal:
    return Principal.local_operator()


@pytest.fixture
def new_mailbox(ctx, operator):
    """new_mailbox(oversight_mode="gated_send", idempotency_window_seconds=900) -> address."""

    def _make(**fields: Any) -> str:
        address = fields.pop("address", None) or f"box-{secrets.token_hex(4)}@acme.test"
        mailbox_svc.create_mailbox(ctx, principal=operator, address=address, **fields)
        return address

    return _make


@pytest.fixture
def principal_for(ctx, operator):
    """principal_for("agent", [address]) -> the Principal of a freshly created key."""

    def _make(role: str, mailboxes: list[str] | None = None) -> Principal:
        created = key_svc.create_key(ctx, principal=operator, role=role, mailboxes=mailboxes, name=f"test-{role}")
        return key_svc.authenticate(ctx, f"Bearer {created['api_key']}")

    return _make


@pytest.fixture
def db(store) -> Db:
    return Db(store)
