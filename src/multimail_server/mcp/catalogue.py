"""What a tool is, and the pieces every tool shares: the session a call runs in, tool errors,
the mailbox a call means, markdown, and the output schemas derived from the SDK's types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from ..client import AsyncMultiMail
from ..client import types as t
from ..mail.markdown import render_markdown

# Scopes in the API's vocabulary (core/access.py); a tool is listed for a key with any of its scopes.
READ, SEND, OVERSIGHT, ADMIN = "read", "send", "oversight", "admin"

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


async def _no_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


class ToolError(Exception):
    """A tool call that failed in a way the agent should read: the API's error code (or ours,
    for arguments and features), its message, and the HTTP status when the API answered."""

    def __init__(self, code: str, message: str, *, status: int | None = None, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.details = code, message, status, dict(details or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status, "details": self.details}}


def not_available(feature: str, instead: str | None = None) -> ToolError:
    """A hosted-service tool whose feature this server does not have yet (scheduled send,
    suppression, spam): said plainly, with what to do instead when there is something."""
    return ToolError("not_implemented", f"{feature} is not available on this self-hosted MultiMail server yet."
                     + (f" {instead}" if instead else ""), status=501)


@dataclass
class ToolSession:
    """What a tool call works with: the SDK client holding the caller's key, the default mailbox
    (``MULTIMAIL_MAILBOX_ID``, as the hosted server reads it), and the call's progress reporter."""

    client: AsyncMultiMail
    default_mailbox: str | None = None
    progress: Progress = _no_progress

    async def mailbox_ref(self, given: str | None) -> str:
        """The mailbox a call means (its id or address): the argument, the default, or the only
        mailbox the key may use."""
        ref = given or self.default_mailbox
        if ref:
            return ref
        boxes = (await self.client.list_mailboxes())["mailboxes"]
        if len(boxes) == 1:
            return boxes[0]["address"]
        raise ToolError("mailbox_required", "Pass mailbox_id: this key may use "
                        f"{len(boxes)} mailboxes (list_mailboxes shows them).",
                        details={"mailboxes": [b["address"] for b in boxes]})

    async def mailbox_address(self, given: str | None) -> str:
        """The mailbox's address (what send_email's ``from`` takes), from its id or address."""
        ref = await self.mailbox_ref(given)
        if "@" in ref:
            return ref
        for box in (await self.client.list_mailboxes())["mailboxes"]:
            if box["mailbox_id"] == ref:
                return box["address"]
        raise ToolError("mailbox_not_found", f"No mailbox {ref!r} for this key (list_mailboxes shows them).", status=404)


class Args(BaseModel):
    """Tool arguments: unknown names are refused (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    args: type[Args]
    output: dict[str, Any]
    handler: Callable[[ToolSession, Any], Awaitable[Any]]
    scopes: frozenset[str] = field(default_factory=frozenset)  # empty: every key (and none) may use it
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    untrusted: bool = False  # the result holds mail text: separate it (untrusted.py)

    def listed_for(self, scopes: frozenset[str]) -> bool:
        return not self.scopes or bool(self.scopes & scopes)


def schema_of(shape: Any) -> dict[str, Any]:
    """The JSON schema of an SDK answer type (client/types.py), so a tool's outputSchema is the
    API's response model and cannot drift from it."""
    return TypeAdapter(shape).json_schema()


def markdown_html(markdown: str) -> str:
    """The HTML alternative of a markdown body, rendered and sanitised by the same codec as the
    hosted routes' `markdown` field (mail/markdown.py), so both dialects send the same mail."""
    return render_markdown(markdown).html


def hosted_attachments(items: list[Any] | None) -> list[t.Attachment] | None:
    """The hosted server's attachment items (``name``, ``content_base64``, ``content_type``) as ours."""
    if not items:
        return None
    return [{"filename": a.name, "content_type": a.content_type, "content_base64": a.content_base64} for a in items]
