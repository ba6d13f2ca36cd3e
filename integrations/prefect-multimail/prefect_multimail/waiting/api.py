"""The public waits: :func:`wait_for_approval` and :func:`wait_for_decision` (blocking), and their
async twins :func:`await_approval` and :func:`await_decision`. Each checks its arguments, picks
the target and hands it to a runner; the wait itself is :mod:`.logic`."""

from __future__ import annotations

from ..credentials import MultiMailCredentials
from . import async_, blocking
from .prefect_run import refuse_async
from .targets import Approval, ApprovalResult, Decision


def wait_for_approval(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> ApprovalResult:
    """Wait until a held message is approved (it then goes out), or fail if it is rejected.

    Call it from the flow function: there the run pauses (no task slot held, *Paused* in the UI)
    and the MultiMail server resumes it the moment an approver decides; elsewhere (outside a
    flow, in a task, or with a server that cannot reach Prefect) it long-polls. See the module
    docstring for the whole story. In an ``async def`` flow use :func:`await_approval`.

    Args:
        credentials: The MultiMail credentials block (an agent key is enough).
        message_id: The message, e.g. what :func:`~prefect_multimail.send_email` returned.
        timeout: Seconds to wait at most.
        poll_interval: Seconds between the paused run's checks for its resume (Prefect's pause
            polling), and the least time between two polls of a server that answers at once.

    Returns:
        ``"approved"``, or ``"not_required"`` when the message was never held (its mailbox's
        oversight let it go straight out).

    Raises:
        MessageRejected: An approver rejected it (``reason``, ``decided_by``).
        MessageCancelled: It was withdrawn before anyone approved it.
        ApprovalTimeout: Nobody decided within ``timeout`` (a :class:`WaitTimeout`).
        multimail.client.NotFound: Unknown message, or outside the key's scope.
        TypeError: Called in an async flow or task (use :func:`await_approval`).

    Example:
        ```python
        @flow
        def quarterly_report():
            credentials = MultiMailCredentials.load("BLOCK_NAME")
            message_id = send_email(credentials, sender="agent@acme.test", to="cfo@acme.test",
                                    subject="Q3 numbers", body=draft_report())
            wait_for_approval(credentials, message_id, timeout=8 * 3600)
            archive_report()  # runs only once a human approved the mail
        ```
    """
    refuse_async("wait_for_approval", "await_approval")
    return blocking.wait(credentials, Approval(message_id), timeout, poll_interval)


def wait_for_decision(
    credentials: MultiMailCredentials,
    thread_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> str:
    """Wait for the answer to a decide_email question; return the chosen option.

    The human answers by replying (the first meaningful word or line, matched to an option) or
    by a one-click link. Works like :func:`wait_for_approval`: pauses in a flow function, long-polls
    elsewhere. In an ``async def`` flow use :func:`await_decision`.

    Args:
        credentials: The MultiMail credentials block.
        thread_id: The question's thread, as :func:`~prefect_multimail.decide_email` returned it.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.

    Returns:
        The chosen option, spelled as in ``options``.

    Raises:
        DecisionTimeout: Nobody answered within ``timeout`` (a :class:`WaitTimeout`).
        MessageRejected: The question itself was held for approval and rejected, so nobody will
            ever answer it (noticed when polling; a paused run learns it through the watcher).
        MessageCancelled: The question was withdrawn.
        multimail.client.Conflict: ``not_a_decision``: the thread has no decide_email question
            (``ValueError`` with the same meaning when polling).
        TypeError: Called in an async flow or task (use :func:`await_decision`).

    Example:
        ```python
        thread_id = decide_email(credentials, sender="agent@acme.test", to="boss@acme.test",
                                 question="Ship the release on Monday?", options=["Ship", "Hold"])
        if wait_for_decision(credentials, thread_id, timeout=24 * 3600) == "Ship":
            ship()
        ```
    """
    refuse_async("wait_for_decision", "await_decision")
    return blocking.wait(credentials, Decision(thread_id), timeout, poll_interval)


async def await_approval(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> ApprovalResult:
    """The async twin of :func:`wait_for_approval` (for ``async def`` flows, or any event loop).

    Args:
        credentials: The MultiMail credentials block.
        message_id: The held message.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.

    Returns:
        ``"approved"`` or ``"not_required"``.

    Raises:
        MessageRejected: An approver rejected it.
        MessageCancelled: It was withdrawn.
        ApprovalTimeout: Nobody decided within ``timeout``.

    Example:
        ```python
        @flow
        async def notify():
            credentials = await MultiMailCredentials.load("BLOCK_NAME")
            message_id = send_email(credentials, sender="agent@acme.test", to="ana@partner.test",
                                    subject="Hi", body="Hello")
            await await_approval(credentials, message_id)
        ```
    """
    return await async_.await_(credentials, Approval(message_id), timeout, poll_interval)


async def await_decision(
    credentials: MultiMailCredentials,
    thread_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> str:
    """The async twin of :func:`wait_for_decision`.

    Args:
        credentials: The MultiMail credentials block.
        thread_id: The question's thread.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.

    Returns:
        The chosen option.

    Raises:
        DecisionTimeout: Nobody answered within ``timeout``.
        MessageRejected: The question was rejected before it went out.

    Example:
        ```python
        choice = await await_decision(credentials, thread_id, timeout=3600)
        ```
    """
    return await async_.await_(credentials, Decision(thread_id), timeout, poll_interval)
