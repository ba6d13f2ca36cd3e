"""Outbound delivery through an SMTP relay: a real aiosmtpd sink on a loopback port stands in for
the relay, with scripted answers. Covers retries (451 then 250, delivered once), permanent
failures (550 -> failed, event), per-recipient results, STARTTLS with a trustme CA, AUTH PLAIN,
a crash between hand-over and result (never twice after a 250), a bad row not blocking the
batch, and the full server with MULTIMAIL_SMTP_RELAY."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.delivery.transports import CaptureTransport, RelayConfig, RelaySession, SmtpRelayTransport, make_transport
from multimail_server.services import Context, mailboxes, reading, sending
from multimail_server.services import delivery as delivery_mod
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.store import open_store
from multimail_server.store import outbox as outbox_q
from multimail_server.store.tables import audit_events, events, outbox

from ..conftest import Api, Clock, ServerProcess, free_port, unique_address

OP = Principal.local_operator()


# -- the sink ------------------------------------------------------------------------------------


@dataclass
class Sink:
    """Scripted answers: `rcpt` maps an address to its RCPT answer (default 250); `data` is a list
    of answers for successive DATA commands (the last one repeats; default 250)."""

    rcpt: dict[str, str] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)  # every DATA the sink got, with its answer
    logins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def accepted(self) -> list[dict]:
        return [r for r in self.received if r["answer"].startswith("250")]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.rcpt.get(address, "250 OK")
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server, session, envelope):
        answer = self.data[min(len(self.received), len(self.data) - 1)] if self.data else "250 2.0.0 queued as X1"
        self.received.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                              "raw": envelope.original_content or envelope.content, "answer": answer,
                              "tls": session.ssl is not None, "auth": session.auth_data,
                              "mail_options": list(envelope.mail_options)})
        return answer

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((mechanism, auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"p@ss:w0rd", handled=False)


@pytest.fixture
def sinks():
    """start_sink(**aiosmtpd SMTP options) -> (Sink, port); all stopped at the end."""
    started = []

    def start(sink: Sink | None = None, **smtp_kwargs):
        sink = sink or Sink()
        port = free_port()
        if "authenticator" in smtp_kwargs and smtp_kwargs["authenticator"] is True:
            smtp_kwargs["authenticator"] = sink.authenticator
        controller = Controller(sink, hostname="127.0.0.1", port=port, **smtp_kwargs)
        controller.start()
        started.append(controller)
        return sink, port

    yield start
    for c in started:
        c.stop()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def tls(ca, tmp_path):
    """(server SSLContext for the sink, CA file the client trusts)."""
    import ssl

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, ca_file


# -- the worker over a real store ----------------------------------------------------------------


@pytest.fixture
def make_ctx(db_url, tmp_path):
    made = []

    def _make(relay_url: str, **settings) -> Context:
        clock = Clock()
        s = Settings(data_dir=tmp_path, smtp_relay=relay_url, hostname="mm.acme.test", smtp_relay_timeout_seconds=10,
                     delivery_retry_schedule=settings.pop("delivery_retry_schedule", [5, 30]), **settings)
        c = Context(store=open_store(db_url), settings=s, clock=clock)
        c.test_clock = clock
        made.append(c)
        return c

    yield _make
    for c in made:
        c.store.dispose()


def relay(port: int, *, optional: bool = True, userinfo: str = "") -> str:
    return f"smtp://{userinfo}127.0.0.1:{port}" + ("?starttls=optional" if optional else "")


def send(ctx, to="bob@partner.test", subject="Hello", sender="agent@acme.test") -> str:
    with ctx.store.read() as tx:
        from multimail_server.store import mailboxes as mailbox_q

        exists = mailbox_q.addresses_in(tx, [sender])
    if not exists:
        mailboxes.create_mailbox(ctx, principal=OP, address=sender, oversight_mode="autonomous")
    return sending.send_email(ctx, principal=OP, sender=sender, to=to, subject=subject, body="Body text")["message_id"]


def status(ctx, mid):
    return reading.read_email(ctx, principal=OP, message_id=mid)


def rows(ctx, table, **where):
    with ctx.store.read() as tx:
        q = select(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return [dict(r) for r in tx.execute(q).mappings()]


def later(ctx, seconds: float) -> None:
    ctx.test_clock.now += timedelta(seconds=seconds)


# -- URL and transport choice --------------------------------------------------------------------


def test_relay_url_parsing_and_redaction():
    cfg = RelayConfig.from_url("smtp://us%40er:p%40ss%3Aw0rd@relay.example.com:2587")
    assert (cfg.host, cfg.port, cfg.username, cfg.password) == ("relay.example.com", 2587, "us@er", "p@ss:w0rd")
    assert cfg.starttls is True and cfg.implicit_tls is False
    assert "p@ss" not in cfg.redacted() and "p%40ss" not in cfg.redacted() and "***" in cfg.redacted()
    assert RelayConfig.from_url("smtp://relay.example.com?starttls=optional").starttls is None
    assert RelayConfig.from_url("smtp://relay.example.com").port == 587
    tls_cfg = RelayConfig.from_url("smtps://u:p@relay.example.com")
    assert (tls_cfg.implicit_tls, tls_cfg.port) == (True, 465)
    for bad in ("http://relay.example.com", "smtp://", "smtp://h?starttls=sometimes"):
        with pytest.raises(ValueError):
            RelayConfig.from_url(bad)
    assert "p@ss" not in repr(SmtpRelayTransport("smtp://u:p%40ss@h:25"))


def test_make_transport_picks_capture_or_relay(tmp_path):
    assert isinstance(make_transport(Settings(data_dir=tmp_path)), CaptureTransport)
    t = make_transport(Settings(data_dir=tmp_path, smtp_relay="smtp://h:25", hostname="mx.acme.test"))
    assert isinstance(t, SmtpRelayTransport) and t.hostname == "mx.acme.test"
    with pytest.raises(ValueError):
        make_transport(Settings(data_dir=tmp_path, outbound="smtp"))


# -- retries, failures, per-recipient results ------------------------------------------------------


def test_451_then_250_is_delivered_exactly_once(sinks, make_ctx):
    sink, port = sinks(Sink(data=["451 4.3.0 Try again later", "250 2.0.0 Ok: queued"]))
    ctx = make_ctx(relay(port))
    mid = send(ctx)
    worker = DeliveryWorker(ctx)
    assert worker.run_once() == 1
    assert len(sink.received) == 1 and sink.accepted == []
    assert status(ctx, mid)["status"] == "queued"
    [row] = rows(ctx, outbox, message_id=mid)
    assert row["state"] == "ready" and "451 4.3.0 Try again later" in row["last_error"]
    assert row["next_attempt_at"] == ctx.now() + timedelta(seconds=5)
    assert worker.run_once() == 0  # backoff: not due yet
    later(ctx, 5)
    assert worker.run_once() == 1
    later(ctx, 3600)
    assert worker.run_once() == 0
    assert len(sink.received) == 2 and len(sink.accepted) == 1
    got = sink.accepted[0]
    assert got["mail_from"].startswith("agent+b_") and got["mail_from"].endswith("@acme.test") and got["rcpt_tos"] == ["bob@partner.test"]
    # Both attempts carried the same bytes (same Message-ID), the ones stored on the message.
    assert sink.received[0]["raw"] == got["raw"]
    parsed = message_from_bytes(got["raw"], policy=default_policy)
    assert parsed["Message-ID"] == f"<{mid}@acme.test>" and parsed["Subject"] == "Hello"
    view = status(ctx, mid)
    assert view["status"] == "sent" and view["sent_at"] and view["failure_reason"] is None
    assert len(rows(ctx, events, message_id=mid, type="message.sent")) == 1
    assert rows(ctx, events, message_id=mid, type="message.failed") == []
    [row] = rows(ctx, outbox, message_id=mid)
    result = json.loads(row["handoff_result"])
    assert row["state"] == "done" and row["handoff_started_at"] is not None
    assert result["accepted"] == {"bob@partner.test": "250 2.0.0 Ok: queued"}
    assert len(rows(ctx, audit_events, message_id=mid, action="message.delivery_deferred")) == 1


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_550_fails_the_message_with_the_answer_and_an_event(sinks, make_ctx, where):
    answer = "550 5.1.1 <bob@partner.test>: Recipient address rejected: User unknown"
    sink, port = sinks(Sink(rcpt={"bob@partner.test": answer}) if where == "rcpt" else Sink(data=[answer]))
    ctx = make_ctx(relay(port))
    mid = send(ctx)
    worker = DeliveryWorker(ctx)
    assert worker.run_once() == 1
    view = status(ctx, mid)
    assert view["status"] == "failed"
    assert "Recipient address rejected: User unknown" in view["failure_reason"] and "550" in view["failure_reason"]
    [event] = rows(ctx, events, message_id=mid, type="message.failed")
    assert "User unknown" in event["data"]["error"]
    assert rows(ctx, events, message_id=mid, type="message.sent") == []
    assert rows(ctx, outbox, message_id=mid)[0]["state"] == "failed"
    later(ctx, 86400)
    assert worker.run_once() == 0  # no retry after a permanent failure
    assert sink.accepted == [] and len(sink.received) == (0 if where == "rcpt" else 1)


def test_some_recipients_refused_the_others_get_it_once(sinks, make_ctx):
    sink, port = sinks(Sink(rcpt={"gone@partner.test": "550 5.1.1 No such user here",
                                  "busy@partner.test": "452 4.2.2 Mailbox full, try later"}))
    ctx = make_ctx(relay(port))
    mid = send(ctx, to=["bob@partner.test", "gone@partner.test", "busy@partner.test"])
    worker = DeliveryWorker(ctx)
    assert worker.run_once() == 1
    assert [r["rcpt_tos"] for r in sink.accepted] == [["bob@partner.test"]]
    assert status(ctx, mid)["status"] == "queued"  # busy@ is retried
    sink.rcpt.pop("busy@partner.test")
    later(ctx, 5)
    assert worker.run_once() == 1
    # The retry went only to the deferred recipient; bob never got a second copy.
    assert [r["rcpt_tos"] for r in sink.accepted] == [["bob@partner.test"], ["busy@partner.test"]]
    view = status(ctx, mid)
    assert view["status"] == "sent"
    assert "gone@partner.test" in view["failure_reason"] and "No such user here" in view["failure_reason"]
    [event] = rows(ctx, events, message_id=mid, type="message.sent")
    assert sorted(event["data"]["remote_recipients"]) == ["bob@partner.test", "busy@partner.test"]
    assert list(event["data"]["failed_recipients"]) == ["gone@partner.test"]


def test_temporary_failures_give_up_after_the_schedule(sinks, make_ctx):
    sink, port = sinks(Sink(data=["421 4.7.0 Too busy"]))
    ctx = make_ctx(relay(port), delivery_retry_schedule=[5, 30])
    mid = send(ctx)
    worker = DeliveryWorker(ctx)
    for wait in (0, 5, 30):
        later(ctx, wait)
        assert worker.run_once() == 1
    view = status(ctx, mid)
    assert view["status"] == "failed" and "421 4.7.0 Too busy" in view["failure_reason"]
    assert len(sink.received) == 3 and sink.accepted == []
    assert len(rows(ctx, events, message_id=mid, type="message.failed")) == 1


def test_an_unreachable_relay_is_retried(make_ctx):
    ctx = make_ctx(relay(free_port()))  # nothing listens there
    mid = send(ctx)
    assert DeliveryWorker(ctx).run_once() == 1
    [row] = rows(ctx, outbox, message_id=mid)
    assert row["state"] == "ready" and row["next_attempt_at"] > ctx.now() and "127.0.0.1" in row["last_error"]
    assert status(ctx, mid)["status"] == "queued"


def test_local_recipients_get_it_once_even_when_the_relay_retries(sinks, make_ctx):
    sink, port = sinks(Sink(data=["451 4.3.0 later", "250 OK"]))
    ctx = make_ctx(relay(port))
    mailboxes.create_mailbox(ctx, principal=OP, address="boss@acme.test", oversight_mode="autonomous")
    mid = send(ctx, to=["boss@acme.test", "ext@partner.test"])
    worker = DeliveryWorker(ctx)
    worker.run_once()
    later(ctx, 5)
    worker.run_once()
    inbox = reading.check_inbox(ctx, principal=OP, mailbox="boss@acme.test")["messages"]
    assert [m["subject"] for m in inbox] == ["Hello"]
    assert [r["rcpt_tos"] for r in sink.accepted] == [["ext@partner.test"]]
    assert status(ctx, mid)["status"] == "sent"


# -- TLS and AUTH ----------------------------------------------------------------------------------


def test_starttls_with_a_trusted_ca_and_auth_plain(sinks, make_ctx, tls):
    server_ctx, ca_file = tls
    sink, port = sinks(tls_context=server_ctx, require_starttls=True, authenticator=True, auth_required=True)
    ctx = make_ctx(relay(port, optional=False, userinfo="us%40er:p%40ss%3Aw0rd@"), smtp_relay_ca_file=ca_file)
    mid = send(ctx)
    assert DeliveryWorker(ctx).run_once() == 1
    assert status(ctx, mid)["status"] == "sent"
    [got] = sink.accepted
    assert got["tls"] is True
    assert sink.logins and sink.logins[-1][1:] == ("us@er", "p@ss:w0rd")
    assert sink.logins[-1][0] in ("PLAIN", "LOGIN")


def test_auth_plain_credentials_reach_the_sink(sinks, make_ctx, tls):
    server_ctx, ca_file = tls
    sink, port = sinks(tls_context=server_ctx, require_starttls=True, authenticator=True, auth_required=True,
                       auth_exclude_mechanism=["LOGIN"])
    ctx = make_ctx(relay(port, optional=False, userinfo="us%40er:p%40ss%3Aw0rd@"), smtp_relay_ca_file=ca_file)
    send(ctx)
    DeliveryWorker(ctx).run_once()
    assert sink.logins == [("PLAIN", "us@er", "p@ss:w0rd")]
    assert len(sink.accepted) == 1


def test_a_wrong_password_is_not_delivered(sinks, make_ctx, tls):
    server_ctx, ca_file = tls
    sink, port = sinks(tls_context=server_ctx, require_starttls=True, authenticator=True, auth_required=True)
    ctx = make_ctx(relay(port, optional=False, userinfo="us%40er:wrong@"), smtp_relay_ca_file=ca_file)
    mid = send(ctx)
    DeliveryWorker(ctx).run_once()
    assert sink.received == []
    view = status(ctx, mid)
    assert view["status"] == "failed" and "535" in view["failure_reason"]
    assert "wrong" not in view["failure_reason"]


def test_starttls_with_an_untrusted_certificate_sends_nothing(sinks, make_ctx, tls):
    server_ctx, _ = tls
    sink, port = sinks(tls_context=server_ctx, require_starttls=True)
    ctx = make_ctx(relay(port, optional=False))  # the system CAs do not know trustme's CA
    mid = send(ctx)
    DeliveryWorker(ctx).run_once()
    assert sink.received == []
    [row] = rows(ctx, outbox, message_id=mid)
    assert row["state"] == "ready" and "certificate" in row["last_error"].lower()


def test_starttls_required_but_not_offered_sends_nothing(sinks, make_ctx):
    sink, port = sinks()  # no TLS at all
    ctx = make_ctx(relay(port, optional=False))
    mid = send(ctx)
    DeliveryWorker(ctx).run_once()
    assert sink.received == []
    assert status(ctx, mid)["status"] == "queued"
    assert "starttls" in rows(ctx, outbox, message_id=mid)[0]["last_error"].lower()


@dataclass
class GreetingSink(Sink):
    """A sink that notes the name each client greets it with (one EHLO per connection)."""

    greeted: list[str] = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.greeted.append(hostname)
        session.host_name = hostname
        return responses


def test_ehlo_uses_the_configured_hostname(sinks, make_ctx):
    sink, port = sinks(GreetingSink())
    ctx = make_ctx(relay(port))
    send(ctx)
    DeliveryWorker(ctx).run_once()
    assert sink.greeted and set(sink.greeted) == {"mm.acme.test"}


# -- crash safety ----------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands in for the process dying: not caught by the worker's per-row handler."""


