"""Prefect tasks for MultiMail: thin wrappers over the SDK (``multimail_server.client``) that take the
credentials block first and everything else by keyword.

Retries: the tasks that send (``send_email``, ``reply_email``, ``decide_email``) carry an
idempotency key derived from the run (see :mod:`prefect_multimail._context`), so a retry you
configure (``send_email.with_options(retries=3)``) or a retried flow run never sends twice; they
have no retries of their own. In a run of a deployment, which may be run again from the top
days later (after a suspension, see :mod:`prefect_multimail.waiting`), each send's message id is
also kept with the run (:mod:`prefect_multimail._run_sends`), so a repeat finds it even once the
server has forgotten the key (it keeps one 24 h). Reading, tagging, acknowledging and releasing are safe to repeat
and retry twice on transient failures (connection errors, 5xx, 429). ``claim_messages`` and
``cancel_message`` do not retry: a repeated claim would lease other messages, and a cancellation
that failed deserves a look.

No task caches its result (``cache_policy=NO_CACHE``): a send is made idempotent by its key, and a
read must see the mailbox as it is now.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from multimail_server.client.errors import ConnectionError as MultiMailConnectionError
from multimail_server.client.errors import RateLimited, ServerError
from multimail_server.client.types import (
    Addresses,
    Attachment,
    Claim,
    Message,
    OversightMode,
    PendingMessage,
    TagResult,
    TagValue,
)

from ._context import derive_idempotency_key, merge_metadata
from ._run_sends import recall, remember
from .credentials import MultiMailCredentials

__all__ = [
    "send_email", "reply_email", "decide_email", "check_inbox", "read_email", "tag_email",
    "claim_messages", "ack_messages", "release_messages", "cancel_message",
]

_module_logger = logging.getLogger("prefect_multimail")


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:  # called with .fn outside a run
        return _module_logger


def _transient_failure(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what another attempt may fix: the server unreachable, a 5xx, a 429."""
    try:
        state.result()
    except (MultiMailConnectionError, ServerError, RateLimited):
        return True
    except BaseException:
        return False
    return False


def _log_recalled(what: str, earlier: Mapping[str, Any]) -> None:
    _logger().info("%s %s was sent by an earlier run of this flow run (before it was suspended, or a retried run); "
                   "not sent again", what, earlier["message_id"])


_SAFE_RETRIES: dict[str, Any] = {"retries": 2, "retry_delay_seconds": [1, 5], "retry_condition_fn": _transient_failure}


# What a sending task takes besides the SDK call's own arguments, or handles itself.
_NOT_SENT_AS_IS = frozenset({"credentials", "metadata", "idempotency_key"})


