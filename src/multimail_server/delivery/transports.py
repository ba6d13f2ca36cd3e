"""Transports hand a composed message to the world.

`CaptureTransport` (the default) keeps the exact bytes and envelope in the database and sends
nothing: a zero-set-up server never emails anyone by accident. It writes inside the delivery
transaction, so "captured" and "marked sent" happen together or not at all (`transactional`).

`SmtpRelayTransport` hands the message to an SMTP relay with aiosmtplib. Talking to a relay can
not be part of a database transaction, so the delivery worker records the hand-over before it
starts and its answer after (see services/delivery.py); the transport tells it, through the
`before_data` callback, the last moment at which nothing has been accepted yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from sqlalchemy import Connection

from ..store import captured as captured_q

if TYPE_CHECKING:
    from ..config import Settings


class TemporaryFailure(Exception):
    """Try again later (4xx, connection refused, timeout before the message was sent)."""


class PermanentFailure(Exception):
    """Give up (5xx): the message is marked failed with this answer."""


class UncertainDelivery(Exception):
    """The connection broke (or timed out) after the message content was sent and before the
    relay answered: it may or may not have accepted the message. Repeating it could deliver it
    twice, so the worker does not."""


class CaptureTransport:
    name = "capture"
    transactional = True

    def deliver(self, tx: Connection, *, message_id: str, mail_from: str, rcpt_tos: list[str], raw: bytes, now: datetime) -> str:
        captured_q.capture(tx, message_id=message_id, mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw, now=now)
        return "captured"


@dataclass
class RelayOutcome:
    """What the relay said, per recipient. `accepted` got the message (250 after DATA);
    `refused` were answered 5xx at RCPT (permanent); `deferred` 4xx at RCPT (try again)."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    reply: str = ""  # the relay's answer to the end of DATA


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool | None  # True: required; None: when offered; False: never (smtps uses implicit TLS)

    @classmethod
    def from_url(cls, url: str) -> RelayConfig:
        """`smtp://user:pass@host:port` (STARTTLS required; `?starttls=optional` uses it only when
        offered) or `smtps://user:pass@host:port` (implicit TLS). User and password are
        percent-decoded, so `p%40ss` is `p@ss`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError("The SMTP relay URL must start with smtp:// (STARTTLS) or smtps:// (TLS).")
        if not parts.hostname:
            raise ValueError("The SMTP relay URL has no host, e.g. smtp://user:pass@smtp.example.com:587.")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("The SMTP relay URL has an invalid port.") from None
        query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
        starttls_opt = query.get("starttls", "required")
        if scheme == "smtps":
            starttls: bool | None = False
        elif starttls_opt in ("required", "true", "yes", "1"):
            starttls = True
        elif starttls_opt in ("optional", "opportunistic", "auto"):
            starttls = None
        else:
            raise ValueError("starttls in the SMTP relay URL must be 'required' or 'optional'.")
        return cls(
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 587),
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=scheme == "smtps",
            starttls=starttls,
        )

    def redacted(self) -> str:
        """The URL without the password, for logs and messages."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        query = "?starttls=optional" if self.starttls is None else ""
        return f"{scheme}://{user}{self.host}:{self.port}{query}"


def _needs_smtputf8(mail_from: str, rcpt_tos: list[str], raw: bytes) -> bool:
    if not (mail_from.isascii() and all(r.isascii() for r in rcpt_tos)):
        return True
    head = raw.split(b"\r\n\r\n", 1)[0]
    return not head.isascii()  # raw UTF-8 in headers (RFC 6532) needs SMTPUTF8 too