def test_a_crash_after_the_250_before_the_result_never_sends_twice(sinks, make_ctx, monkeypatch):
    sink, port = sinks()
    ctx = make_ctx(relay(port))
    mid = send(ctx)
    worker = DeliveryWorker(ctx)

    def die(*a, **kw):
        raise Killed()

    monkeypatch.setattr(worker, "_record_result", die)
    with pytest.raises(Killed):
        worker.run_once()
    assert len(sink.accepted) == 1  # the relay said 250; the result never reached the database
    [row] = rows(ctx, outbox, message_id=mid)
    assert row["handoff_started_at"] is not None and json.loads(row["handoff_result"])["phase"] == "data"

    restarted = DeliveryWorker(ctx)  # a new process
    assert restarted.run_once() == 0  # the dead worker's lease still holds
    later(ctx, ctx.settings.delivery_lease_seconds + 1)
    assert restarted.run_once() == 1
    later(ctx, 86400)
    assert restarted.run_once() == 0
    assert len(sink.received) == 1  # never handed over again
    view = status(ctx, mid)
    assert view["status"] == "failed" and view["failure_reason"].startswith("bob@partner.test: uncertain")
    [audit] = rows(ctx, audit_events, message_id=mid, action="message.delivery_uncertain")
    assert audit["details"]["uncertain"] is True
    [event] = rows(ctx, events, message_id=mid, type="message.failed")
    assert event["data"]["uncertain"] is True


