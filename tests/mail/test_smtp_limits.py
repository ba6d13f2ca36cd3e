"""SMTP rate limits over real SMTP (smtplib on loopback) against real servers started with small
limits: connections per IP at once and per minute (421 instead of a greeting), failed AUTH per
IP (535, then 421 and disconnect, even for a right key), and messages per minute per IP and per
envelope sender (451, and nothing stored)."""

from __future__ import annotations

import base64
import smtplib
import uuid

import pytest

from tests.conftest import Api, ServerProcess, unique_address


@pytest.fixture
def limited(tmp_path):
    """limited(**settings) -> (server, admin Api, a hosted mailbox) with these MULTIMAIL_RATE_LIMIT_* values."""
    started: list[ServerProcess] = []

    def _start(**limits: str) -> tuple[ServerProcess, Api, str]:
        env = {f"MULTIMAIL_RATE_LIMIT_{name.upper()}": value for name, value in limits.items()}
        srv = ServerProcess(tmp_path / f"srv{len(started)}", env=env)
        started.append(srv)
        admin = Api(srv.base, srv.admin_key)
        box = unique_address()
        admin.ok("POST", "create_mailbox", {"address": box})
        return srv, admin, box

    yield _start
    for srv in started:
        srv.stop()


def connect(srv: ServerProcess) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10)
    s.ehlo("client.partner.test")
    return s


def message(sender: str, box: str) -> bytes:
    return (f"From: {sender}\r\nTo: {box}\r\nSubject: hello\r\nMessage-ID: <{uuid.uuid4().hex}@partner.test>\r\n"
            f"\r\nHello.\r\n").encode()


def inbox_size(admin: Api, box: str) -> int:
    return len(admin.ok("GET", "check_inbox", mailbox=box)["messages"])


def auth_plain(s: smtplib.SMTP, key: str) -> tuple[int, bytes]:
    return s.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0agent\0{key}".encode()).decode())


def test_connections_per_ip_at_once(limited):
    srv, _, _ = limited(smtp_concurrent="3")
    open_ = [connect(srv) for _ in range(3)]
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10)
    assert refused.value.smtp_code == 421
    open_.pop().quit()
    connect(srv).quit()  # a slot is free again
    for s in open_:
        s.quit()


def test_connections_per_ip_per_minute(limited):
    srv, _, _ = limited(smtp_connections="4/minute")
    for _ in range(4):
        connect(srv).quit()
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10)
    assert refused.value.smtp_code == 421


def test_failed_auth_is_limited_per_ip_then_disconnects(limited):
    srv, admin, _ = limited(smtp_auth_failures="3 per 10 minutes")
    right = admin.ok("POST", "create_api_key", {"role": "agent", "name": "smtp"})["api_key"]
    s = connect(srv)
    assert auth_plain(s, "mm_live_wrong1")[0] == 535
    assert auth_plain(s, "mm_live_wrong2")[0] == 535
    code, text = auth_plain(s, "mm_live_wrong3")
    assert code == 535 and b"closing" in text
    with pytest.raises(smtplib.SMTPServerDisconnected):
        s.noop()
    s = connect(srv)  # a new connection from the same IP
    code, _ = auth_plain(s, right)
    assert code == 421, "a right key after too many wrong ones must wait"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        s.noop()


def test_a_right_key_still_authenticates_below_the_limit(limited):
    srv, admin, _ = limited(smtp_auth_failures="3 per 10 minutes")
    right = admin.ok("POST", "create_api_key", {"role": "agent", "name": "smtp"})["api_key"]
    s = connect(srv)
    assert auth_plain(s, "mm_live_wrong")[0] == 535
    assert auth_plain(s, right)[0] == 235
    s.quit()


def test_messages_per_minute_per_ip(limited):
    srv, admin, box = limited(smtp_messages_per_ip="3/minute")
    s = connect(srv)
    for i in range(3):
        sender = f"sender{i}@partner.test"
        s.sendmail(sender, [box], message(sender, box))
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        s.sendmail("other@partner.test", [box], message("other@partner.test", box))
    assert refused.value.smtp_code == 451
    s.quit()
    assert inbox_size(admin, box) == 3


def test_messages_per_minute_per_envelope_sender(limited):
    srv, admin, box = limited(smtp_messages_per_sender="2/minute")
    s = connect(srv)
    for _ in range(2):
        s.sendmail("noisy@partner.test", [box], message("noisy@partner.test", box))
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        s.sendmail("Noisy@Partner.test", [box], message("noisy@partner.test", box))
    assert refused.value.smtp_code == 451
    s.sendmail("quiet@partner.test", [box], message("quiet@partner.test", box))  # another sender is fine
    s.quit()
    assert inbox_size(admin, box) == 3


def test_limits_off_lets_everything_through(limited):
    srv, admin, box = limited(enabled="false", smtp_concurrent="1", smtp_messages_per_ip="1/minute")
    a, b = connect(srv), connect(srv)
    for s in (a, b):
        s.sendmail("x@partner.test", [box], message("x@partner.test", box))
        s.sendmail("x@partner.test", [box], message("x@partner.test", box))
        s.quit()
    assert inbox_size(admin, box) == 4
