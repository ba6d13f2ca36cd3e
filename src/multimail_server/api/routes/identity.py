"""Sender verification without an API key: the identity signing key and verify_message."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ...client.types import SigningKeys, VerifyResult
from ...core.errors import UnsupportedMediaType
from ...services.identity import public_keys, verify_message
from ..deps import CtxDep
from ..errors import ErrorBody

router = APIRouter(tags=["identity"])

# No API key, so never a 401; the error shape is the usual one.
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is empty or not an RFC 5322 message (code empty_message / invalid_message)."},
    413: {"model": ErrorBody, "description": "Message larger than the request limit."},
    415: {"model": ErrorBody, "description": "Content-Type is not message/rfc822, text/plain or application/octet-stream."},
}

# Content types verify_message reads as a raw RFC 5322 message (a missing one is read as one too).
MESSAGE_TYPES = ("message/rfc822", "text/plain", "application/octet-stream")


@router.get("/.well-known/multimail-signing-key", operation_id="signing_key", response_model=SigningKeys)
def signing_key(ctx: CtxDep) -> JSONResponse:
    """The public keys that sign `X-MultiMail-Identity` claims, as a JWK set (`keys`, each with
    `kid`, the JWK fields and a `pem`), plus `kid`: the key in use."""
    return JSONResponse(public_keys(ctx), headers={"Cache-Control": "public, max-age=3600"})


@router.post(
    "/v1/verify_message",
    operation_id="verify_message",
    response_model=VerifyResult,
    responses=_ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {t: {"schema": {"type": "string"}} for t in MESSAGE_TYPES[:2]}}},
)
async def verify(request: Request, ctx: CtxDep) -> dict[str, Any]:
    """No API key. The body is a raw RFC 5322 message (`Content-Type: message/rfc822` or
    `text/plain`). Checks its DKIM signature (keys of domains hosted here are taken from this
    server's database, `key_source: "local"`; others from DNS) and its X-MultiMail-Identity claim,
    and answers `{"dkim", "identity", "proves", "does_not_prove"}`."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype not in MESSAGE_TYPES:
        raise UnsupportedMediaType(
            "Send the raw message with 'Content-Type: message/rfc822' (or text/plain).",
            details={"content_type": ctype, "accepted": list(MESSAGE_TYPES)},
        )
    raw = await request.body()
    kwargs = {}
    if hasattr(request.app.state, "dkim_dnsfunc"):  # tests and embedders may swap the resolver
        kwargs["dnsfunc"] = request.app.state.dkim_dnsfunc
    return await run_in_threadpool(verify_message, ctx, raw=raw, **kwargs)