def _request(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A sending task's arguments (its ``locals()`` on entry) as the SDK call's keyword arguments,
    less the block, the metadata and the key, which the run completes (:func:`_run_fields`): what
    makes two sends "the same send". Forwarding them all, rather than naming each a second time,
    means no parameter the task takes can be left out of the call (and
    tests/test_tasks_match_sdk.py checks the task takes each of the SDK method's)."""
    return {name: value for name, value in arguments.items() if name not in _NOT_SENT_AS_IS}


def _run_fields(metadata: Mapping[str, Any] | None, idempotency_key: str | None, operation: str,
                request: Mapping[str, Any]) -> dict[str, Any]:
    """What a send adds to its ``request`` from the run: the run's ids in its metadata, and the
    caller's idempotency key or one derived from the run and the request (which, without
    metadata, is what makes it "the same send")."""
    merged = merge_metadata(metadata)
    key = idempotency_key if idempotency_key is not None else derive_idempotency_key(operation, request)
    return {"metadata": merged, "idempotency_key": key}


def _schedule(send_at: str | datetime | None) -> dict[str, str]:
    """`send_at` as the request's text, only when given: a task without one derives the same
    idempotency key as before scheduled send existed."""
    if send_at is None:
        return {}
    return {"send_at": send_at if isinstance(send_at, str) else send_at.isoformat()}


@task(name="multimail-send-email", cache_policy=NO_CACHE)
def send_email(
    credentials: MultiMailCredentials,
    *,
    sender: str,
    to: Addresses,
    subject: str,
    body: str,
    html: str | None = None,
    cc: Addresses | None = None,
    bcc: Addresses | None = None,
    reply_to: Addresses | None = None,
    attachments: Sequence[Attachment] | None = None,
    oversight_mode: OversightMode | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    send_at: str | datetime | None = None,
    gate_timing: str | None = None,
) -> str:
    """Send a new message from a MultiMail mailbox.

    Under ``gated_send`` / ``gated_all`` oversight the message is held as ``pending`` until a
    human approves it; follow with :func:`prefect_multimail.wait_for_approval` when the flow must
    not go on before it is out. The run's ids are added to ``metadata["prefect"]``, so the
    server's audit trail (and the cancellation hook) can find the run that sent it.

    Args:
        credentials: The MultiMail credentials block.
        sender: The sending mailbox's address.
        to: One address or a list.
        subject: The subject.
        body: The plain-text body.
        html: An HTML body, optional.
        cc: Carbon-copy recipients.
        bcc: Blind-copy recipients.
        reply_to: Reply-To address(es).
        attachments: Items from :func:`multimail_server.client.attachment`.
        oversight_mode: Make oversight stricter for this message (or looser, down to the mailbox's floor).
        metadata: Free-form JSON kept with the message.
        idempotency_key: Your own key; by default one is derived from the run, so a retried task
            or flow run gets the first attempt's message instead of sending another.
        approval_timeout: If held: this message's own approval timeout in seconds.
        on_timeout: If held: ``reject``, ``escalate`` or ``approve`` when the timeout passes
            (an agent key cannot loosen the mailbox's policy).
        send_at: Scheduled send: when it may leave (an aware ``datetime`` or ISO 8601 with an
            offset). The task returns at once; the message is ``scheduled`` until then.
        gate_timing: For a scheduled message that needs approval: ``gate_first`` (the
            approvers are asked now) or ``schedule_first`` (when it falls due); default: the
            mailbox's.

    Returns:
        The message id (``msg_…``).

    Example:
        ```python
        from prefect import flow
        from prefect_multimail import MultiMailCredentials, send_email, wait_for_approval

        @flow
        def notify():
            credentials = MultiMailCredentials.load("BLOCK_NAME")
            message_id = send_email(credentials, sender="agent@acme.test", to="ana@partner.test",
                                    subject="Quarterly numbers", body="Revenue is up 12%.")
            wait_for_approval(credentials, message_id)
        ```
    """
    request = {**_request(locals()), **_schedule(send_at)}  # send_at as text, as the key derivation reads it
    fields = _run_fields(metadata, idempotency_key, "send", request)
    earlier = recall(fields["idempotency_key"], request)
    if earlier is not None:
        _log_recalled("Message", earlier)
        return earlier["message_id"]
    with credentials.get_client() as client:
        result = client.send_email(**request, **fields)
    remember(fields["idempotency_key"], request, message_id=result.message_id)
    _logger().info("Message %s from %s: %s (oversight %s)%s", result.message_id, sender, result.status,
                   result.oversight_mode, " - a repeat of an earlier attempt, not sent again" if result.duplicate else "")
    return result.message_id


@task(name="multimail-reply-email", cache_policy=NO_CACHE)
def reply_email(
    credentials: MultiMailCredentials,
    *,
    message_id: str,
    body: str,
    html: str | None = None,
    reply_all: bool | None = None,
    cc: Addresses | None = None,
    bcc: Addresses | None = None,
    attachments: Sequence[Attachment] | None = None,
    oversight_mode: OversightMode | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    send_at: str | datetime | None = None,
    gate_timing: str | None = None,
) -> str:
    """Reply in a message's thread (In-Reply-To, References and ``Re:`` subject set by the server).

    Args:
        credentials: The MultiMail credentials block.
        message_id: The message replied to.
        body: The plain-text body.
        html: An HTML body, optional.
        reply_all: Also address the original's other recipients.
        cc: Extra carbon-copy recipients.
        bcc: Blind-copy recipients.
        attachments: Items from :func:`multimail_server.client.attachment`.
        oversight_mode: Per-message oversight override.
        metadata: Free-form JSON kept with the message (the run's ids are added).
        idempotency_key: Your own key; derived from the run by default (see :func:`send_email`).
        approval_timeout: If held: this reply's own approval timeout in seconds.
        on_timeout: If held: ``reject``, ``escalate`` or ``approve`` when the timeout passes.
        send_at: Scheduled send, as for :func:`send_email`.
        gate_timing: As for :func:`send_email`.

    Returns:
        The reply's message id.

    Example:
        ```python
        reply_id = reply_email(credentials, message_id=incoming["message_id"], body="Thanks, received.")
        ```
    """
    request = {**_request(locals()), **_schedule(send_at)}  # send_at as text, as the key derivation reads it
    fields = _run_fields(metadata, idempotency_key, "reply", request)
    earlier = recall(fields["idempotency_key"], request)
    if earlier is not None:
        _log_recalled("Reply", earlier)
        return earlier["message_id"]
    with credentials.get_client() as client:
        result = client.reply_email(**request, **fields)
    remember(fields["idempotency_key"], request, message_id=result.message_id)
    _logger().info("Reply %s to %s: %s (oversight %s)%s", result.message_id, message_id, result.status,
                   result.oversight_mode, " - a repeat of an earlier attempt, not sent again" if result.duplicate else "")
    return result.message_id


@task(name="multimail-decide-email", cache_policy=NO_CACHE)
def decide_email(
    credentials: MultiMailCredentials,
    *,
    sender: str,
    to: Addresses,
    question: str,
    options: Sequence[str],
    subject: str | None = None,
    context: str | None = None,
    cc: Addresses | None = None,
    oversight_mode: OversightMode | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Ask a human to choose one of ``options`` by email; they answer by replying or by a one-click link.

    Follow with :func:`prefect_multimail.wait_for_decision` to get the chosen option.

    Args:
        credentials: The MultiMail credentials block.
        sender: The sending mailbox's address.
        to: One address or a list.
        question: The question.
        options: The possible answers.
        subject: The subject; derived from the question when omitted.
        context: Text shown above the question.
        cc: Carbon-copy recipients.
        oversight_mode: Per-message oversight override.
        metadata: Free-form JSON kept with the question (the run's ids are added).
        idempotency_key: Your own key; derived from the run by default (see :func:`send_email`).

    Returns:
        The thread id (``thr_…``) to wait on.

    Example:
        ```python
        thread_id = decide_email(credentials, sender="agent@acme.test", to="boss@acme.test",
                                 question="Ship the release on Monday?", options=["Ship", "Hold"])
        if wait_for_decision(credentials, thread_id) == "Ship":
            ...
        ```
    """
    request = _request(locals())
    fields = _run_fields(metadata, idempotency_key, "decide", request)
    earlier = recall(fields["idempotency_key"], request)
    if earlier is not None and earlier.get("thread_id"):
        _log_recalled("Question", earlier)
        return earlier["thread_id"]
    with credentials.get_client() as client:
        result = client.decide_email(**request, **fields)
    remember(fields["idempotency_key"], request, message_id=result.message_id, thread_id=result.thread_id)
    _logger().info("Question %s (thread %s) to %s: %s%s", result.message_id, result.thread_id, to, result.status,
                   " - a repeat of an earlier attempt, not sent again" if result.duplicate else "")
    return result.thread_id


@task(name="multimail-check-inbox", cache_policy=NO_CACHE, **_SAFE_RETRIES)
def check_inbox(
    credentials: MultiMailCredentials,
    *,
    mailbox: str,
    tag: str | None = None,
    exclude_tag: str | None = None,
    unread: bool | None = None,
    since: datetime | str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A mailbox's inbound messages, newest first (up to ``limit``, following pages as needed).

    To process each message exactly once across concurrent runs, prefer :func:`claim_messages`;
    ``check_inbox`` with ``exclude_tag`` and :func:`tag_email` is the simple single-runner way.

    Args:
        credentials: The MultiMail credentials block.
        mailbox: Address or mailbox id.
        tag: Only messages with this tag key.
        exclude_tag: Only messages without this tag key.
        unread: ``True`` for unread only, ``False`` for read only.
        since: Only messages received at or after this time.
        limit: At most this many messages.

    Returns:
        Inbox items: ``message_id``, ``thread_id``, ``from``, ``to``, ``subject``, ``snippet``,
        ``received_at``, ``tags``, ``read``.

    Example:
        ```python
        for msg in check_inbox(credentials, mailbox="agent@acme.test", exclude_tag="processed"):
            ...
        ```
    """
    if limit < 1:
        return []
    found: list[dict[str, Any]] = []
    with credentials.get_client() as client:
        for item in client.iter_inbox(mailbox, tag=tag, exclude_tag=exclude_tag, unread=unread, since=since,
                                      page_size=min(limit, 100)):
            found.append(dict(item))
            if len(found) >= limit:
                break
    return found


@task(name="multimail-read-email", cache_policy=NO_CACHE, **_SAFE_RETRIES)
def read_email(credentials: MultiMailCredentials, *, message_id: str) -> Message:
    """The full message: body, html, attachments' metadata, tags, and for inbound mail the
    sender's authentication (SPF, DKIM, DMARC and a ``verified_sender`` verdict). Marks it read.

    Args:
        credentials: The MultiMail credentials block.
        message_id: The message.

    Returns:
        The message as the server answers it.

    Example:
        ```python
        msg = read_email(credentials, message_id=item["message_id"])
        trusted = msg["authentication"]["verified_sender"]
        ```
    """
    with credentials.get_client() as client:
        return client.read_email(message_id)


@task(name="multimail-tag-email", cache_policy=NO_CACHE, **_SAFE_RETRIES)
def tag_email(
    credentials: MultiMailCredentials,
    *,
    message_id: str,
    tags: Sequence[str] | Mapping[str, TagValue],
    remove: Sequence[str] | None = None,
) -> TagResult:
    """Set (and remove) tags on a message: key → value memory that persists across runs. Idempotent.

    Args:
        credentials: The MultiMail credentials block.
        message_id: The message.
        tags: Keys to set (each with an empty value), or a mapping of key → value.
        remove: Keys to delete.

    Returns:
        ``{"message_id", "tags"}`` with all the message's tags after the change.

    Example:
        ```python
        tag_email(credentials, message_id=msg["message_id"], tags={"triage": "invoice"}, remove=["todo"])
        ```
    """
    with credentials.get_client() as client:
        return client.tag_email(message_id, tags, remove=remove)


@task(name="multimail-claim-messages", cache_policy=NO_CACHE)
def claim_messages(
    credentials: MultiMailCredentials,
    *,
    mailbox: str,
    limit: int = 10,
    lease_seconds: int = 300,
    tag: str | None = None,
    exclude_tag: str | None = None,
) -> Claim:
    """Lease unprocessed inbound messages so that no concurrent run gets the same ones.

    Acknowledge each processed message with :func:`ack_messages` before the lease ends; what is
    not acknowledged in time becomes claimable again, so a crashed run loses nothing. Not retried:
    a repeated claim would lease other messages (the first claim's come back when its lease ends).

    Args:
        credentials: The MultiMail credentials block.
        mailbox: Address or mailbox id.
        limit: At most this many messages (1–100).
        lease_seconds: How long the claim holds them (5–3600); longer than the processing takes.
        tag: Only messages with this tag key.
        exclude_tag: Only messages without this tag key.

    Returns:
        ``{"claim_id", "mailbox", "messages", "lease_expires_at"}``; ``claim_id`` is ``None``
        and ``messages`` empty when there was nothing to claim.

    Example:
        ```python
        claim = claim_messages(credentials, mailbox="support@acme.test", limit=5, lease_seconds=600)
        for msg in claim["messages"]:
            handle(msg)
        if claim["claim_id"]:
            ack_messages(credentials, claim_id=claim["claim_id"])
        ```
    """
    with credentials.get_client() as client:
        claim = client.claim_messages(mailbox, limit=limit, lease_seconds=lease_seconds, tag=tag, exclude_tag=exclude_tag)
    _logger().info("Claimed %d message(s) of %s (claim %s)", len(claim["messages"]), mailbox, claim["claim_id"])
    return claim


@task(name="multimail-ack-messages", cache_policy=NO_CACHE, **_SAFE_RETRIES)
def ack_messages(credentials: MultiMailCredentials, *, claim_id: str, message_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Mark claimed messages processed, so they are never claimed again.

    Args:
        credentials: The MultiMail credentials block.
        claim_id: From :func:`claim_messages`.
        message_ids: Some of the claim's messages; all of them when omitted.

    Returns:
        ``{"claim_id", "acked", "processed_at"}``.

    Raises:
        multimail_server.client.Conflict: The lease ran out (another run may hold the messages now).

    Example:
        ```python
        ack_messages(credentials, claim_id=claim["claim_id"], message_ids=[msg["message_id"]])
        ```
    """
    with credentials.get_client() as client:
        return dict(client.ack_messages(claim_id, message_ids))


@task(name="multimail-release-messages", cache_policy=NO_CACHE, **_SAFE_RETRIES)
def release_messages(credentials: MultiMailCredentials, *, claim_id: str,
                     message_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Give claimed, unacknowledged messages back now, so another run can claim them at once.

    Args:
        credentials: The MultiMail credentials block.
        claim_id: From :func:`claim_messages`.
        message_ids: Some of the claim's messages; all of them when omitted.

    Returns:
        ``{"claim_id", "released"}``.

    Example:
        ```python
        release_messages(credentials, claim_id=claim["claim_id"])
        ```
    """
    with credentials.get_client() as client:
        return dict(client.release_messages(claim_id, message_ids))


@task(name="multimail-cancel-message", cache_policy=NO_CACHE)
def cancel_message(credentials: MultiMailCredentials, *, message_id: str, reason: str | None = None) -> PendingMessage:
    """Withdraw a message that has not gone out (one held for approval, or one still queued).

    Args:
        credentials: The MultiMail credentials block.
        message_id: The message.
        reason: Why, for the audit trail.

    Returns:
        The message's approval item after the change.

    Raises:
        multimail_server.client.Conflict: It already went out, or was approved (approval wins a race
            with a cancellation).

    Example:
        ```python
        cancel_message(credentials, message_id=message_id, reason="superseded by a newer report")
        ```
    """
    with credentials.get_client() as client:
        answer = client.cancel_message(message_id, reason=reason)
    _logger().info("Cancelled message %s%s", message_id, f": {reason}" if reason else "")
    return answer
