"""The words of the mail an approver gets: the notice of a held message and the digest of a
monitored mailbox, rendered from plain-text Jinja2 templates (mail/templates/approval_*.txt).

The notice carries the held message as it will go out (every header, the text, the attachments by
name) and how to answer by reply; the link section is added separately (`links_section`), only to
the copy sent to an external approver (services/approval_notices.py says why).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

# Plain text: nothing here is rendered as HTML, so autoescaping would only garble the agent's words.
_TEMPLATES = Environment(loader=PackageLoader("multimail_server.mail", "templates"), autoescape=False,  # noqa: S701
                         keep_trailing_newline=True, undefined=StrictUndefined)

ON_TIMEOUT_WORDS = {"reject": "rejected", "escalate": "sent to further approvers", "approve": "sent without approval"}
LINK_PLACEHOLDER = "[approval link: sent to external approvers only]"


def notice_text(*, mailbox: str, headers: list[list[str]], body: str, attachments: list[dict[str, Any]], required: int,
                approvals: int, due: str | None, on_timeout: str, escalated: bool, reason: str) -> str:
    return _TEMPLATES.get_template("approval_request.txt").render(
        mailbox=mailbox, headers=headers, body=body, attachments=attachments, required=required, approvals=approvals,
        due=due, on_timeout_words=ON_TIMEOUT_WORDS.get(on_timeout, on_timeout), escalated=escalated, reason=reason)


def links_section(url: str | None, expires: str | None) -> str:
    """The link an external approver gets (or, in every other copy, the placeholder)."""
    if url is None:
        return f"\nOr review it in your browser: {LINK_PLACEHOLDER}\n"
    return (f"\nOr review it in your browser and confirm there (the link works once, for this version of the "
            f"message, until {expires}):\n  {url}\n")


def digest_text(*, mailbox: str, start: str, end: str, items: list[dict[str, Any]]) -> str:
    return _TEMPLATES.get_template("approval_digest.txt").render(mailbox=mailbox, start=start, end=end, items=items)
