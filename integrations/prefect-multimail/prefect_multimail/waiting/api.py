"""The public waits: :func:`wait_for_approval`, :func:`wait_for_decision` and
:func:`wait_for_delivery` (blocking), and their async twins :func:`await_approval`,
:func:`await_decision` and :func:`await_delivery`. Each checks its arguments, picks
the target and hands it to a runner; the wait itself is :mod:`.logic`."""

from __future__ import annotations

from ..credentials import MultiMailCredentials
from . import async_, blocking
from .prefect_run import refuse_async
from .targets import Approval, ApprovalResult, Decision, Delivery


def wait_for_approval(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
    suspend: bool | None = None,
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
        suspend: Suspend the flow run instead of pausing it: its process exits, the run waits as
            *Suspended*, and when the human acts a worker runs the flow again from the top
            (the tasks that already ran are read back from their persisted results). ``None``
            (the default) suspends a deployment run whose results are persisted when
            ``timeout`` is over 10 minutes, and pauses otherwise; ``False`` always pauses.
            Only a top-level deployment run with persisted results can be suspended; any
            other run pauses (with a warning when ``True`` was asked for). A suspended wait's
            timeout fails the run (Prefect expires the suspension) instead of raising
            :class:`ApprovalTimeout`. See the README, "Long waits".

    Returns:
        ``"approved"``, or ``"not_required"`` when the message was never held (its mailbox's
        oversight let it go straight out). Either means a human let it go (or nobody had to),
        not that it went out yet: delivery follows within moments, and may still fail (a relay
        that refuses it). When the next step needs the mail out, follow with
        :func:`wait_for_delivery`.

    Raises:
        MessageRejected: An approver rejected it (``reason``, ``decided_by``).
        MessageCancelled: It was withdrawn before anyone approved it.
        ApprovalTimeout: Nobody decided within ``timeout`` (a :class:`WaitTimeout`).
        multimail_server.client.NotFound: Unknown message, or outside the key's scope.
        TypeError: Called in an async flow or task (use :func:`await_approval`).

    Example:
        ```python
        @flow
        def quarterly_report():
            credentials = MultiMailCredentials.load("BLOCK_NAME")
            message_id = send_email(credentials, sender="agent@acme.test", to="cfo@acme.test",
                                    subject="Q3 numbers", body=draft_report())
            wait_for_approval(credentials, message_id, timeout=8 * 3600)
            wait_for_delivery(credentials, message_id)  # "sent", or DeliveryFailed
            archive_report()  # runs only once a human approved the mail and it went out
        ```
    """
    refuse_async("wait_for_approval", "await_approval")
    return blocking.wait(credentials, Approval(message_id), timeout, poll_interval, suspend)


def wait_for_decision(
    credentials: MultiMailCredentials,
    thread_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
    suspend: bool | None = None,
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
        suspend: As for :func:`wait_for_approval` (a suspended wait's timeout fails the run).

    Returns:
        The chosen option, spelled as in ``options``.

    Raises:
        DecisionTimeout: Nobody answered within ``timeout`` (a :class:`WaitTimeout`).
        MessageRejected: The question itself was held for approval and rejected, so nobody will
            ever answer it (noticed when polling; a paused run learns it through the watcher).
        MessageCancelled: The question was withdrawn.
        multimail_server.client.Conflict: ``not_a_decision``: the thread has no decide_email question
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
    return blocking.wait(credentials, Decision(thread_id), timeout, poll_interval, suspend)


async def await_approval(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
    suspend: bool | None = None,
) -> ApprovalResult:
    """The async twin of :func:`wait_for_approval` (for ``async def`` flows, or any event loop).

    Args:
        credentials: The MultiMail credentials block.
        message_id: The held message.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.
        suspend: As for :func:`wait_for_approval`.

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
    return await async_.await_(credentials, Approval(message_id), timeout, poll_interval, suspend)


async def await_decision(
    credentials: MultiMailCredentials,
    thread_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
    suspend: bool | None = None,
) -> str:
    """The async twin of :func:`wait_for_decision`.

    Args:
        credentials: The MultiMail credentials block.
        thread_id: The question's thread.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.
        suspend: As for :func:`wait_for_approval`.

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
    return await async_.await_(credentials, Decision(thread_id), timeout, poll_interval, suspend)


def wait_for_delivery(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 600,
    poll_interval: float = 1.0,
) -> str:
    """Wait until a message went out (status ``sent``); fail if it cannot.

    For the step after :func:`wait_for_approval` (or a send that needed no approval) that must
    not run before the mail is out. It polls ``read_email`` every ``poll_interval`` seconds
    (the server has no long-poll on a message's status; an approved message goes out within
    seconds, a relay's retries may take longer) and waits out a MultiMail server that is down
    for a while, like the other waits. It never pauses the run. In an ``async def`` flow use
    :func:`await_delivery`.

    Args:
        credentials: The MultiMail credentials block.
        message_id: An outbound message, e.g. what :func:`~prefect_multimail.send_email` returned.
        timeout: Seconds to wait at most.
        poll_interval: Seconds between two looks at the message.

    Returns:
        ``"sent"``: the relay (or capture mode) accepted it.

    Raises:
        DeliveryFailed: It could not be delivered (``failure_reason``).
        MessageRejected: It was rejected by an approver, so it never goes out.
        MessageCancelled: It was withdrawn.
        DeliveryTimeout: Still on its way (pending approval, queued, retrying) after ``timeout``.
        ValueError: An inbound message.
        TypeError: Called in an async flow or task (use :func:`await_delivery`).

    Example:
        ```python
        wait_for_approval(credentials, message_id, timeout=8 * 3600)
        wait_for_delivery(credentials, message_id)
        tell_the_team(f"The Q3 report went out.")
        ```
    """
    refuse_async("wait_for_delivery", "await_delivery")
    return blocking.wait(credentials, Delivery(message_id), timeout, poll_interval)


async def await_delivery(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 600,
    poll_interval: float = 1.0,
) -> str:
    """The async twin of :func:`wait_for_delivery`: ``"sent"``, or the same exceptions."""
    return await async_.await_(credentials, Delivery(message_id), timeout, poll_interval)
