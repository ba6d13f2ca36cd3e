"""The webhook address guard over real HTTP: create_webhook refuses every address that is not
globally routable, written in any of the forms that reach it (IPv4 inside IPv6, tunnels, NAT64),
with the API's error shape, and creates nothing."""

from __future__ import annotations

import pytest

from tests.conftest import Api, ServerProcess

# Refused on every server, even one that may call receivers on its own private network.
ALWAYS_REFUSED = [
    ("0.0.0.1", "this network 0.0.0.0/8 (Linux connects it to the local host)"),
    ("0.0.0.0", "unspecified"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "IPv4 link-local"),
    ("fe80::1", "IPv6 link-local"),
    ("224.0.0.1", "IPv4 multicast"),
    ("239.255.255.250", "IPv4 multicast (SSDP)"),
    ("ff0e::1", "IPv6 global-scope multicast"),
    ("240.0.0.1", "IPv4 reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.1", "documentation TEST-NET-1"),
    ("198.18.0.1", "benchmarking"),
    ("2001:db8::1", "IPv6 documentation"),
    ("3fff::1", "IPv6 documentation (RFC 9637)"),
    ("100::1", "IPv6 discard-only"),
    ("64:ff9b:1::a00:1", "local-use NAT64 (RFC 8215)"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of the metadata address"),
    ("64:ff9b::0:1", "NAT64 of 0.0.0.1"),
    ("::ffff:0.0.0.1", "IPv4-mapped 0.0.0.1"),
    ("2002:7f00:1::1", "6to4 of 127.0.0.1"),
    ("2002:a00:1::1", "6to4 of 10.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 of the metadata address"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"),
    ("2001::5ef5:79fe", "Teredo with server 0.0.0.0"),
]

# Refused where the operator did not allow private receivers (MULTIMAIL_WEBHOOK_ALLOW_PRIVATE=false).
PRIVATE = [
    ("127.0.0.1", "IPv4 loopback"),
    ("::1", "IPv6 loopback"),
    ("10.1.2.3", "RFC 1918"),
    ("172.16.0.1", "RFC 1918"),
    ("192.168.1.1", "RFC 1918"),
    ("100.64.0.1", "CGNAT"),
    ("fc00::1", "IPv6 unique-local"),
    ("fec0::1", "IPv6 site-local (deprecated)"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
]


def url_for(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:9/hook"


def assert_refused(api: Api, address: str) -> None:
    before = api.ok("GET", "list_webhooks")["webhooks"]
    r = api.post("create_webhook", {"url": url_for(address)})
    assert r.status_code == 400, f"{address}: {r.status_code} {r.text}"
    err = r.json()["error"]
    assert err["code"] == "webhook_url_refused" and address in err["message"] and err["details"] == {"field": "url"}
    assert api.ok("GET", "list_webhooks")["webhooks"] == before


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server on loopback that the operator told not to call private receivers."""
    srv = ServerProcess(tmp_path_factory.mktemp("ssrf-strict"), env={"MULTIMAIL_WEBHOOK_ALLOW_PRIVATE": "false"}, smtp=False)
    yield Api(srv.base, srv.admin_key)
    srv.stop()


@pytest.mark.parametrize("address,what", ALWAYS_REFUSED + PRIVATE)
def test_non_global_addresses_are_refused_when_private_receivers_are_not_allowed(strict, address, what):
    assert_refused(strict, address)


@pytest.mark.parametrize("address,what", ALWAYS_REFUSED)
def test_special_purpose_addresses_are_refused_even_where_private_receivers_are_allowed(admin, address, what):
    # The session server listens on loopback, so it may call loopback and private receivers.
    assert_refused(admin, address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_global_addresses_in_any_form_are_accepted(strict, address):
    hook = strict.ok("POST", "create_webhook", {"url": url_for(address)})
    strict.ok("POST", "delete_webhook", {"webhook_id": hook["webhook_id"]})
