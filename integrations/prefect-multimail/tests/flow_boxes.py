"""Mailboxes for the flows under test: a mailbox on a MultiMail server with the keys a flow
(agent) and a human (approver) use."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from prefect_multimail import MultiMailCredentials

from multimail_server.testing import Api, ServerProcess


@dataclass
class Box:
    """A mailbox with the keys a flow (agent) and a human (approver) use."""

    address: str
    credentials: MultiMailCredentials
    agent: Api
    approver: Api
    server: ServerProcess


def make_box(server: ServerProcess, admin: Api, oversight_mode: str = "gated_send") -> Box:
    address = f"flows-{secrets.token_hex(4)}@acme.test"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": oversight_mode})
    agent_key = admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [address], "name": "prefect-flows"})["api_key"]
    approver_key = admin.ok("POST", "create_api_key", {"role": "approver", "mailboxes": [address], "name": "human"})["api_key"]
    return Box(address, MultiMailCredentials(api_key=agent_key, base_url=server.base), Api(server.base, agent_key),
               Api(server.base, approver_key), server)
