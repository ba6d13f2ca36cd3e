"""The MultiMail Python client (SDK): a small typed httpx client, sync and async.

It needs only httpx and the standard library, so it installs on a worker (e.g. a Prefect worker)
without the server's dependencies.

Example:
    >>> from multimail_server.client import MultiMail, NotFound
    >>> with MultiMail() as client:  # MULTIMAIL_API_KEY / MULTIMAIL_BASE_URL from the environment
    ...     sent = client.send_email(sender="agent@acme.test", to="bob@x.test", subject="Hi", body="Hello")
    ...     for msg in client.iter_inbox("agent@acme.test", unread=True):
    ...         print(msg["from"], msg["subject"])

    >>> import asyncio
    >>> from multimail_server.client import AsyncMultiMail
    >>> async def main():
    ...     async with AsyncMultiMail() as client:
    ...         return (await client.check_inbox("agent@acme.test"))["messages"]
    >>> asyncio.run(main())
"""

from . import webhooks
from ._async import AsyncMultiMail
from ._base import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL, new_idempotency_key
from ._sync import MultiMail
from .errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionError,
    MultiMailError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServerError,
    UnprocessableEntity,
)
from .types import (
    ApiKey,
    ApprovalOutcome,
    Attachment,
    AuditEvent,
    Claim,
    DecisionOutcome,
    FlowRunWait,
    InboxMessage,
    InboxPage,
    Mailbox,
    Message,
    OversightMode,
    PendingMessage,
    SendResult,
    Thread,
    Webhook,
    WhoAmI,
    attachment,
)

__all__ = [
    "MultiMail", "AsyncMultiMail",
    "MultiMailError", "BadRequest", "AuthenticationError", "PermissionDenied", "NotFound", "Conflict",
    "PayloadTooLarge", "UnprocessableEntity", "RateLimited", "ServerError", "ConnectionError", "APIConnectionError",
    "SendResult", "Attachment", "attachment", "Claim", "InboxMessage", "InboxPage", "Message", "Thread", "PendingMessage",
    "Mailbox", "AuditEvent", "Webhook", "ApiKey", "OversightMode", "FlowRunWait", "ApprovalOutcome", "DecisionOutcome",
    "WhoAmI", "webhooks",
    "DEFAULT_BASE_URL", "ENV_API_KEY", "ENV_BASE_URL", "new_idempotency_key",
]