def test_a_result_transaction_that_fails_is_never_followed_by_a_second_send(sinks, make_ctx, monkeypatch):
    """The result transaction raises (a database error at the worst moment): the worker carries on,
    the row is retried later, and the retry does not hand the message over again."""
    sink, port = sinks()
    ctx = make_ctx(relay(port))
    mid = send(ctx)
    worker = DeliveryWorker(ctx)
    real = delivery_mod.record

    def failing_record(tx, **kw):
        if kw["action"] == "message.sent":
            raise RuntimeError("database went away")
        return real(tx, **kw)

    monkeypatch.setattr(delivery_mod, "record", failing_record)
    assert worker.run_once() == 1
    monkeypatch.setattr(delivery_mod, "record", real)
    for _ in range(3):
        later(ctx, 3600)
        worker.run_once()
    assert len(sink.received) == 1
    assert status(ctx, mid)["status"] == "failed"
    assert len(rows(ctx, events, message_id=mid, type="message.failed")) == 1


def test_a_crash_before_data_is_safely_handed_over_again(sinks, make_ctx, monkeypatch):
    sink, port = sinks()
    ctx = make_ctx(relay(port))
    mid = send(ctx)
    worker = DeliveryWorker(ctx)

    def die(*a, **kw):
        raise Killed()

    monkeypatch.setattr(RelaySession, "send", die)  # dies after recording "started", before talking
    with pytest.raises(Killed):
        worker.run_once()
    assert json.loads(rows(ctx, outbox, message_id=mid)[0]["handoff_result"])["phase"] == "started"
    monkeypatch.undo()  # the process died; the new one talks to the relay
    later(ctx, ctx.settings.delivery_lease_seconds + 1)
    restarted = DeliveryWorker(ctx)
    assert restarted.run_once() == 1
    assert len(sink.accepted) == 1 and status(ctx, mid)["status"] == "sent"
    [audit] = rows(ctx, audit_events, message_id=mid, action="message.handoff_interrupted")
    assert audit["details"]["uncertain"] is False


