"""export_mailbox: a mailbox as an mbox file or a zip of .eml files, streamed (services/export.py)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ...services import export as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses

router = APIRouter(prefix="/v1", tags=["admin"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get("/export_mailbox", operation_id="export_mailbox", response_class=StreamingResponse,
            responses={**responses(403, 404), 200: {"content": {"application/mbox": _BINARY, "application/zip": _BINARY}}},
            response_description="The mailbox's messages: an mbox file (format=mbox) or a zip of .eml files (format=eml).")
def export_mailbox(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox: str = Query(..., description="Address or mailbox id."),
    format: Literal["mbox", "eml"] = Query("mbox", description="mbox: one RFC 4155 file (mboxrd `>From ` quoting); "
                                           "eml: a zip of one .eml file per message."),
) -> StreamingResponse:
    """Every message of a mailbox as stored, in order (admin): the exact raw bytes as received or
    as handed over; mail never composed (held, queued) is left out; a message whose content was
    purged by retention is a stand-in with its headers and `X-MultiMail-Purged`. Streamed."""
    out = svc.export_mailbox(ctx, principal=who, mailbox=mailbox, format=format)
    disposition = "attachment; filename*=UTF-8''" + quote(out["filename"])
    return StreamingResponse(out["chunks"], media_type=out["media_type"],
                             headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"})
