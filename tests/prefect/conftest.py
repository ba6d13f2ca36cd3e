"""Fixtures of the prefect-multimail suite.

- `prefect_api_url` / `prefect_server` (tests/conftest.py): one temporary Prefect server and one
  MultiMail server that resumes runs through it, for the whole session.
- `gated`: a fresh `gated_send` mailbox on that server with an agent key (as credentials block
  and as `Api`) and an approver key, per test.
- `mm_admin`: an admin `Api` for it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

pytest.importorskip("prefect")
pytest.importorskip("prefect_multimail")

from prefect_multimail import MultiMailCredentials  # noqa: E402

from ..conftest import Api, ServerProcess  # noqa: E402


@dataclass
class Box:
    """A mailbox with the keys a flow (agent) and a human (approver) use."""

    address: str
    credentials: MultiMailCredentials
    agent: Api
    approver: Api
    server: ServerProcess


@pytest.fixture(scope="session")
def mm_admin(prefect_server) -> Api:
    return Api(prefect_server.base, prefect_server.admin_key)


def make_box(server: ServerProcess, admin: Api, oversight_mode: str = "gated_send") -> Box:
    address = f"flows-{secrets.token_hex(4)}@acme.test"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": oversight_mode})
    agent_key = admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [address], "name": "prefect-flows"})["api_key"]
    approver_key = admin.ok("POST", "create_api_key", {"role": "approver", "mailboxes": [address], "name": "human"})["api_key"]
    return Box(address, MultiMailCredentials(api_key=agent_key, base_url=server.base), Api(server.base, agent_key),
               Api(server.base, approver_key), server)


@pytest.fixture
def gated(prefect_server, mm_admin) -> Box:
    return make_box(prefect_server, mm_admin)