def test_a_worker_whose_lease_was_taken_over_does_not_send_data(sinks, make_ctx, monkeypatch):
    """Worker A is slow; its lease runs out and another worker claims the row before A reaches
    DATA. A abandons the session: only the new owner may hand the message over."""
    sink, port = sinks()
    ctx = make_ctx(relay(port))
    mid = send(ctx)
    worker = DeliveryWorker(ctx)
    real_send = RelaySession.send

    def slow_send(self, **kw):
        with ctx.store.write() as tx:  # meanwhile, another worker takes the row over
            [taken] = outbox_q.claim_due(tx, ctx.now() + timedelta(seconds=121), lease_seconds=120, limit=1)
        assert taken["message_id"] == mid
        return real_send(self, **kw)

    monkeypatch.setattr(RelaySession, "send", slow_send)
    worker.run_once()
    monkeypatch.undo()
    assert sink.received == []
    assert status(ctx, mid)["status"] == "queued"
    later(ctx, 2 * 121 + 1)
    assert DeliveryWorker(ctx).run_once() == 1
    assert len(sink.accepted) == 1 and status(ctx, mid)["status"] == "sent"


def test_an_unexpected_error_in_one_row_does_not_block_the_next(sinks, make_ctx, monkeypatch):
    sink, port = sinks()
    ctx = make_ctx(relay(port), delivery_retry_schedule=[5])
    bad = send(ctx, subject="bad")
    good = send(ctx, subject="good")
    real = delivery_mod.finalize_outbound

    def finalize(tx, *, raw, message, mailbox, **kw):
        if message["id"] == bad:
            raise KeyError("boom in a signing bug")
        return real(tx, raw=raw, message=message, mailbox=mailbox, **kw)

    monkeypatch.setattr(delivery_mod, "finalize_outbound", finalize)
    worker = DeliveryWorker(ctx)
    assert worker.run_once() == 2
    assert status(ctx, good)["status"] == "sent"
    assert [message_from_bytes(r["raw"], policy=default_policy)["Subject"] for r in sink.accepted] == ["good"]
    [row] = rows(ctx, outbox, message_id=bad)
    assert row["state"] == "ready" and "boom in a signing bug" in row["last_error"]
    later(ctx, 5)
    assert worker.run_once() == 1  # retried, then given up after the schedule: not wedged
    view = status(ctx, bad)
    assert view["status"] == "failed" and "boom in a signing bug" in view["failure_reason"]
    assert len(rows(ctx, events, message_id=bad, type="message.failed")) == 1