def _answer(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


class SmtpRelayTransport:
    """Hands messages to one SMTP relay. Not transactional: use `send` outside any transaction."""

    name = "smtp"
    transactional = False

    def __init__(self, url: str, *, hostname: str = "localhost", timeout: float = 60.0, ca_file: str | None = None):
        self.config = RelayConfig.from_url(url)
        self.hostname = hostname
        self.timeout = timeout
        self.ca_file = ca_file
        self._context: ssl.SSLContext | None = None
        # Idle event loops, one taken per send: asyncio.run made a loop (a selector, a socket
        # pair) and tore it down again for every message. At most as many as sends ever ran
        # side by side (the delivery worker's concurrency).
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._loops_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SmtpRelayTransport({self.config.redacted()!r})"

    def _tls_context(self) -> ssl.SSLContext:
        # Built once per transport: loading the CA bundle took most of each delivery's time (tens
        # of milliseconds a message), and one context serves any number of connections.
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        return self._context

    def send(self, *, mail_from: str, rcpt_tos: list[str], raw: bytes,
             before_data: Callable[[list[str]], None] | None = None) -> RelayOutcome:
        """Hand `raw` to the relay for `rcpt_tos` in a session of its own; see `RelaySession.send`."""
        with self.session() as relay:
            return relay.send(mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw, before_data=before_data)

    @contextlib.contextmanager
    def session(self) -> Iterator[RelaySession]:
        """One connection to the relay for several messages, one after another (QUIT at the end)."""
        with self._loops_lock:
            loop = self._loops.pop() if self._loops else asyncio.new_event_loop()
        relay = RelaySession(self, loop)
        try:
            yield relay
        finally:
            try:
                relay.close()
            finally:
                with self._loops_lock:
                    self._loops.append(loop)

    @staticmethod
    def _failure(code: int, message: str, context: str) -> Exception:
        answer = _answer(code, message)
        if 400 <= code < 500:
            return TemporaryFailure(f"{context}: {answer}")
        return PermanentFailure(f"{context}: {answer}")



class RelaySession:
    """Several messages over one connection to the relay, each its own SMTP transaction.

    Why: a connection costs a TCP handshake, the greeting, EHLO, possibly STARTTLS and AUTH, and
    a QUIT: several round trips per message on top of MAIL, RCPT and DATA (the plain aiosmtplib
    loop pays them too; a worker sending a batch need not). After a message that did not end
    with the relay's answer to DATA (recipients refused, the session abandoned before DATA), RSET
    clears the transaction; if RSET fails, or the connection broke, the next message connects
    anew. A failure to connect or log in is the answer for every later message of the session
    too (a relay that is down is not asked again for each one, each waiting out the timeout)."""

    def __init__(self, transport: SmtpRelayTransport, loop: asyncio.AbstractEventLoop):
        self.transport = transport
        self.loop = loop
        self.client: aiosmtplib.SMTP | None = None
        self.sent = 0  # messages whose transaction this connection has carried
        self._refused: Exception | None = None

    def send(self, *, mail_from: str, rcpt_tos: list[str], raw: bytes,
             before_data: Callable[[list[str]], None] | None = None) -> RelayOutcome:
        """Hand `raw` to the relay for `rcpt_tos`; returns the per-recipient outcome.

        Recipients refused (5xx) or deferred (4xx) at RCPT are reported in the outcome; when none
        was accepted, DATA is not sent and `accepted` is empty. Raises TemporaryFailure (4xx for
        the session, connection errors, timeouts before DATA), PermanentFailure (5xx) or
        UncertainDelivery (connection lost after the content was sent). `before_data(accepted)`
        is called when the recipients are known and nothing has been accepted yet; if it raises,
        the message is abandoned without sending DATA (RSET) and the exception propagates.
        """
        return self.loop.run_until_complete(self._send(mail_from, rcpt_tos, raw, before_data))

    def close(self) -> None:
        if self.client is not None:
            self.loop.run_until_complete(self._drop(quit=True))

    @property
    def _where(self) -> str:
        cfg = self.transport.config
        return f"relay {cfg.host}:{cfg.port}"

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._refused is not None:
            raise type(self._refused)(str(self._refused))
        if self.client is not None and self.client.is_connected:
            return self.client
        t, cfg, where = self.transport, self.transport.config, self._where
        client = aiosmtplib.SMTP(
            hostname=cfg.host, port=cfg.port, local_hostname=t.hostname, timeout=t.timeout,
            use_tls=cfg.implicit_tls, start_tls=cfg.starttls, tls_context=t._tls_context(),
        )
        try:
            try:
                await client.connect()
            except aiosmtplib.SMTPResponseException as exc:
                raise SmtpRelayTransport._failure(exc.code, exc.message, f"{where} refused the connection") from None
            except (TimeoutError, aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                # Connect errors, timeouts, TLS handshake failures, STARTTLS required but not offered.
                raise TemporaryFailure(f"{where}: {type(exc).__name__}: {exc}") from None
            if cfg.username is not None:
                try:
                    await client.login(cfg.username, cfg.password or "")
                except aiosmtplib.SMTPResponseException as exc:
                    raise SmtpRelayTransport._failure(exc.code, exc.message, f"{where} refused the login") from None
        except (TemporaryFailure, PermanentFailure) as exc:
            self._refused = exc
            if client.is_connected:
                client.close()
            raise
        self.client, self.sent = client, 0
        return client

    async def _drop(self, *, quit: bool = False) -> None:
        client, self.client = self.client, None
        if client is None or not client.is_connected:
            return
        try:
            if quit:
                await client.quit(timeout=5)
            else:
                client.close()
        except Exception:
            client.close()

    async def _reset(self) -> None:
        """End an unfinished transaction (RSET) so the connection can carry the next message."""
        if self.client is None or not self.client.is_connected:
            return
        try:
            await self.client.rset(timeout=5)
        except Exception:
            await self._drop()

    async def _mail(self, client: aiosmtplib.SMTP, mail_from: str, options: list[str], encoding: str) -> aiosmtplib.SMTP:
        """MAIL FROM; on a connection that already carried messages, a relay that closed it
        meanwhile (idle timeout, a per-connection limit: disconnected or 421) is reconnected
        once: nothing of this message had been sent."""
        try:
            await client.mail(mail_from, options=options, encoding=encoding)
            return client
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException, OSError) as exc:
            reused = self.sent > 0
            closed = not isinstance(exc, aiosmtplib.SMTPResponseException) or exc.code == 421
            if not (reused and closed):
                raise
        await self._drop()
        client = await self._connected()
        await client.mail(mail_from, options=options, encoding=encoding)
        return client

    async def _send(self, mail_from, rcpt_tos, raw, before_data) -> RelayOutcome:
        where = self._where
        client = await self._connected()
        outcome = RelayOutcome()
        data_sent = False
        finished = False  # the transaction ended (DATA answered): no RSET needed
        try:
            options: list[str] = []
            if _needs_smtputf8(mail_from, rcpt_tos, raw):
                if not client.supports_extension("smtputf8"):
                    raise PermanentFailure(f"{where} does not support SMTPUTF8, which this message needs (non-ASCII addresses or headers).")
                options.append("SMTPUTF8")
            if not raw.isascii() and client.supports_extension("8bitmime"):
                options.append("BODY=8BITMIME")
            encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
            try:
                client = await self._mail(client, mail_from, options, encoding)
            except aiosmtplib.SMTPResponseException as exc:
                raise SmtpRelayTransport._failure(exc.code, exc.message, f"{where} refused the sender {mail_from}") from None
            for rcpt in rcpt_tos:
                try:
                    await client.rcpt(rcpt, encoding=encoding)
                    outcome.accepted.append(rcpt)
                except aiosmtplib.SMTPResponseException as exc:
                    answer = _answer(exc.code, exc.message)
                    if 400 <= exc.code < 500:
                        outcome.deferred[rcpt] = answer
                    else:
                        outcome.refused[rcpt] = answer
            if not outcome.accepted:  # every recipient refused or deferred: nothing to send
                return outcome
            if before_data is not None:
                before_data(list(outcome.accepted))
            data_sent = True
            try:
                response = await client.data(raw)
            except aiosmtplib.SMTPResponseException as exc:  # a definite answer: nothing was accepted
                data_sent, finished = False, True
                outcome.accepted = []
                raise SmtpRelayTransport._failure(exc.code, exc.message, f"{where} did not accept the message") from None
            finished = True
            outcome.reply = _answer(response.code, response.message)
            return outcome
        except (TimeoutError, aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            await self._drop()
            if data_sent:
                raise UncertainDelivery(
                    f"{where}: connection lost after the message was sent, before the answer ({type(exc).__name__}: {exc})"
                ) from None
            raise TemporaryFailure(f"{where}: {type(exc).__name__}: {exc}") from None
        except aiosmtplib.SMTPException as exc:  # anything else aiosmtplib refuses before DATA
            await self._drop()
            if data_sent:
                raise UncertainDelivery(f"{where}: {type(exc).__name__}: {exc}") from None
            raise TemporaryFailure(f"{where}: {type(exc).__name__}: {exc}") from None
        finally:
            self.sent += 1
            if data_sent and not finished:  # content sent, no answer: this connection carries nothing more
                await self._drop()
            elif not finished:
                await self._reset()


def make_transport(settings: Settings | str) -> CaptureTransport | SmtpRelayTransport:
    """The transport the settings name: the SMTP relay when `smtp_relay` is set (or
    `outbound=smtp`), otherwise capture."""
    if isinstance(settings, str):  # older callers passed the transport name
        if settings == "capture":
            return CaptureTransport()
        raise ValueError(f"Unknown outbound transport {settings!r}; pass the Settings to use the SMTP relay.")
    relay = getattr(settings, "smtp_relay", None)
    if relay:
        return SmtpRelayTransport(
            relay,
            hostname=settings.hostname,
            timeout=float(getattr(settings, "smtp_relay_timeout_seconds", 60.0)),
            ca_file=str(settings.smtp_relay_ca_file) if getattr(settings, "smtp_relay_ca_file", None) else None,
        )
    if settings.outbound == "capture":
        return CaptureTransport()
    if settings.outbound == "smtp":
        raise ValueError("outbound=smtp needs a relay: set --smtp-relay / MULTIMAIL_SMTP_RELAY (smtp://user:pass@host:port).")
    raise ValueError(f"Unknown outbound transport {settings.outbound!r}; this server supports: capture, smtp.")
