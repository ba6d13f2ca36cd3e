"""Fixtures of the prefect-multimail suite, which runs on its own (``python3 -m pytest
integrations/prefect-multimail/tests``) or within the repository's suite.

- `prefect_api_url` / `prefect_server` (from :mod:`multimail_server.testing`, the helpers shipped with
  the server): one temporary Prefect server and one MultiMail server (a real ``multimail serve``
  subprocess) that resumes runs through it, for the whole session.
- `gated`: a fresh `gated_send` mailbox on that server with an agent key (as credentials block
  and as `Api`) and an approver key, per test (see flow_boxes.py).
- `mm_admin`: an admin `Api` for it.

The directory is not a package (as in Prefect's own integrations): its modules are imported by
their file names, which are distinct from the repository suite's (a package named `tests`).
"""

from __future__ import annotations

import pytest

pytest.importorskip("prefect")
pytest.importorskip("prefect_multimail")

from flow_boxes import Box, make_box  # noqa: E402

import multimail_server.testing as servers  # noqa: E402
from multimail_server.testing import Api  # noqa: E402

prefect_api_url = servers.prefect_api_url  # the fixtures, made this suite's
prefect_server = servers.prefect_server


@pytest.fixture(scope="session")
def mm_admin(prefect_server) -> Api:
    return Api(prefect_server.base, prefect_server.admin_key)


@pytest.fixture
def gated(prefect_server, mm_admin) -> Box:
    return make_box(prefect_server, mm_admin)