def test_a_batch_goes_over_a_few_kept_connections_each_message_once(sinks, make_ctx):
    """One pass hands its messages over in at most CONCURRENCY sessions, several messages each
    (MAIL, RCPT, DATA again on the same connection), each message exactly once."""
    sink, port = sinks(GreetingSink())
    greeted = sink.greeted
    ctx = make_ctx(relay(port))
    mids = [send(ctx, subject=f"n{i}") for i in range(12)]
    assert DeliveryWorker(ctx).run_once() == 12
    assert sorted(message_from_bytes(r["raw"], policy=default_policy)["Subject"] for r in sink.accepted) == sorted(f"n{i}" for i in range(12))
    assert 1 <= len(greeted) <= delivery_mod.CONCURRENCY
    assert all(status(ctx, m)["status"] == "sent" for m in mids)
    assert all(json.loads(r["handoff_result"])["phase"] == "done" for r in rows(ctx, outbox))


def test_a_relay_that_takes_one_message_per_connection_is_reconnected_to(sinks, make_ctx):
    """A relay closing the transaction stream after each message (421 to the next MAIL): the
    session connects again and the message goes out, once."""

    class OnePerConnection(Sink):
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            if getattr(session, "carried", 0):
                return "421 4.7.0 one message per connection"
            session.carried = 1
            envelope.mail_from, envelope.mail_options = address, list(mail_options)
            return "250 OK"

    sink, port = sinks(OnePerConnection())
    ctx = make_ctx(relay(port))
    mids = [send(ctx, subject=f"n{i}") for i in range(6)]
    assert DeliveryWorker(ctx).run_once() == 6
    assert len(sink.accepted) == 6 and all(status(ctx, m)["status"] == "sent" for m in mids)


