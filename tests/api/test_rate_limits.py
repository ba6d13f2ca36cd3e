"""The API's rate limits over real HTTP against real servers started with small limits: per key,
wrong keys per IP (a right key is refused too once an IP guessed too often), requests without a
key per IP, verify_message and the one-click decision links per IP (the links answer a plain
HTML 429 page), `/health` never; limits can be switched off, and a Redis storage makes two
server processes share one budget where the default in-memory storage does not."""

from __future__ import annotations

import random

import pytest
import requests
from limits import parse

from multimail_server.config import Settings
from tests.conftest import Api, ServerProcess, require_service

from .helpers import assert_error


@pytest.fixture
def limited(tmp_path):
    """limited(**settings) -> a fresh server (no SMTP) with these MULTIMAIL_RATE_LIMIT_* values."""
    started: list[ServerProcess] = []

    def _start(**limits: str) -> ServerProcess:
        env = {f"MULTIMAIL_RATE_LIMIT_{name.upper()}": value for name, value in limits.items()}
        srv = ServerProcess(tmp_path / f"srv{len(started)}", smtp=False, env=env)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop()


def assert_rate_limited(r: requests.Response, limit: str) -> dict:
    err = assert_error(r, 429, "rate_limited")
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= parse(limit).get_expiry()
    assert err["details"] == {"limit": str(parse(limit)), "retry_after": retry_after}
    return err


def new_key(admin: Api) -> Api:
    return Api(admin.base, admin.ok("POST", "create_api_key", {"role": "agent", "name": "limited"})["api_key"])


def test_defaults_are_what_a_small_team_would_pick():
    s = Settings()
    assert s.rate_limit_enabled and s.rate_limit_storage == "memory://"
    assert (s.rate_limit_per_key, s.rate_limit_per_ip, s.rate_limit_auth_failures) == ("600/minute", "300/minute", "20/minute")
    assert (s.rate_limit_verify, s.rate_limit_links) == ("30/minute", "30/minute")
    assert (s.long_poll_max_per_key, s.long_poll_max_total) == (50, 2000)


def test_each_key_has_its_own_budget_and_health_is_never_limited(limited):
    srv = limited(per_key="5/minute")
    admin = Api(srv.base, srv.admin_key)
    one, two = new_key(admin), new_key(admin)
    for _ in range(5):
        one.ok("GET", "list_mailboxes")
    assert_rate_limited(one.get("list_mailboxes"), "5/minute")
    assert_rate_limited(one.post("create_mailbox", {"address": "late@acme.test"}), "5/minute")
    two.ok("GET", "list_mailboxes")  # another key is not affected
    for _ in range(30):
        assert requests.get(srv.base + "/health", timeout=10).status_code == 200
    # The refused write changed nothing.
    assert "late@acme.test" not in str(two.ok("GET", "list_mailboxes"))


def test_wrong_keys_are_limited_per_ip_and_then_even_a_right_key_waits(limited):
    srv = limited(auth_failures="3/minute")
    admin = Api(srv.base, srv.admin_key)
    guesser = Api(srv.base, "mm_live_guess")
    for _ in range(3):
        assert_error(guesser.get("list_mailboxes"), 401, "invalid_api_key")
    assert_rate_limited(guesser.get("list_mailboxes"), "3/minute")
    assert_rate_limited(admin.get("list_mailboxes"), "3/minute")  # no more guesses from this IP


def test_requests_without_a_key_are_limited_per_ip(limited):
    srv = limited(per_ip="4/minute")
    anonymous = Api(srv.base, None)
    for _ in range(4):
        assert_error(anonymous.get("list_mailboxes"), 401, "missing_api_key")
    assert_rate_limited(anonymous.get("list_mailboxes"), "4/minute")
    assert_rate_limited(requests.get(srv.base + "/.well-known/multimail-signing-key", timeout=10), "4/minute")
    for _ in range(10):  # /health is never limited, even for an IP that used up its budget
        assert requests.get(srv.base + "/health", timeout=10).status_code == 200
    Api(srv.base, srv.admin_key).ok("GET", "list_mailboxes")  # a key has its own budget


def test_verify_message_is_limited_per_ip(limited):
    srv = limited(verify="3/minute")
    raw = b"From: a@partner.test\r\nTo: b@acme.test\r\nSubject: hi\r\n\r\nhello\r\n"

    def verify() -> requests.Response:
        return requests.post(srv.base + "/v1/verify_message", data=raw, headers={"Content-Type": "message/rfc822"}, timeout=10)

    for _ in range(3):
        assert verify().status_code == 200
    assert_rate_limited(verify(), "3/minute")


def test_decision_links_are_limited_per_ip_with_a_plain_page(limited):
    srv = limited(links="3/minute")
    link = srv.base + "/d/not-a-real-token"
    assert requests.get(link, timeout=10).status_code == 404
    assert requests.post(link, timeout=10).status_code == 404
    assert requests.get(link, timeout=10).status_code == 404
    for method in ("GET", "POST"):
        r = requests.request(method, link, timeout=10)
        assert r.status_code == 429, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "Too many requests" in r.text


