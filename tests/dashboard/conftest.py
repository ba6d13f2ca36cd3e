"""Fixtures of the dashboard suite: a real `multimail serve` (its own, so its queue holds only
this suite's mail), a signed-in `requests` session, and a headless Debian chromium driven by
Playwright. What a page did is always checked through the API too.

- `dash`: the server (test_http.py's tests run on SQLite and, with MULTIMAIL_TEST_POSTGRES_URL,
  on PostgreSQL too); `admin`: an API client with its admin key.
- `tenant()`: a fresh gated_send mailbox with an agent and an approver key scoped to it.
- `hold(tenant)`: the agent sends a new conversation, which gated_send holds; its message id.
- `signed_in(key)`: a requests.Session signed in to the dashboard (with its CSRF token).
- `browser` / `page`: chromium (/usr/bin/chromium; a failure under CI=true when missing).
- `screenshots`: where the browser tests save the README's screenshots: docs/screenshots/ with
  MULTIMAIL_UPDATE_SCREENSHOTS=1, a temporary folder otherwise (so a test run leaves the
  committed pictures alone).
"""

from __future__ import annotations

import inspect
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import Api, require_service, start_session_server, unique_address, wait_for

CHROMIUM = "/usr/bin/chromium"
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# The dashboard's HTTP tests also run on PostgreSQL when it is there (like tests/api's `server`);
# the browser tests stay on SQLite, to keep CI time down. MULTIMAIL_TEST_DASHBOARD_DB=postgresql
# runs the whole suite on PostgreSQL instead.
BOTH_DATABASES = {"test_http"}
SERVER_FIXTURES = {"dash", "admin", "tenant", "hold", "signed_in"}


def pytest_generate_tests(metafunc):
    if "dash" not in metafunc.fixturenames:
        return
    from tests.conftest import PG_ENV

    if os.environ.get("MULTIMAIL_TEST_DASHBOARD_DB") == "postgresql":
        databases = ["postgresql"]
    elif (metafunc.module.__name__.rpartition(".")[2] in BOTH_DATABASES and os.environ.get(PG_ENV)
          and SERVER_FIXTURES & set(inspect.signature(metafunc.function).parameters)):
        databases = ["sqlite", "postgresql"]  # (a test that starts servers of its own runs once)
    else:
        databases = ["sqlite"]
    metafunc.parametrize("dash", databases, indirect=True, scope="session")


@pytest.fixture(scope="session")
def dash(request, tmp_path_factory):
    """The suite's server, on SQLite or PostgreSQL (see pytest_generate_tests)."""
    from tests.conftest import PG_ENV, fresh_pg_database

    env = {"MULTIMAIL_PREFECT_UI_URL": "http://127.0.0.1:4200"}
    if request.param == "postgresql":
        require_service("PostgreSQL", bool(os.environ.get(PG_ENV)), f"set {PG_ENV}")
        with fresh_pg_database("mm_dash") as url:
            srv = start_session_server(tmp_path_factory.mktemp("dash-pg"), database_url=url, env=env)
            yield srv
            srv.stop()
        return
    srv = start_session_server(tmp_path_factory.mktemp("dash"), env=env)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def admin(dash) -> Api:
    return Api(dash.base, dash.admin_key)


@pytest.fixture(autouse=True)
def no_server_errors(dash):
    """A traceback in the server's log while a test ran fails it (a crashed request is a bug)."""
    start = len(dash.log())
    yield
    new = dash.log()[start:]
    assert "Traceback" not in new, f"the server logged an error during this test:\n{new[-4000:]}"


@dataclass
class Tenant:
    mailbox: str
    agent: Api
    approver: Api
    approver_key_id: str


@pytest.fixture
def tenant(admin):
    def _make(mode: str = "gated_send", address: str | None = None) -> Tenant:
        address = address or unique_address("desk")
        admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": mode, "display_name": "Sales desk"})
        agent = admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [address], "name": "flows"})
        approver = admin.ok("POST", "create_api_key", {"role": "approver", "mailboxes": [address], "name": "ana"})
        return Tenant(address, Api(admin.base, agent["api_key"]), Api(admin.base, approver["api_key"]), approver["key_id"])

    return _make


@pytest.fixture
def hold():
    def _hold(t: Tenant, subject: str | None = None, body: str = "Hi Ana, revenue is up 12% this quarter.", **fields) -> str:
        sent = t.agent.ok("POST", "send_email", {"from": t.mailbox, "to": fields.pop("to", "ana@partner.test"),
                                                 "subject": subject or f"Numbers {secrets.token_hex(3)}", "body": body, **fields})
        assert sent["approval_status"] == "pending", sent
        return sent["message_id"]

    return _hold


def approval_of(api: Api, message_id: str) -> dict:
    return api.ok("GET", "read_email", message_id=message_id)


def pending_item(api: Api, message_id: str) -> dict:
    """The message's approval item (list_pending for one message): status, decided_by, note."""
    return api.ok("GET", "list_pending", message_id=message_id)["messages"][0]


def wait_sent(api: Api, message_id: str) -> dict:
    return wait_for(lambda: (m := approval_of(api, message_id))["status"] == "sent" and m, timeout=15,
                    what=f"{message_id} to be sent")


class Dashboard:
    """A requests.Session signed in to the dashboard, as a browser would be (cookies kept)."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def sign_in(self, key: str) -> requests.Response:
        form = self.http.get(f"{self.base}/login", timeout=10)
        token = CSRF.search(form.text).group(1)
        r = self.http.post(f"{self.base}/login", data={"csrf": token, "api_key": key, "next": "/"}, timeout=10,
                           allow_redirects=False)
        if r.status_code == 303:
            self.csrf = CSRF.search(self.get("/").text).group(1)
        return r

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(f"{self.base}{path}", timeout=10, allow_redirects=False, **kw)

    def post(self, path: str, data: dict, *, csrf: bool = True) -> requests.Response:
        return self.http.post(f"{self.base}{path}", data={**({"csrf": self.csrf} if csrf else {}), **data}, timeout=10,
                              allow_redirects=False)


@pytest.fixture
def signed_in(dash):
    def _sign_in(key: str) -> Dashboard:
        d = Dashboard(dash.base)
        r = d.sign_in(key)
        assert r.status_code == 303, r.text[:500]
        return d

    return _sign_in


# -- the browser ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    """A chromium per browser-test module, not per session: Playwright's sync API runs an asyncio
    loop in the main thread for as long as it is started, and every later test that calls
    asyncio.run in the main thread (the SDK's sync paths, Prefect) would fail with "cannot be
    called from a running event loop". Module scope ends it with the module (pytest finalizes a
    module's fixtures before the next module runs), and test_browser*.py call asyncio.run only
    from threads of their own (test_reject_with_a_reason's waiting agent); each test still gets
    its own browser context (`page`), so no cookie or storage crosses tests."""
    require_service("chromium", Path(CHROMIUM).exists(), "apt-get install -y chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("playwright", False, 'pip install -e ".[test]"')
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"the page's script failed: {errors}"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = DOC_SCREENSHOTS if os.environ.get("MULTIMAIL_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def browser_sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/login?r=1")  # r=1: the form as a same-site visit gets it (no re-ask, see pages.login_form)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