def test_a_refused_recipient_leaves_the_connection_usable_for_the_next_message(sinks, make_ctx):
    sink, port = sinks(Sink(rcpt={"nobody@partner.test": "550 5.1.1 no such user"}))
    ctx = make_ctx(relay(port))
    bad = send(ctx, to="nobody@partner.test", subject="bad")
    good = [send(ctx, subject=f"good {i}") for i in range(8)]
    assert DeliveryWorker(ctx).run_once() == 9
    assert status(ctx, bad)["status"] == "failed"
    assert all(status(ctx, m)["status"] == "sent" for m in good) and len(sink.accepted) == 8


def test_smtputf8_is_used_when_the_message_needs_it(sinks, make_ctx):
    sink, port = sinks(enable_SMTPUTF8=True)
    ctx = make_ctx(relay(port))
    transport = DeliveryWorker(ctx).transport
    raw = "From: a@acme.test\r\nTo: zoë@partner.test\r\nSubject: x\r\n\r\nhi\r\n".encode()
    out = transport.send(mail_from="a@acme.test", rcpt_tos=["zoë@partner.test"], raw=raw)
    assert out.accepted == ["zoë@partner.test"]
    assert "SMTPUTF8" in sink.received[0]["mail_options"]
    plain = transport.send(mail_from="a@acme.test", rcpt_tos=["bob@partner.test"], raw=b"Subject: x\r\n\r\nhi\r\n")
    assert plain.accepted and "SMTPUTF8" not in sink.received[1]["mail_options"]