def test_one_setting_turns_every_limit_off(limited):
    srv = limited(enabled="false", per_key="1/minute", auth_failures="1/minute", per_ip="1/minute")
    admin = Api(srv.base, srv.admin_key)
    for _ in range(5):
        admin.ok("GET", "list_mailboxes")
        assert_error(Api(srv.base, "mm_live_guess").get("list_mailboxes"), 401)
        assert_error(Api(srv.base, None).get("list_mailboxes"), 401)


def unique_limit() -> str:
    """A limit whose counters no earlier run left in the shared Redis (the window is part of
    the counter's name)."""
    return f"3 per {random.randint(1000, 99999)} seconds"


def test_redis_storage_shares_one_budget_between_processes(limited):
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
        up = True
    except Exception:
        up = False
    require_service("Redis", up, "start redis-server on 127.0.0.1:6379 (.ci/run does)")
    limit = unique_limit()
    a = limited(storage="redis://127.0.0.1:6379", auth_failures=limit)
    b = limited(storage="redis://127.0.0.1:6379", auth_failures=limit)
    on_a, on_b = Api(a.base, "mm_live_guess"), Api(b.base, "mm_live_guess")
    assert_error(on_a.get("list_mailboxes"), 401)
    assert_error(on_a.get("list_mailboxes"), 401)
    assert_error(on_b.get("list_mailboxes"), 401)
    assert_rate_limited(on_a.get("list_mailboxes"), limit)  # server B's failure counted on A
    assert_rate_limited(on_b.get("list_mailboxes"), limit)


def test_memory_storage_counts_per_process(limited):
    a, b = limited(auth_failures="3/minute"), limited(auth_failures="3/minute")
    on_a, on_b = Api(a.base, "mm_live_guess"), Api(b.base, "mm_live_guess")
    for api in (on_a, on_a, on_b, on_b):
        assert_error(api.get("list_mailboxes"), 401)
    assert_error(on_a.get("list_mailboxes"), 401, "invalid_api_key")  # 3rd failure on A: still counted, not refused
    assert_rate_limited(on_a.get("list_mailboxes"), "3/minute")


def test_an_unreachable_shared_storage_lets_requests_through_and_says_so(limited):
    srv = limited(storage="redis://127.0.0.1:9", per_key="1/minute")  # nothing listens on port 9
    admin = Api(srv.base, srv.admin_key)
    for _ in range(3):
        admin.ok("GET", "list_mailboxes")
    assert "rate limit storage redis://127.0.0.1:9 unavailable" in srv.log()


def test_a_trusted_proxy_names_the_client_and_nobody_else_can(limited):
    """Behind a reverse proxy on this machine (the default MULTIMAIL_FORWARDED_ALLOW_IPS), per-IP
    budgets count the client named in X-Forwarded-For, so one guesser does not lock out everyone
    behind the proxy; with no trusted proxy the header is ignored and the peer is the client."""
    srv = limited(auth_failures="2/minute")
    admin = Api(srv.base, srv.admin_key)

    def guess(forwarded: str) -> requests.Response:
        return requests.get(srv.base + "/v1/list_mailboxes", timeout=10,
                            headers={"Authorization": "Bearer mm_live_guess", "X-Forwarded-For": forwarded})

    for _ in range(2):
        assert_error(guess("203.0.113.7"), 401, "invalid_api_key")
    assert_rate_limited(guess("203.0.113.7"), "2/minute")
    # A client prepending an address of its own is still counted as the address the proxy appended.
    assert_rate_limited(guess("198.51.100.1, 203.0.113.7"), "2/minute")
    assert_error(guess("203.0.113.8"), 401, "invalid_api_key")  # another client behind the proxy
    admin.ok("GET", "list_mailboxes")  # the proxy itself (no header) has its own budget

    srv.stop()
    untrusting = ServerProcess(srv.data_dir.parent / "untrusting", smtp=False,
                               env={"MULTIMAIL_RATE_LIMIT_AUTH_FAILURES": "2/minute", "MULTIMAIL_FORWARDED_ALLOW_IPS": ""})
    try:
        for forwarded in ("203.0.113.7", "203.0.113.8"):
            assert_error(requests.get(untrusting.base + "/v1/list_mailboxes", timeout=10,
                                      headers={"Authorization": "Bearer mm_live_guess", "X-Forwarded-For": forwarded}),
                         401, "invalid_api_key")
        r = requests.get(untrusting.base + "/v1/list_mailboxes", timeout=10,
                         headers={"Authorization": "Bearer mm_live_guess", "X-Forwarded-For": "203.0.113.9"})
        assert_rate_limited(r, "2/minute")  # every "client" was the one peer
    finally:
        untrusting.stop()


def test_a_proxy_setting_that_is_not_an_address_is_refused_at_start():
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(forwarded_allow_ips="127.0.0.1, proxy.internal")
    assert Settings(forwarded_allow_ips=" 10.0.0.0/8 , ::1 ").forwarded_allow_ips == "10.0.0.0/8,::1"
