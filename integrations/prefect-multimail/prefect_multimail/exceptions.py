"""Why a wait for a human ended without the answer the flow hoped for.

All of them subclass :class:`MultiMailWaitError`, so a flow can catch every "the human said no
(or nothing)" case at once, or one precisely::

    try:
        wait_for_approval(credentials, message_id)
    except MessageRejected as exc:
        logger.warning("rejected by %s: %s", exc.decided_by, exc.reason)
    except WaitTimeout:
        ...

Uncaught, they fail the flow run with a message that says what happened, which is the point:
a rejected message must never look like a flow that finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "MultiMailWaitError", "MessageRejected", "MessageCancelled",
    "WaitTimeout", "ApprovalTimeout", "DecisionTimeout", "DeliveryFailed", "DeliveryTimeout",
]


class MultiMailWaitError(Exception):
    """A wait for an approval or a decision ended without a usable outcome.

    Attributes:
        message_id: The message concerned (the held message, or the question), when known.
        thread_id: The decision's thread, when the wait was for a decision.
        outcome: The server's outcome object, when there was one.
    """

    def __init__(self, text: str, *, message_id: str | None = None, thread_id: str | None = None,
                 outcome: Mapping[str, Any] | None = None):
        super().__init__(text)
        self.message_id = message_id
        self.thread_id = thread_id
        self.outcome = dict(outcome) if outcome is not None else None


class MessageRejected(MultiMailWaitError):
    """An approver rejected the message: it will never go out.

    Attributes:
        reason: The approver's reason, if they gave one.
        decided_by: Who rejected it (the approver key's label).
        decided_at: When (ISO 8601).
    """

    def __init__(self, text: str, *, reason: str | None = None, decided_by: str | None = None,
                 decided_at: str | None = None, **kwargs: Any):
        super().__init__(text, **kwargs)
        self.reason = reason
        self.decided_by = decided_by
        self.decided_at = decided_at


class MessageCancelled(MultiMailWaitError):
    """The message was withdrawn before anyone approved it (by the agent, an approver, or a
    cancelled flow's hook): it will never go out.

    Attributes:
        reason: The reason given when it was cancelled.
        decided_by: Who cancelled it.
    """

    def __init__(self, text: str, *, reason: str | None = None, decided_by: str | None = None, **kwargs: Any):
        super().__init__(text, **kwargs)
        self.reason = reason
        self.decided_by = decided_by


class WaitTimeout(MultiMailWaitError, TimeoutError):
    """Nobody answered before the wait's ``timeout``. Also raised when Prefect's own pause
    timeout (``FlowPauseTimeout``) fires; the message itself stays as it is (still pending,
    or unanswered), so another run can pick it up or a hook can cancel it.

    Attributes:
        timeout: The timeout, in seconds.
    """

    def __init__(self, text: str, *, timeout: float | None = None, **kwargs: Any):
        super().__init__(text, **kwargs)
        self.timeout = timeout


class ApprovalTimeout(WaitTimeout):
    """No approver approved or rejected the message in time."""


class DecisionTimeout(WaitTimeout):
    """Nobody answered the question in time."""


class DeliveryTimeout(WaitTimeout):
    """The message had not gone out (``sent``) nor failed within the wait for its delivery."""


class DeliveryFailed(MultiMailWaitError):
    """The message was approved (or needed no approval) but could not be delivered: the relay
    refused it for good, or every retry failed.

    Attributes:
        failure_reason: What the server recorded (the relay's answer), when known.
    """

    def __init__(self, text: str, *, failure_reason: str | None = None, **kwargs: Any):
        super().__init__(text, **kwargs)
        self.failure_reason = failure_reason
