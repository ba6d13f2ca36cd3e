"""The inbound SMTP server (aiosmtpd): accepts mail for hosted mailboxes only.

The protocol lives in aiosmtpd; this handler implements the hooks that matter. RCPT refuses
unknown recipients with 550 (RFC 5321 section 3.3), so nothing is accepted that cannot be
stored; DATA checks the sender (SPF/DKIM/DMARC, off the event loop), stamps an
Authentication-Results header and answers 250 only after the message is committed to the
database. Malformed mail is stored raw and flagged, never refused with a 5xx after DATA; a
storage failure is a 451, so the sender retries.

Hardening: a size limit (SIZE in EHLO, 552 above it), STARTTLS when `smtp_tls_cert`/`smtp_tls_key`
are configured, and optional AUTH (`smtp_auth_required`): PLAIN/LOGIN with a MultiMail API key
with `send` scope as the password. AUTH is only offered over TLS (aiosmtpd's `auth_require_tls`),
except to loopback clients when no certificate is configured.

Rate limits (services/rate_limits.py, settings `rate_limit_smtp_*`): connections per IP at once
and per minute (421 and disconnect), failed AUTH per IP (535, then 421 and disconnect: a key
cannot be guessed over SMTP), and accepted messages per minute per IP and per envelope sender
(451, a temporary refusal a legitimate sender's MTA simply retries).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from functools import lru_cache
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ..core.access import Scope
from ..core.addresses import normalize_mailbox_address
from ..core.errors import BadRequest, Unauthorized
from ..mail import dkim as dkim_policy
from ..mail.auth_results import strip_authentication_results
from ..mail.authentication import authenticate_inbound
from ..mail.dns import DNSResolver, Resolver, StaticResolver
from ..mail.identity import HEADER as IDENTITY_HEADER
from ..services.context import Context
from ..services.identity import inbound_claim
from ..services.keys import authenticate as authenticate_key
from ..services.metrics import metrics_for
from ..services.rate_limits import RateLimits, TooManyRequests
from ..services.receiving import is_hosted, prepare_inbound
from ..services.spam import rspamd_verdict
from .group_commit import GroupCommitter

log = logging.getLogger("multimail_server.smtp")

DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # advertised with EHLO SIZE (RFC 1870)
_CLAIM_HEADER = IDENTITY_HEADER.lower().encode()


def _is_loopback(peer: Any) -> bool:
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


def resolver_for(settings) -> Resolver:
    """The DNS used for sender authentication: real DNS, or the offline answers file."""
    path = getattr(settings, "dns_overrides", None)
    return StaticResolver.from_file(path) if path else DNSResolver()


def _peer_ip(peer: Any) -> str:
    return str(peer[0]) if isinstance(peer, (tuple, list)) and peer else "unknown"


TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address; try again later"
TOO_MANY_AUTH_FAILURES = "421 4.7.0 Too many failed authentication attempts; try again later"
AUTH_INVALID_CLOSING = "535 5.7.8 Authentication credentials invalid; too many failures, closing"
TOO_MANY_MESSAGES = "451 4.7.1 Too many messages; try again later"


class InboundHandler:
    def __init__(self, ctx: Context, resolver: Resolver | None = None):
        self.ctx = ctx
        self.resolver = resolver or resolver_for(ctx.settings)
        self.limits = RateLimits(ctx.settings)
        self.metrics = metrics_for(ctx)
        # aiosmtpd's Controller connects to the server once while starting it, to see it is up;
        # that connection is not a client's and spends no budget. start_smtp sets this after.
        self.serving = False
        self.committer = GroupCommitter(ctx)  # the messages arriving together share a transaction

    # -- rate limits (kept apart from the routing of recipients) --------------------------------
    def connection_refusal(self, peer: Any) -> str | None:
        """At connect: the 421 for an IP with too many connections (open now, or this minute),
        else None; a connection let in is counted open until `connection_closed`."""
        if not self.serving:
            return None
        ip = _peer_ip(peer)
        if not self.limits.open_connection(ip):
            return TOO_MANY_CONNECTIONS
        try:
            self.limits.hit(self.limits.smtp_connections, ip)
        except TooManyRequests:
            self.limits.close_connection(ip)
            return TOO_MANY_CONNECTIONS
        return None

    def connection_closed(self, peer: Any) -> None:
        self.limits.close_connection(_peer_ip(peer))

    def auth_refusal(self, peer: Any) -> str | None:
        """Before an AUTH attempt: the 421 for an IP that failed too often, else None."""
        try:
            self.limits.check(self.limits.smtp_auth_failures, _peer_ip(peer))
        except TooManyRequests:
            return TOO_MANY_AUTH_FAILURES
        return None

    def auth_failed(self, peer: Any) -> bool:
        """Count a failed AUTH; True when that used up the IP's budget (then disconnect)."""
        ip = _peer_ip(peer)
        try:
            self.limits.hit(self.limits.smtp_auth_failures, ip)
        except TooManyRequests:
            return True
        return self.auth_refusal(peer) is not None

    def message_refusal(self, peer: Any, mail_from: str | None, *, spend: bool) -> str | None:
        """The 451 when the client's IP or the envelope sender sent too many messages this
        minute, else None. `spend=False` only looks (at MAIL FROM, before the body is sent);
        `spend=True` counts the message (at DATA, before it is stored)."""
        sender = (mail_from or "").strip().lower() or "<>"
        budgets = ((self.limits.smtp_messages_per_ip, _peer_ip(peer)), (self.limits.smtp_messages_per_sender, sender))
        try:
            for budget, who in budgets:
                (self.limits.hit if spend else self.limits.check)(budget, who)
        except TooManyRequests:
            return TOO_MANY_MESSAGES
        return None

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]) -> str:
        refusal = self.message_refusal(session.peer, address, spend=False)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    # AUTH: the password is an API key with `send` scope (the user name is not checked).
    def authenticator(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        refusal = self.auth_refusal(session.peer)
        if refusal:
            _close_after_reply(server)
            return AuthResult(success=False, handled=False, message=refusal)
        result = self._check_key(auth_data)
        if not result.success and self.auth_failed(session.peer):
            _close_after_reply(server)
            return AuthResult(success=False, handled=False, message=AUTH_INVALID_CLOSING)
        return result

    def _check_key(self, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        key = auth_data.password.decode("utf-8", "replace").strip()
        try:
            principal = authenticate_key(self.ctx, "Bearer " + key)
        except Unauthorized:
            return AuthResult(success=False, handled=False)
        except Exception:
            log.exception("AUTH lookup failed")
            return AuthResult(success=False, handled=False)
        if Scope.SEND not in principal.scopes:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=principal)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if not await asyncio.to_thread(is_hosted, self.ctx, address):
            return "550 5.1.1 No such mailbox here"
        principal = getattr(session, "auth_data", None)
        if self.ctx.settings.smtp_auth_required and principal is not None and getattr(principal, "mailboxes", None) is not None:
            try:
                normalized = normalize_mailbox_address(address)
            except BadRequest:
                normalized = None
            if normalized not in principal.mailboxes:
                return "550 5.7.1 This key may not submit mail for that mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _authenticate(self, raw: bytes, session: Session, envelope: Envelope) -> tuple[dict[str, Any] | None, bytes]:
        peer = session.peer
        ip = peer[0] if isinstance(peer, (tuple, list)) and peer else None
        hostname = self.ctx.settings.hostname
        try:
            auth, stored = authenticate_inbound(raw, ip=ip, helo=session.host_name, mail_from=envelope.mail_from,
                                                authserv_id=hostname, resolver=self.resolver)
            # Mail from another MultiMail server: its signed identity claim, checked with the
            # issuer's published key. Looked for in the header block first: inbound_claim parses
            # the whole message to find the header (2 ms at 100 KB), and most mail has none.
            claim = (inbound_claim(self.ctx, raw, sender_authenticated=bool(auth.get("verified_sender")))
                     if _CLAIM_HEADER in dkim_policy.header_block(raw).lower() else None)
            if claim is not None:
                auth["multimail_identity"] = claim
            return auth, stored
        except Exception:  # the checks never raise by design; if they do, store unverified
            log.exception("sender authentication failed")
            try:
                raw = strip_authentication_results(raw, hostname)
            except Exception:
                pass
            return {"spf": None, "dkim": [], "dmarc": None, "verified_sender": False, "from_domain": None, "error": "check failed"}, raw

    def _prepare(self, raw: bytes, session: Session, envelope: Envelope, rcpt_tos: list[str]) -> dict[str, Any]:
        """Everything before the transaction, in one trip to a worker thread: the sender checks,
        then parsing (services/receiving.prepare_inbound). One hop instead of two: each hop is
        a wake-up of a pool thread and of the event loop, paid on every message."""
        authentication, stored_raw = self._authenticate(raw, session, envelope)
        return prepare_inbound(self.ctx, raw=stored_raw, rcpt_tos=rcpt_tos, authentication=authentication)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self.message_refusal(session.peer, envelope.mail_from, spend=True)
        if refusal:
            self._transaction_done(session, envelope, "refused", [])
            return refusal
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        raw = raw or b""
        rcpt_tos = list(envelope.rcpt_tos)
        # rspamd's verdict, when configured (services/spam.py): asked on the event loop while the
        # message is checked and parsed, with its own short timeout; without an answer the
        # baseline decides and the mail is accepted.
        spam = (asyncio.ensure_future(rspamd_verdict(
                    self.ctx, raw=raw, ip=(session.peer or [None])[0] if isinstance(session.peer, (tuple, list)) else None,
                    helo=session.host_name, mail_from=envelope.mail_from, rcpts=rcpt_tos))
                if self.ctx.settings.rspamd_url else None)
        try:
            # Checked and parsed off the event loop, then stored with whatever else arrived
            # meanwhile in one transaction (smtp/group_commit.py); the future resolves only after
            # that commit.
            prepared = await asyncio.to_thread(self._prepare, raw, session, envelope, rcpt_tos)
            if spam is not None:
                prepared["spam"] = await spam
            ids = await asyncio.wrap_future(self.committer.submit(prepared))
        except Exception:
            log.exception("could not store inbound message")
            if spam is not None and not spam.done():
                spam.cancel()
            self._transaction_done(session, envelope, "error", [])
            return "451 4.3.0 Could not store the message; try again later"
        self._transaction_done(session, envelope, "stored" if ids else "duplicate", ids)
        return "250 OK: queued as " + (",".join(ids) or "duplicate")

    def _transaction_done(self, session: Session, envelope: Envelope, outcome: str, ids: list[str]) -> None:
        """One log line and one count per mail transaction, whatever its outcome."""
        self.metrics.smtp_transactions.labels(outcome=outcome).inc()
        fields = {"peer": _peer_ip(session.peer), "mail_from": envelope.mail_from, "recipients": len(envelope.rcpt_tos),
                  "outcome": outcome, "message_ids": ids}
        log.info("smtp transaction from %s: mail from <%s>, %d recipients, %s %s", fields["peer"], envelope.mail_from or "",
                 fields["recipients"], outcome, ",".join(ids) or "-", extra=fields)


def _close_after_reply(server: Any) -> None:
    """Have the SMTP session disconnect once its next reply is sent."""
    server.close_after_reply = True


@lru_cache(maxsize=1024)
def _smtp_address(arg: str) -> tuple[str | None, str | None]:
    """The address and the rest of a MAIL FROM / RCPT TO argument, as aiosmtpd's `_getaddr`
    reads it (None, None when it does not parse)."""
    try:
        address, rest = get_angle_addr(arg) if arg.lstrip().startswith("<") else get_addr_spec(arg)
    except HeaderParseError:
        return None, None
    return address.addr_spec, rest


class _SMTP(SMTP):
    """aiosmtpd's SMTP with adjustments: long lines in DATA are not a 5xx (only size is), AUTH
    may be offered without TLS to loopback clients when no certificate is configured, and a
    client over its connection limit gets a 421 instead of a greeting."""

    close_after_reply = False
    _refusal: str | None = None
    _counted = False

    def __init__(self, handler: Any, *, plain_auth_on_loopback: bool, **kw: Any):
        limit = kw.get("data_size_limit")
        # A long line is malformed, not a reason to refuse: the stream may hold a line as long as
        # the whole message; beyond that the message is too big anyway (552, see push()).
        self.line_length_limit = max(SMTP.line_length_limit, (limit or DEFAULT_MAX_MESSAGE_BYTES) + 1024)
        super().__init__(handler, **kw)
        self._plain_auth_on_loopback = plain_auth_on_loopback
        self._configured_auth_require_tls = self._auth_require_tls

    def connection_made(self, transport: Any) -> None:
        first = self.transport is None  # not the TLS transport replacing the plain one (STARTTLS)
        super().connection_made(transport)
        if first and self.session is not None:
            self._refusal = self.event_handler.connection_refusal(self.session.peer)
            self._counted = self._refusal is None and self.event_handler.serving
            if self.event_handler.serving:
                self.event_handler.metrics.smtp_sessions.labels(outcome="refused" if self._refusal else "accepted").inc()
        if self._plain_auth_on_loopback and self.tls_context is None and self.session is not None:
            self._auth_require_tls = self._configured_auth_require_tls and not _is_loopback(self.session.peer)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted and self.session is not None:
            self._counted = False
            self.event_handler.connection_closed(self.session.peer)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if self._refusal is not None:  # over the connection limit: say why and hang up
            await self.push(self._refusal)
            self.close_after_reply = False
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's `_getaddr`, minus its cost: it defines a class on every call (a typing
        Protocol, so an ABCMeta each time) and parses with the email package's grammar. Here the
        same parse is kept per argument (senders and recipients repeat), and the local-part limit
        is checked as there."""
        if not arg:
            return "", ""
        # an outlandish argument is parsed, not kept
        addr, rest = _smtp_address(arg) if len(arg) <= 1024 else _smtp_address.__wrapped__(arg)
        if addr is None:
            return None, None
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("500 Line too long"):
            status = "552 5.3.4 Message too big for this server"
        await super().push(status)
        if self.close_after_reply and self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    def __init__(self, handler: Any, *, plain_auth_on_loopback: bool, **kw: Any):
        self._plain_auth_on_loopback = plain_auth_on_loopback
        super().__init__(handler, **kw)

    def factory(self) -> SMTP:
        return _SMTP(self.handler, plain_auth_on_loopback=self._plain_auth_on_loopback, **self.SMTP_kwargs)

    def stop(self, *args: Any, **kw: Any) -> None:
        super().stop(*args, **kw)
        self.handler.committer.stop()  # after the sessions: what they queued is committed first


def tls_context_for(settings) -> ssl.SSLContext | None:
    if not (settings.smtp_tls_cert and settings.smtp_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.smtp_tls_cert), str(settings.smtp_tls_key))
    return context


def start_smtp(ctx: Context, *, host: str, port: int, resolver: Resolver | None = None) -> Controller:
    settings = ctx.settings
    handler = InboundHandler(ctx, resolver)
    tls_context = tls_context_for(settings)
    if settings.smtp_auth_required and tls_context is None:
        log.warning("SMTP AUTH is required but no TLS certificate is configured: only loopback clients can authenticate")
    controller = _Controller(
        handler,
        plain_auth_on_loopback=True,
        hostname=host,
        port=port,
        server_hostname=settings.hostname,
        data_size_limit=settings.max_message_bytes,
        decode_data=False,
        enable_SMTPUTF8=True,
        tls_context=tls_context,
        auth_required=settings.smtp_auth_required,
        auth_require_tls=True,
        authenticator=handler.authenticator,
    )
    controller.start()
    handler.serving = True
    return controller
