"""The inbound SMTP server (aiosmtpd): accepts mail for hosted mailboxes only.

The protocol lives in aiosmtpd; this handler implements the two hooks that matter. RCPT refuses
unknown recipients with 550 (RFC 5321 section 3.3), so nothing is accepted that cannot be
stored; DATA answers 250 only after the message is committed to the database.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ..services.context import Context
from ..services.receiving import is_hosted, receive

log = logging.getLogger("multimail.smtp")

DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # advertised with EHLO SIZE (RFC 1870)


class InboundHandler:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if not await asyncio.to_thread(is_hosted, self.ctx, address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        try:
            ids = await asyncio.to_thread(receive, self.ctx, raw=raw, mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos))
        except Exception:
            log.exception("could not store inbound message")
            return "451 4.3.0 Could not store the message; try again later"
        log.info("stored inbound message for %s as %s", envelope.rcpt_tos, ids)
        return "250 OK: queued as " + (",".join(ids) or "duplicate")


def start_smtp(ctx: Context, *, host: str, port: int) -> Controller:
    controller = Controller(
        InboundHandler(ctx),
        hostname=host,
        port=port,
        server_hostname=ctx.settings.hostname,
        data_size_limit=ctx.settings.max_message_bytes,
        decode_data=False,
    )
    controller.start()
    return controller