# -- the whole server ------------------------------------------------------------------------------


def test_serve_with_multimail_smtp_relay_sends_through_the_sink(sinks, tmp_path):
    sink, port = sinks(authenticator=True, auth_require_tls=False)
    url = f"smtp://us%40er:p%40ss%3Aw0rd@127.0.0.1:{port}?starttls=optional"
    server = ServerProcess(tmp_path / "srv", env={"MULTIMAIL_SMTP_RELAY": url}, smtp=False)
    try:
        admin = Api(server.base, server.admin_key)
        box = unique_address("relay")
        admin.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
        sent = admin.ok("POST", "send_email", {"from": box, "to": "someone@partner.test", "subject": "Via relay", "body": "hi"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not sink.accepted:
            time.sleep(0.1)
        [got] = sink.accepted
        assert got["mail_from"].split("+")[0] == box.split("@")[0] and got["mail_from"].endswith(box.split("@")[1]) and got["rcpt_tos"] == ["someone@partner.test"]
        assert message_from_bytes(got["raw"], policy=default_policy)["Subject"] == "Via relay"
        assert sink.logins[-1][1:] == ("us@er", "p@ss:w0rd")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            view = admin.ok("GET", "read_email", message_id=sent["id"] if "id" in sent else sent["message_id"])
            if view["status"] == "sent":
                break
            time.sleep(0.1)
        assert view["status"] == "sent"
        log = server.log()
        assert "p@ss" not in log and "p%40ss" not in log and "w0rd" not in log
        assert f"127.0.0.1:{port}" in log  # the relay is announced, without its password
    finally:
        server.stop()
