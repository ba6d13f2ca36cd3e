# generated from _async.py by scripts/unasync.py; do not edit
"""The synchronous client: :class:`MultiMail`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from ._base import BaseClient, Call, compact, when_text
from .types import (
    AckResult,
    Addresses,
    ApiKey,
    ApiKeyList,
    Attachment,
    AuditEvent,
    AuditPage,
    Claim,
    ContactAdded,
    ContactDeleted,
    ContactPage,
    FlowRunWait,
    Health,
    InboxMessage,
    InboxPage,
    Mailbox,
    MailboxDeleted,
    MailboxList,
    Message,
    OutboundPauses,
    OversightMode,
    PendingList,
    PendingMessage,
    ReleaseResult,
    SendResult,
    SpamMarked,
    SpamPage,
    SuppressionAdded,
    SuppressionPage,
    SuppressionsRemoved,
    TagResult,
    TagValue,
    Thread,
    VerifyResult,
    Webhook,
    WebhookDeleted,
    WebhookList,
    WhoAmI,
)


class MultiMail(BaseClient):
    """Synchronous client for the MultiMail HTTP API (one method per API verb).

    Args:
        api_key: An API key (``mm_live_…``). Defaults to the ``MULTIMAIL_API_KEY`` environment variable.
        base_url: The server, e.g. ``http://127.0.0.1:8025``. Defaults to ``MULTIMAIL_BASE_URL``,
            then ``http://127.0.0.1:8025``. A trailing ``/v1`` is accepted.
        timeout: Seconds (or an ``httpx.Timeout``) per HTTP request.
        transport: An ``httpx.BaseTransport`` to send requests through (tests, proxies).
        max_retries: Retries after a failed attempt. Calls are retried only when that is safe:
            GETs, and sends/replies/decisions that carry an idempotency key, after a
            transport error, a 5xx or a 429; any call when the connection could not be opened or
            the server answered 429 (a refused request changes nothing). ``0`` disables retries.
        retry_backoff: Seconds before the first retry; doubles per retry (with jitter, at most 8 s).
            A ``Retry-After`` answer header is honoured instead when present (up to 60 s).
        auto_idempotency: Give every send/reply/decide call that has no ``idempotency_key`` a
            fresh one, so the client may retry it after a dropped connection. Off by default: a
            fresh key per call turns off the server's window for identical requests, which is
            what makes a repeated call (a Prefect task retry) safe without a key of your own.
            Best of all, pass an ``idempotency_key`` derived from the work being done.
        headers: Extra headers for every request.

    Example:
        >>> from multimail_server.client import MultiMail
        >>> with MultiMail(api_key="mm_live_...", base_url="http://127.0.0.1:8025") as client:
        ...     result = client.send_email(sender="agent@acme.test", to="bob@example.com",
        ...                                subject="Hello", body="Hi Bob")
        ...     print(result.message_id, result.status)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = 30,
        transport: httpx.BaseTransport | None = None,
        *,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        auto_idempotency: bool = False,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(api_key, base_url, timeout, transport, max_retries=max_retries, retry_backoff=retry_backoff,
                         auto_idempotency=auto_idempotency, headers=headers)
        self._http = httpx.Client(base_url=self.base_url, timeout=self._timeout, transport=transport, headers=self._headers)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> MultiMail:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------

    def _request(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(call.method, call.path, params=call.params, json=call.json, content=call.content,
                                                  headers=call.headers,
                                                  **({} if call.timeout is None else {"timeout": call.timeout}))
            except httpx.TransportError as exc:
                delay = self._retry_delay_for_error(call, exc, attempt)
                if delay is None:
                    raise self._connection_error(call, exc) from exc
            else:
                delay = self._retry_delay_for_response(call, response, attempt)
                if delay is None:
                    return self._result(call, response)
            attempt += 1
            time.sleep(delay)

    # -- health -------------------------------------------------------------------------------

    def health(self) -> Health:
        """Whether the server can serve (no API key needed).

        Returns:
            ``{"status": "ok", "version": ...}``.

        Raises:
            ServerError: 503 when the server's database does not answer.

        Example:
            >>> client.health()["status"]
            'ok'
        """
        return self._request(Call("GET", "/health", idempotent=True))

    def whoami(self) -> WhoAmI:
        """The calling key's role, scopes and mailboxes (``GET /v1/whoami``).

        Returns:
            ``{"key_id", "role", "scopes", "mailboxes"}``; ``mailboxes`` is ``None`` for all.

        Raises:
            AuthenticationError: No key, or an unknown or revoked one.

        Example:
            >>> client.whoami()["role"]
            'agent'
        """
        return self._request(self._get_call("whoami"))

    # -- sending ------------------------------------------------------------------------------

    def send_email(
        self,
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
    ) -> SendResult:
        """Send a new message from a hosted mailbox (``POST /v1/send_email``).

        Under ``gated_send`` / ``gated_all`` oversight the message is held as ``pending`` until a
        human approves it.

        Args:
            sender: The sending mailbox's address (sent as the JSON field ``from``).
            to: One address or a list.
            subject: The subject.
            body: The plain-text body.
            html: An HTML body, optional.
            cc: Carbon-copy recipients.
            bcc: Blind-copy recipients.
            reply_to: Reply-To address(es).
            attachments: Items from :func:`multimail_server.client.attachment`.
            oversight_mode: Override the mailbox's mode for this call (stricter always; looser
                only down to the mailbox's floor).
            metadata: Free-form JSON kept with the message (e.g. the Prefect run ids).
            idempotency_key: Sent as the ``Idempotency-Key`` header: the same key with the same
                request returns the first answer for 24 h. Without one, the server treats an
                identical request within the mailbox's window as the same (see ``auto_idempotency``).
            approval_timeout: If held: this message's own approval timeout in seconds.
            on_timeout: If held: ``reject``, ``escalate`` or ``approve`` when the timeout passes
                (an agent key cannot loosen the mailbox's policy).
            send_at: Scheduled send: when it may leave (an aware ``datetime`` or ISO 8601 with
                an offset); the message is ``scheduled`` until then.
            gate_timing: For a held scheduled message: ``gate_first`` (approve now) or
                ``schedule_first`` (approve when due); an agent key may only pick the stricter.

        Returns:
            SendResult: ids, status and the oversight mode applied.

        Raises:
            PermissionDenied: The key may not send from this mailbox, or oversight forbids it.
            Conflict: ``idempotency_key`` was used before with another request.

        Example:
            >>> client.send_email(sender="agent@acme.test", to=["bob@x.test"], subject="Hi", body="Hello")
            SendResult(message_id='msg_…', thread_id='thr_…', status='pending', ...)
        """
        payload = {"from": sender, **compact(to=to, subject=subject, body=body, html=html, cc=cc, bcc=bcc, reply_to=reply_to,
                                             attachments=list(attachments) if attachments is not None else None,
                                             oversight_mode=oversight_mode, metadata=dict(metadata) if metadata is not None else None,
                                             approval_timeout=approval_timeout, on_timeout=on_timeout,
                                             send_at=when_text(send_at), gate_timing=gate_timing)}
        return SendResult.from_dict(self._request(self._sending_call("send_email", payload, idempotency_key)))

    def reply_email(
        self,
        message_id: str,
        *,
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
    ) -> SendResult:
        """Reply in a message's thread (``POST /v1/reply_email``): In-Reply-To, References, ``Re:`` subject.

        Args:
            message_id: The message replied to.
            body: The plain-text body.
            html: An HTML body, optional.
            reply_all: Also address the original's other recipients.
            cc: Extra carbon-copy recipients.
            bcc: Blind-copy recipients.
            attachments: Items from :func:`multimail_server.client.attachment`.
            oversight_mode: Per-call oversight override (see :meth:`send_email`).
            metadata: Free-form JSON kept with the message.
            idempotency_key: As for :meth:`send_email`.
            approval_timeout: If held: this reply's own approval timeout in seconds.
            on_timeout: If held: ``reject``, ``escalate`` or ``approve`` when the timeout passes
                (an agent key cannot loosen the mailbox's policy).
            send_at: Scheduled send, as for :meth:`send_email`.
            gate_timing: As for :meth:`send_email`.

        Returns:
            SendResult: ids, status and the oversight mode applied.

        Raises:
            NotFound: Unknown message (or outside the key's scope).

        Example:
            >>> client.reply_email("msg_…", body="Thanks, received.").status
            'queued'
        """
        payload = {"message_id": message_id, **compact(body=body, html=html, reply_all=reply_all, cc=cc, bcc=bcc,
                                                       attachments=list(attachments) if attachments is not None else None,
                                                       oversight_mode=oversight_mode,
                                                       metadata=dict(metadata) if metadata is not None else None,
                                                       approval_timeout=approval_timeout, on_timeout=on_timeout,
                                                       send_at=when_text(send_at), gate_timing=gate_timing)}
        return SendResult.from_dict(self._request(self._sending_call("reply_email", payload, idempotency_key)))

    def forward_email(
        self,
        message_id: str,
        *,
        to: Addresses,
        cc: Addresses | None = None,
        bcc: Addresses | None = None,
        note: str | None = None,
        oversight_mode: OversightMode | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Forward a stored message with its attachments (``POST /v1/forward_email``): inline, in a
        new thread, under the mailbox's oversight as a new message.

        Args:
            message_id: The message forwarded (received or sent).
            to: One address or a list.
            cc: Carbon-copy recipients.
            bcc: Blind-copy recipients.
            note: Your text above the forwarded message.
            oversight_mode: Per-call oversight override (see :meth:`send_email`).
            metadata: Free-form JSON kept with the message.
            idempotency_key: As for :meth:`send_email`.

        Returns:
            SendResult: the new message (``pending`` when the mailbox holds it).

        Example:
            >>> client.forward_email("msg_…", to="finance@acme.test", note="For the books.")
        """
        payload = {"message_id": message_id, **compact(to=to, cc=cc, bcc=bcc, note=note, oversight_mode=oversight_mode,
                                                       metadata=dict(metadata) if metadata is not None else None)}
        return SendResult.from_dict(self._request(self._sending_call("forward_email", payload, idempotency_key)))

    def edit_scheduled_email(
        self,
        message_id: str,
        *,
        send_at: str | datetime | None = None,
        to: Addresses | None = None,
        cc: Addresses | None = None,
        bcc: Addresses | None = None,
        subject: str | None = None,
        body: str | None = None,
        html: str | None = None,
    ) -> SendResult:
        """Change a scheduled message before it leaves (``POST /v1/edit_scheduled_email``).

        An approved message goes back to its approvers (``pending``); its recipients cannot
        change once approved.

        Args:
            message_id: The scheduled message (the key that scheduled it, or an admin).
            send_at: The new time (as for :meth:`send_email`).
            to: New recipients.
            cc: New carbon-copy recipients.
            bcc: New blind-copy recipients.
            subject: New subject.
            body: New plain-text body.
            html: New HTML body.

        Returns:
            SendResult: the message's new status (``scheduled``, ``pending`` or ``queued``).

        Raises:
            Conflict: It already left, is not scheduled, or (``recipients_locked``) it was approved
                and the recipients would change.

        Example:
            >>> client.edit_scheduled_email("msg_…", send_at="2026-03-16T09:00:00Z")
        """
        payload = {"message_id": message_id, **compact(send_at=when_text(send_at), to=to, cc=cc, bcc=bcc, subject=subject,
                                                       body=body, html=html)}
        return SendResult.from_dict(self._request(self._post_call("edit_scheduled_email", payload)))

    def decide_email(
        self,
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
    ) -> SendResult:
        """Ask a human to choose one of ``options`` by email (``POST /v1/decide_email``).

        The answer (a reply, or a one-click link) shows up in :meth:`get_thread` as a message
        with ``is_reply`` true and ``decision`` set to the chosen option.

        Args:
            sender: The sending mailbox's address (the JSON field ``from``).
            to: One address or a list.
            question: The question.
            options: The possible answers.
            subject: The subject; derived from the question when omitted.
            context: Text shown above the question.
            cc: Carbon-copy recipients.
            oversight_mode: Per-call oversight override (see :meth:`send_email`).
            metadata: Free-form JSON kept with the message.
            idempotency_key: As for :meth:`send_email`.

        Returns:
            SendResult: use ``thread_id`` to look for the decision.

        Example:
            >>> r = client.decide_email(sender="agent@acme.test", to="boss@acme.test",
            ...                         question="Ship the release?", options=["yes", "no"])
            >>> client.get_thread(r.thread_id)["messages"][-1].get("decision")
        """
        payload = {"from": sender, **compact(to=to, question=question, options=list(options), subject=subject, context=context,
                                             cc=cc, oversight_mode=oversight_mode,
                                             metadata=dict(metadata) if metadata is not None else None)}
        return SendResult.from_dict(self._request(self._sending_call("decide_email", payload, idempotency_key)))

    # -- approvals ----------------------------------------------------------------------------

    def list_pending(self, mailbox: str | None = None, *, message_id: str | None = None,
                     flow_run_id: str | None = None, wait: float | None = None) -> PendingList:
        """Messages awaiting approval, and those decided in the last 24 h with their decision.

        Any key may list (an agent polls its own); only approver/admin keys may act on them.
        With ``wait`` the server long-polls: it answers as soon as the answer changes (with
        ``message_id``: as soon as that message is approved, rejected or cancelled) or after
        ``wait`` seconds, so waiting for a human costs one request instead of a polling loop.

        Args:
            mailbox: Only this mailbox (address or id); all in the key's scope when omitted.
            message_id: Only this message (its approval item whatever its age; no item when it
                was never held).
            flow_run_id: Only messages queued by this Prefect flow run (the server matches the
                ``metadata.prefect.flow_run_id`` that prefect-multimail's tasks attach), e.g. to
                withdraw what a cancelled run left pending.
            wait: Seconds (0–60) the server may hold the answer until it changes. The request's
                read timeout is raised above it automatically.

        Returns:
            ``{"messages": [...]}``, each item's ``status`` being the approval status.

        Example:
            >>> [m["message_id"] for m in client.list_pending("agent@acme.test")["messages"] if m["status"] == "pending"]
            >>> client.list_pending(message_id="msg_…", wait=30)["messages"][0]["status"]
            'approved'
        """
        return self._request(self._waiting_get_call("list_pending", wait, mailbox=mailbox, message_id=message_id,
                                                          flow_run_id=None if flow_run_id is None else str(flow_run_id)))

    def approve_message(self, message_id: str, *, note: str | None = None, subject: str | None = None,
                        body: str | None = None, html: str | None = None) -> PendingMessage:
        """Approve a held message (approver/admin key); it then goes out.

        Args:
            message_id: The pending message.
            note: Why, for the audit trail.
            subject: The approver's edit of the subject, optional.
            body: The approver's edit of the text body, optional.
            html: The approver's edit of the HTML body, optional.

        Returns:
            The message's new state, as the server answers it.

        Raises:
            PermissionDenied: The key is an agent key (agents never approve).
            Conflict: The message is no longer pending.

        Example:
            >>> client.approve_message("msg_…", note="Looks good")
        """
        return self._request(self._post_call("approve_message", {"message_id": message_id,
                                                                  **compact(note=note, subject=subject, body=body, html=html)}))

    def edit_message(self, message_id: str, *, subject: str | None = None, body: str | None = None,
                           html: str | None = None, to: str | list[str] | None = None, cc: str | list[str] | None = None,
                           bcc: str | list[str] | None = None, note: str | None = None,
                           content_hash: str | None = None) -> PendingMessage:
        """Edit a held message (approver/admin key); it stays held, with a new ``content_hash``.

        Args:
            message_id: The pending message.
            subject: The new subject.
            body: The new text body (the HTML body is dropped unless ``html`` is given too).
            html: The new HTML body.
            to: The new recipients (replacing them all), validated as in ``send_email``.
            cc: The new copy recipients (``[]`` removes them).
            bcc: The new blind copy recipients (``[]`` removes them).
            note: Why, for the audit trail.
            content_hash: The version the approver was shown; a message changed since is refused.

        Returns:
            The message's new state (still pending).

        Raises:
            Conflict: The message is no longer pending, or changed since ``content_hash``.

        Example:
            >>> client.edit_message("msg_…", to=["Ana <ana@partner.test>"], cc=[])
        """
        return self._request(self._post_call("edit_message", {"message_id": message_id, **compact(
            subject=subject, body=body, html=html, to=to, cc=cc, bcc=bcc, note=note, content_hash=content_hash)}))

    def reject_message(self, message_id: str, *, reason: str | None = None) -> PendingMessage:
        """Reject a held message (approver/admin key); it never goes out.

        Args:
            message_id: The pending message.
            reason: Why, for the audit trail and the agent.

        Returns:
            The message's new state.

        Example:
            >>> client.reject_message("msg_…", reason="Wrong recipient")
        """
        return self._request(self._post_call("reject_message", {"message_id": message_id, **compact(reason=reason)}))

    def pause_outbound(self, mailbox: str | None = None, *, reason: str | None = None) -> OutboundPauses:
        """The kill switch (admin key): hand over no outbound mail of ``mailbox`` (or of every
        mailbox) until resumed; queued and held mail waits, nothing is dropped.

        Example:
            >>> client.pause_outbound("agent@acme.test", reason="incident 42")
        """
        return self._request(self._post_call("pause_outbound", compact(mailbox=mailbox, reason=reason)))

    def resume_outbound(self, mailbox: str | None = None) -> OutboundPauses:
        """Lift a pause (admin key): the mail that waited goes out in its queue order.

        Example:
            >>> client.resume_outbound("agent@acme.test")
        """
        return self._request(self._post_call("resume_outbound", compact(mailbox=mailbox)))

    def list_paused(self) -> OutboundPauses:
        """The pauses in force (approver/admin key).

        Example:
            >>> client.list_paused()["paused"]
        """
        return self._request(self._get_call("list_paused"))

    def cancel_message(self, message_id: str, *, reason: str | None = None) -> PendingMessage:
        """Withdraw a message that has not gone out (the key that queued it, or an approver).

        Args:
            message_id: The pending message.
            reason: Why, for the audit trail.

        Returns:
            The message's new state.

        Raises:
            Conflict: The message already went out.

        Example:
            >>> client.cancel_message("msg_…", reason="Flow cancelled")
        """
        return self._request(self._post_call("cancel_message", {"message_id": message_id, **compact(reason=reason)}))

    def register_wait(self, flow_run_id: str, *, message_id: str | None = None,
                      thread_id: str | None = None) -> FlowRunWait:
        """Tell the server a Prefect flow run waits for a message's approval or a thread's decision.

        Give exactly one of ``message_id`` (wait for the approval of a held message) and
        ``thread_id`` (wait for the answer to a decide_email question). When the server has a
        Prefect API configured (``resume == "prefect"``) it resumes the paused run itself, with
        the outcome as the run input, the moment the approval or the answer happens; otherwise
        (``resume == "none"``) the caller polls (:meth:`list_pending` / :meth:`get_thread` with
        ``wait``). Registering the same run and target again is harmless: it returns the same
        wait with its current ``status`` and ``outcome``, which makes this call also the way to
        confirm an outcome with the server (the source of truth) after a resume.

        Args:
            flow_run_id: The waiting flow run's id (a UUID).
            message_id: The held message whose approval is awaited.
            thread_id: The decide_email thread whose answer is awaited.

        Returns:
            ``{"wait_id", "kind", "flow_run_id", "resume", "status", "outcome"}``; ``outcome``
            is ``None`` while waiting, else an approval outcome (``status`` ``approved``,
            ``rejected``, ``cancelled`` or ``not_required``, with ``decided_by``, ``decided_at``,
            ``reason``) or a decision outcome (``decision``, ``message_id`` of the reply, ``from``).

        Raises:
            BadRequest: ``flow_run_id`` is not a UUID, or not exactly one target was given.
            NotFound: Unknown message or thread (or outside the key's scope).
            Conflict: ``not_a_decision``: the thread has no decide_email question.

        Example:
            >>> wait = client.register_wait("0b6c7c8e-…", message_id="msg_…")
            >>> wait["status"], wait["resume"]
            ('waiting', 'prefect')
        """
        body = {"flow_run_id": str(flow_run_id), **compact(message_id=message_id, thread_id=thread_id)}
        call = self._post_call("register_wait", body)
        call.idempotent = True  # registering twice returns the same wait
        return self._request(call)

    # -- reading ------------------------------------------------------------------------------

    def check_inbox(self, mailbox: str, *, tag: str | None = None, exclude_tag: str | None = None, unread: bool | None = None,
                    since: datetime | str | None = None, limit: int | None = None, cursor: str | None = None,
                    query: str | None = None, include_spam: bool = False) -> InboxPage:
        """One page of a mailbox's inbound messages, newest first (spam left out unless ``include_spam``).

        Args:
            mailbox: Address or mailbox id.
            tag: Only messages with this tag key.
            exclude_tag: Only messages without this tag key.
            unread: ``True`` for unread only, ``False`` for read only.
            since: Only messages received at or after this time.
            limit: Page size (1–100).
            cursor: ``next_cursor`` of the previous page.
            query: A search query, e.g. ``'from:alice@partner.test invoice -tag:done'`` (the API
                reference's search section); an invalid one raises an error with code ``invalid_query``.
            include_spam: Also list flagged and quarantined spam (:meth:`list_spam` lists it alone).

        Returns:
            ``{"messages": [...], "next_cursor": str | None}``.

        Example:
            >>> page = client.check_inbox("agent@acme.test", exclude_tag="processed", limit=20)
            >>> [m["subject"] for m in page["messages"]]
            >>> hits = client.check_inbox("agent@acme.test", query='subject:invoice after:2026-01-01 has:attachment')
        """
        return self._request(self._get_call("check_inbox", mailbox=mailbox, tag=tag, exclude_tag=exclude_tag, unread=unread,
                                            since=since, limit=limit, cursor=cursor, query=query,
                                            include_spam=True if include_spam else None))

    def iter_inbox(self, mailbox: str, *, tag: str | None = None, exclude_tag: str | None = None, unread: bool | None = None,
                   since: datetime | str | None = None, page_size: int | None = None,
                   query: str | None = None) -> Iterator[InboxMessage]:
        """Every inbound message of a mailbox, newest first, fetching pages as needed (follows ``next_cursor``).

        Args:
            mailbox: Address or mailbox id.
            tag: Only messages with this tag key.
            exclude_tag: Only messages without this tag key.
            unread: ``True`` for unread only, ``False`` for read only.
            since: Only messages received at or after this time.
            page_size: Messages per request (1–100); the server's default when omitted.
            query: Only messages this search query matches (as in :meth:`check_inbox`).

        Yields:
            Inbox items, as in :meth:`check_inbox`.

        Example:
            >>> for msg in client.iter_inbox("agent@acme.test", exclude_tag="processed"):
            ...     client.tag_email(msg["message_id"], tags=["processed"])
        """
        cursor: str | None = None
        while True:
            page = self.check_inbox(mailbox, tag=tag, exclude_tag=exclude_tag, unread=unread, since=since,
                                    limit=page_size, cursor=cursor, query=query)
            for message in page["messages"]:
                yield message
            previous, cursor = cursor, page.get("next_cursor")
            if not cursor or not page["messages"] or cursor == previous:  # a repeated cursor would loop forever
                return

    def read_email(self, message_id: str) -> Message:
        """The full message (marks it read).

        Args:
            message_id: The message.

        Returns:
            The message: ``from``, ``to``, ``subject``, ``body``, ``html``, ``attachments``,
            ``tags``, ``direction``, ``status``, and ``authentication`` for inbound mail.

        Raises:
            NotFound: Unknown id, or outside the key's scope.

        Example:
            >>> client.read_email("msg_…")["body"]
        """
        return self._request(self._get_call("read_email", message_id=message_id))

    def get_raw(self, message_id: str) -> bytes:
        """A message's exact RFC 5322 bytes: as received, or as handed over for delivery.

        Args:
            message_id: The message.

        Returns:
            The bytes (``message/rfc822``); decision links and private reply addresses are replaced.

        Raises:
            NotFound: Unknown id, or outside the key's scope.
            Conflict: ``not_composed_yet``: an outbound message not yet handed over.

        Example:
            >>> client.get_raw("msg_…").startswith(b"Received:")
        """
        call = self._get_call("get_raw", message_id=message_id)
        call.raw = True
        return self._request(call)

    def verify_message(self, raw: bytes | str) -> VerifyResult:
        """Check a raw message's DKIM signature and X-MultiMail-Identity claim (no key needed).

        Args:
            raw: The RFC 5322 message, as received.

        Returns:
            ``{"dkim", "identity", "proves", "does_not_prove"}``.

        Raises:
            BadRequest: The body is empty or not a message.

        Example:
            >>> client.verify_message(open("mail.eml", "rb").read())["proves"]
        """
        content = raw.encode() if isinstance(raw, str) else bytes(raw)
        call = Call("POST", "/v1/verify_message", content=content, headers={"Content-Type": "message/rfc822"})
        call.idempotent = True  # checking twice changes nothing
        return self._request(call)

    def get_attachment(self, message_id: str, attachment_id: str) -> bytes:
        """Download one attachment's bytes (ids from :meth:`read_email`'s ``attachments``).

        Args:
            message_id: The message.
            attachment_id: The attachment.

        Returns:
            The content.

        Example:
            >>> msg = client.read_email("msg_…")
            >>> data = client.get_attachment(msg["message_id"], msg["attachments"][0]["attachment_id"])
        """
        call = self._get_call("get_attachment", message_id=message_id, attachment_id=attachment_id)
        call.raw = True
        return self._request(call)

    def tag_email(self, message_id: str, tags: Sequence[str] | Mapping[str, TagValue] | None = None, *,
                  remove: Sequence[str] | None = None) -> TagResult:
        """Set and remove tags (key → value memory on a message); idempotent.

        Args:
            message_id: The message.
            tags: A list of keys (each set with an empty value) or a mapping of key → value.
            remove: Keys to delete.

        Returns:
            ``{"message_id", "tags"}`` with all the message's tags after the change.

        Example:
            >>> client.tag_email("msg_…", ["processed"], remove=["todo"])["tags"]
            {'processed': ''}
        """
        value: Any = None if tags is None else (dict(tags) if isinstance(tags, Mapping) else list(tags))
        return self._request(self._post_call("tag_email", {"message_id": message_id,
                                                           **compact(tags=value, remove=list(remove) if remove is not None else None)}))

    def get_thread(self, thread_id: str, *, wait: float | None = None, after_message_id: str | None = None,
                   min_messages: int | None = None) -> Thread:
        """Every message of a thread, oldest first (replies to decide_email carry ``decision``).

        With ``wait`` the server long-polls until the thread has news: a message after
        ``after_message_id``, or at least ``min_messages`` messages; with neither, a decision
        (the thread's ``decision`` set) or any new message. After ``wait`` seconds it answers
        with the thread as it is.

        Args:
            thread_id: The thread (from a :class:`SendResult` or a message).
            wait: Seconds (0–60) the server may hold the answer; the read timeout is raised above it.
            after_message_id: With ``wait``: the last message already seen.
            min_messages: With ``wait``: answer once the thread has this many messages.

        Returns:
            ``{"thread_id", "subject", "decision", "messages": [...]}``.

        Example:
            >>> [m.get("decision") for m in client.get_thread("thr_…")["messages"] if m["is_reply"]]
            >>> client.get_thread("thr_…", wait=30)["decision"]
        """
        return self._request(self._waiting_get_call("get_thread", wait, thread_id=thread_id,
                                                           after_message_id=after_message_id, min_messages=min_messages))

    # -- claims -------------------------------------------------------------------------------

    def claim_messages(self, mailbox: str, *, limit: int | None = None, lease_seconds: int | None = None,
                       tag: str | None = None, exclude_tag: str | None = None, include_spam: bool = False) -> Claim:
        """Lease unprocessed inbound messages of a mailbox to this caller (oldest first).

        Concurrent callers (flow runs, agents) never get the same message. Acknowledge each
        processed message with :meth:`ack_messages` before the lease ends; messages not
        acknowledged in time become claimable again (a crashed worker loses nothing).

        Args:
            mailbox: Address or mailbox id.
            limit: At most this many messages (1–100, default 10).
            lease_seconds: How long the claim holds them (5–3600, default 300).
            tag: Only messages with this tag key.
            exclude_tag: Only messages without this tag key.
            include_spam: Claim flagged and quarantined spam too (never claimed by default).

        Returns:
            ``{"claim_id", "mailbox", "messages": [...], "lease_expires_at"}``; ``claim_id`` is
            ``None`` and ``messages`` empty when there was nothing to claim.

        Example:
            >>> claim = client.claim_messages("agent@acme.test", limit=5, lease_seconds=600)
            >>> for msg in claim["messages"]:
            ...     handle(msg)
            >>> if claim["claim_id"]:
            ...     client.ack_messages(claim["claim_id"])
        """
        # Not retried after a dropped answer: a retry would lease other messages; the first
        # claim's messages come back when its lease runs out.
        return self._request(self._post_call("claim_messages", {"mailbox": mailbox, **compact(
            limit=limit, lease_seconds=lease_seconds, tag=tag, exclude_tag=exclude_tag,
            include_spam=True if include_spam else None)}))

    def ack_messages(self, claim_id: str, message_ids: Sequence[str] | None = None) -> AckResult:
        """Mark claimed messages processed, so they are never claimed again (the claiming key only).

        Args:
            claim_id: From :meth:`claim_messages`.
            message_ids: Some of the claim's messages; all of them when omitted.

        Returns:
            ``{"claim_id", "acked": [...], "processed_at"}``.

        Raises:
            Conflict: The lease ran out (``lease_expired``: another caller may have the messages
                now), or a message was released.
            NotFound: Unknown claim, or outside the key's scope.

        Example:
            >>> client.ack_messages(claim["claim_id"], [msg["message_id"]])
        """
        call = self._post_call("ack_messages", {"claim_id": claim_id, **compact(
            message_ids=list(message_ids) if message_ids is not None else None)})
        call.idempotent = True  # acknowledging twice is harmless
        return self._request(call)

    def release_messages(self, claim_id: str, message_ids: Sequence[str] | None = None) -> ReleaseResult:
        """Give claimed, unacknowledged messages back early, so they can be claimed again at once.

        Args:
            claim_id: From :meth:`claim_messages`.
            message_ids: Some of the claim's messages; all of them when omitted.

        Returns:
            ``{"claim_id", "released": [...]}`` (what this call gave back).

        Example:
            >>> client.release_messages(claim["claim_id"])
        """
        call = self._post_call("release_messages", {"claim_id": claim_id, **compact(
            message_ids=list(message_ids) if message_ids is not None else None)})
        call.idempotent = True
        return self._request(call)

    # -- mailboxes ----------------------------------------------------------------------------

    def create_mailbox(self, address: str, *, oversight_mode: OversightMode | None = None, min_oversight: OversightMode | None = None,
                       display_name: str | None = None, idempotency_window_seconds: int | None = None,
                       approvers: list[str] | None = None, approvals_required: int | None = None,
                       approval_timeout: int | None = None, on_timeout: str | None = None,
                       escalate_to: list[str] | None = None, digest: str | None = None,
                       quiet_hours: Mapping[str, str] | str | None = None, contacts_only: bool | None = None,
                       retain_bodies_days: int | None = None, retain_attachments_days: int | None = None,
                       gate_timing: str | None = None) -> Mailbox:
        """Create a hosted mailbox (admin key).

        Args:
            address: The address, e.g. ``agent@acme.test``.
            oversight_mode: Default oversight; ``gated_send`` when omitted.
            min_oversight: The floor a per-call override may not go below; the mode when omitted.
            display_name: The name shown in From headers.
            idempotency_window_seconds: Window for recognising identical requests without a key
                (default 900; 0 turns it off).
            approvers: Addresses notified by email when a message is held; each may approve or
                reject by the notice's signed link or by replying "approve" / "reject <reason>".
            approvals_required: N of M: how many different approvers must approve (default 1).
            approval_timeout: Seconds a held message waits before ``on_timeout`` applies (0: none).
            on_timeout: ``reject``, ``escalate`` (notify ``escalate_to``) or ``approve`` (only where
                the server allows it).
            escalate_to: The approvers notified on escalation.
            digest: ``hourly`` or ``daily`` (``off``): a monitored mailbox's digest of what went out.
            quiet_hours: ``{"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}`` (or
                ``"off"``): a daily window in which none of its mail is handed over.
            contacts_only: Hold mail that would go out on its own when a recipient is not one of
                the mailbox's approved contacts (see ``add_contact``).
            retain_bodies_days: Days bodies and raw bytes are kept before the purge job removes
                them (0: for ever); held and unsent mail is never purged.
            retain_attachments_days: Days attachments are kept (0: for ever).
            gate_timing: When a held scheduled message is put to the approvers: ``gate_first``
                (at once) or ``schedule_first`` (when it falls due).

        Returns:
            The mailbox, with its ``mailbox_id``.

        Raises:
            Conflict: The address exists.

        Example:
            >>> client.create_mailbox("agent@acme.test", oversight_mode="gated_send")["mailbox_id"]
        """
        return self._request(self._post_call("create_mailbox", {"address": address, **compact(
            oversight_mode=oversight_mode, min_oversight=min_oversight, display_name=display_name,
            idempotency_window_seconds=idempotency_window_seconds, approvers=approvers,
            approvals_required=approvals_required, approval_timeout=approval_timeout, on_timeout=on_timeout,
            escalate_to=escalate_to, digest=digest, contacts_only=contacts_only, gate_timing=gate_timing,
            quiet_hours=dict(quiet_hours) if isinstance(quiet_hours, Mapping) else quiet_hours,
            retain_bodies_days=retain_bodies_days, retain_attachments_days=retain_attachments_days)}))

    def list_mailboxes(self) -> MailboxList:
        """The mailboxes this key may act for.

        Returns:
            ``{"mailboxes": [...]}``.

        Example:
            >>> [m["address"] for m in client.list_mailboxes()["mailboxes"]]
        """
        return self._request(self._get_call("list_mailboxes"))

    def update_mailbox(self, mailbox: str, *, oversight_mode: OversightMode | None = None, min_oversight: OversightMode | None = None,
                       display_name: str | None = None, idempotency_window_seconds: int | None = None,
                       approvers: list[str] | None = None, approvals_required: int | None = None,
                       approval_timeout: int | None = None, on_timeout: str | None = None,
                       escalate_to: list[str] | None = None, digest: str | None = None,
                       quiet_hours: Mapping[str, str] | str | None = None, contacts_only: bool | None = None,
                       retain_bodies_days: int | None = None, retain_attachments_days: int | None = None,
                       gate_timing: str | None = None, spam_threshold: float | None = None) -> Mailbox:
        """Change a mailbox's oversight mode, floor, display name, idempotency window or approval policy (admin key).

        Args:
            mailbox: Address or mailbox id.
            oversight_mode: New default mode.
            min_oversight: New floor.
            display_name: New display name.
            idempotency_window_seconds: New window (0 turns it off).
            approvers: Addresses notified by email when a message is held; each may approve or
                reject by the notice's signed link or by replying "approve" / "reject <reason>".
            approvals_required: N of M: how many different approvers must approve (default 1).
            approval_timeout: Seconds a held message waits before ``on_timeout`` applies (0: none).
            on_timeout: ``reject``, ``escalate`` (notify ``escalate_to``) or ``approve`` (only where
                the server allows it).
            escalate_to: The approvers notified on escalation.
            digest: ``hourly`` or ``daily`` (``off``): a monitored mailbox's digest of what went out.
            quiet_hours: ``{"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}`` (or
                ``"off"``): a daily window in which none of its mail is handed over.
            contacts_only: Hold mail that would go out on its own when a recipient is not one of
                the mailbox's approved contacts (see ``add_contact``).
            retain_bodies_days: Days bodies and raw bytes are kept before the purge job removes
                them (0: for ever); held and unsent mail is never purged.
            retain_attachments_days: Days attachments are kept (0: for ever).
            gate_timing: When a held scheduled message is put to the approvers: ``gate_first``
                (at once) or ``schedule_first`` (when it falls due).
            spam_threshold: The baseline spam score at which its inbound mail is flagged as spam
                (used when no rspamd is configured).

        Returns:
            The updated mailbox.

        Example:
            >>> client.update_mailbox("agent@acme.test", oversight_mode="gated_all")["oversight_mode"]
            'gated_all'
        """
        return self._request(self._post_call("update_mailbox", {"mailbox": mailbox, **compact(
            oversight_mode=oversight_mode, min_oversight=min_oversight, display_name=display_name,
            idempotency_window_seconds=idempotency_window_seconds, approvers=approvers,
            approvals_required=approvals_required, approval_timeout=approval_timeout, on_timeout=on_timeout,
            escalate_to=escalate_to, digest=digest, contacts_only=contacts_only, gate_timing=gate_timing,
            quiet_hours=dict(quiet_hours) if isinstance(quiet_hours, Mapping) else quiet_hours,
            retain_bodies_days=retain_bodies_days, retain_attachments_days=retain_attachments_days,
            spam_threshold=spam_threshold)}))

    def delete_mailbox(self, mailbox: str) -> MailboxDeleted:
        """Delete a mailbox and its mail (admin key); the audit trail keeps its history.

        Args:
            mailbox: Address or mailbox id.

        Returns:
            ``{"mailbox_id", "address", "deleted": True}``.

        Example:
            >>> client.delete_mailbox("old@acme.test")["deleted"]
            True
        """
        return self._request(self._post_call("delete_mailbox", {"mailbox": mailbox}))

    # -- audit --------------------------------------------------------------------------------

    def audit_log(self, *, mailbox: str | None = None, actor: str | None = None, action: str | None = None,
                  message_id: str | None = None, since: datetime | str | None = None, until: datetime | str | None = None,
                  limit: int | None = None, cursor: str | None = None) -> AuditPage:
        """One page of audit events in the key's scope, newest first.

        Args:
            mailbox: Only this mailbox (address or id).
            actor: Only this key id.
            action: Only this action, e.g. ``message.approved``.
            message_id: Only this message.
            since: At or after this time.
            until: Before this time.
            limit: Page size (1–100).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            ``{"events": [...], "next_cursor": str | None}``.

        Example:
            >>> [e["action"] for e in client.audit_log(message_id="msg_…")["events"]]
        """
        return self._request(self._get_call("audit_log", mailbox=mailbox, actor=actor, action=action, message_id=message_id,
                                            since=since, until=until, limit=limit, cursor=cursor))

    def iter_audit_log(self, *, mailbox: str | None = None, actor: str | None = None, action: str | None = None,
                       message_id: str | None = None, since: datetime | str | None = None,
                       until: datetime | str | None = None, page_size: int | None = None) -> Iterator[AuditEvent]:
        """Every audit event matching the filters, newest first, following ``next_cursor``.

        Args:
            mailbox: Only this mailbox.
            actor: Only this key id.
            action: Only this action.
            message_id: Only this message.
            since: At or after this time.
            until: Before this time.
            page_size: Events per request (1–100).

        Yields:
            Audit events, as in :meth:`audit_log`.

        Example:
            >>> [e for e in client.iter_audit_log(mailbox="agent@acme.test")]
        """
        cursor: str | None = None
        while True:
            page = self.audit_log(mailbox=mailbox, actor=actor, action=action, message_id=message_id, since=since,
                                  until=until, limit=page_size, cursor=cursor)
            for event in page["events"]:
                yield event
            previous, cursor = cursor, page.get("next_cursor")
            if not cursor or not page["events"] or cursor == previous:  # a repeated cursor would loop forever
                return

    # -- webhooks -----------------------------------------------------------------------------

    def create_webhook(self, url: str, *, events: Sequence[str] | None = None, mailbox: str | None = None,
                       description: str | None = None) -> Webhook:
        """Subscribe a URL to events (admin key). The signing ``secret`` is in this answer only.

        Args:
            url: Where to POST the signed events.
            events: Event types (e.g. ``["message.received"]``); all when omitted.
            mailbox: Only this mailbox's events; all in scope when omitted.
            description: A note for humans.

        Returns:
            The webhook, with ``webhook_id`` and ``secret``.

        Example:
            >>> hook = client.create_webhook("https://example.com/hooks/mail", events=["message.received"])
            >>> hook["secret"]
        """
        return self._request(self._post_call("create_webhook", {"url": url, **compact(
            events=list(events) if events is not None else None, mailbox=mailbox, description=description)}))

    def list_webhooks(self) -> WebhookList:
        """The webhook subscriptions (admin key).

        Returns:
            ``{"webhooks": [...]}`` (without secrets).

        Example:
            >>> [w["url"] for w in client.list_webhooks()["webhooks"]]
        """
        return self._request(self._get_call("list_webhooks"))

    def delete_webhook(self, webhook_id: str) -> WebhookDeleted:
        """Remove a webhook subscription (admin key).

        Args:
            webhook_id: The webhook.

        Returns:
            ``{"webhook_id", "deleted": True}``.

        Example:
            >>> client.delete_webhook("whk_…")["deleted"]
            True
        """
        return self._request(self._post_call("delete_webhook", {"webhook_id": webhook_id}))

    # -- API keys -----------------------------------------------------------------------------

    def create_api_key(self, *, role: str | None = None, scopes: Sequence[str] | None = None,
                       mailboxes: Sequence[str] | None = None, name: str | None = None) -> ApiKey:
        """Create an API key by role or scopes (admin key). The secret ``api_key`` is in this answer only.

        Args:
            role: ``agent``, ``approver`` or ``admin``.
            scopes: Instead of a role: ``read``, ``send``, ``oversight``, ``admin``.
            mailboxes: The mailboxes the key may act for; all when omitted.
            name: A label.

        Returns:
            The key's record with ``key_id`` and the secret ``api_key``.

        Example:
            >>> agent_key = client.create_api_key(role="agent", mailboxes=["agent@acme.test"])["api_key"]
        """
        return self._request(self._post_call("create_api_key", compact(
            role=role, scopes=list(scopes) if scopes is not None else None,
            mailboxes=list(mailboxes) if mailboxes is not None else None, name=name)))

    def list_api_keys(self) -> ApiKeyList:
        """The API keys (admin key), without secrets.

        Returns:
            ``{"keys": [...]}``.

        Example:
            >>> [k["name"] for k in client.list_api_keys()["keys"] if not k["revoked_at"]]
        """
        return self._request(self._get_call("list_api_keys"))

    def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke an API key (admin key); it answers 401 from then on.

        Args:
            key_id: The key's id (not its secret).

        Returns:
            The key's record with ``revoked_at`` set.

        Example:
            >>> client.revoke_api_key("key_…")
        """
        return self._request(self._post_call("revoke_api_key", {"key_id": key_id}))

    # -- suppression list -------------------------------------------------------------------

    def list_suppressions(self, *, mailbox: str | None = None, address: str | None = None,
                                limit: int | None = None, cursor: str | None = None) -> SuppressionPage:
        """One page of suppressed addresses (hard bounces, complaints, manual entries), oldest first.

        Args:
            mailbox: Only this mailbox (address or id); every mailbox the key may use when omitted.
            address: Only the entry for this address (any spelling of it).
            limit: Page size (1–100).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            ``{"suppressions": [...], "next_cursor": str | None}``.

        Example:
            >>> [s["address"] for s in client.list_suppressions(mailbox="agent@acme.test")["suppressions"]]
        """
        return self._request(self._get_call("list_suppressions", mailbox=mailbox, address=address, limit=limit, cursor=cursor))

    def add_suppression(self, mailbox: str, address: str, *, detail: str | None = None) -> SuppressionAdded:
        """Stop a mailbox sending to an address (reason ``manual``).

        Args:
            mailbox: Address or id of the mailbox.
            address: The address to suppress.
            detail: Why, for the humans reading the list.

        Returns:
            ``{"added": bool, "suppression": {...}}`` (``added`` false when it was listed already).

        Example:
            >>> client.add_suppression("agent@acme.test", "bob@partner.test")["added"]
            True
        """
        return self._request(self._post_call("add_suppression", {"mailbox": mailbox, "address": address,
                                                                        **compact(detail=detail)}))

    def remove_suppression(self, mailbox: str, address: str) -> SuppressionsRemoved:
        """Let a mailbox send to a suppressed address again (approver or admin key).

        Args:
            mailbox: Address or id of the mailbox.
            address: The suppressed address (any spelling of it).

        Returns:
            ``{"removed": [...]}``.

        Example:
            >>> client.remove_suppression("agent@acme.test", "bob@partner.test")
        """
        return self._request(self._post_call("remove_suppression", {"mailbox": mailbox, "address": address}))

    # -- contacts -----------------------------------------------------------------------------

    def add_contact(self, email: str, *, mailbox: str | None = None, name: str | None = None,
                          tags: Sequence[str] | None = None) -> ContactAdded:
        """Add an address to a mailbox's address book, or update the contact it already is.

        Any spelling of an address is the same contact (case, IDN forms). An approver or admin
        key's contact is ``approved`` (it counts for the mailbox's ``contacts_only``), and its
        adding again approves an agent's entry; an agent key's contacts are not approved.

        Args:
            email: The contact's address (a display name becomes the name when ``name`` is not given).
            mailbox: Address or id of the mailbox; may be left out when the key has one mailbox.
            name: The contact's name (replaces the old one).
            tags: Tags such as ``["contractor"]`` (replace the old ones).

        Returns:
            ``{"created": bool, "contact": {...}}`` (``created`` false when it was a contact already).

        Example:
            >>> client.add_contact("ana@partner.test", mailbox="agent@acme.test", name="Ana")["contact"]["contact_id"]
        """
        return self._request(self._post_call("add_contact", {"email": email, **compact(
            mailbox=mailbox, name=name, tags=list(tags) if tags is not None else None)}))

    def search_contacts(self, query: str | None = None, *, mailbox: str | None = None,
                              limit: int | None = None, cursor: str | None = None) -> ContactPage:
        """One page of contacts whose name or address contains ``query`` (all when omitted), oldest first.

        Args:
            query: Part of a name or address, case-insensitive.
            mailbox: Only this mailbox (address or id); every mailbox the key may use when omitted.
            limit: Page size (1–100).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            ``{"contacts": [...], "next_cursor": str | None}``.

        Example:
            >>> [c["email"] for c in client.search_contacts("ana")["contacts"]]
        """
        return self._request(self._get_call("search_contacts", q=query, mailbox=mailbox, limit=limit, cursor=cursor))

    def delete_contact(self, contact_id: str) -> ContactDeleted:
        """Remove a contact (agent, approver or admin key).

        Args:
            contact_id: The contact's id (``ct_...``).

        Returns:
            ``{"deleted": True, "contact": {...}}``.

        Raises:
            NotFound: No mailbox of this key has that contact.

        Example:
            >>> client.delete_contact("ct_...")
        """
        return self._request(self._post_call("delete_contact", {"contact_id": contact_id}))

    # -- spam -------------------------------------------------------------------------------------

    def list_spam(self, *, mailbox: str | None = None, state: str | None = None,
                        limit: int | None = None, cursor: str | None = None) -> SpamPage:
        """One page of received mail in quarantine (flagged or quarantined spam), newest first.

        Args:
            mailbox: Only this mailbox (address or id); every mailbox the key may use when omitted.
            state: ``"flagged"`` or ``"quarantined"`` only; both when omitted.
            limit: Page size (1–100).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            ``{"messages": [... each with "mailbox" and "spam"], "next_cursor": str | None}``.

        Example:
            >>> [m["subject"] for m in client.list_spam(mailbox="agent@acme.test")["messages"]]
        """
        return self._request(self._get_call("list_spam", mailbox=mailbox, state=state, limit=limit, cursor=cursor))

    def report_spam(self, message_id: str) -> SpamMarked:
        """Move a received message into quarantine (label ``spam``).

        Args:
            message_id: The received message's id.

        Returns:
            ``{"message_id", "spam", "read", "trained", "training"}``.

        Example:
            >>> client.report_spam("msg_...")["spam"]["state"]
            'quarantined'
        """
        return self._request(self._post_call("report_spam", {"message_id": message_id}))

    def not_spam(self, message_id: str) -> SpamMarked:
        """Bring a message out of quarantine into the inbox, unread (label ``not_spam``).

        Args:
            message_id: The message's id.

        Returns:
            ``{"message_id", "spam", "read", "trained", "training"}``.

        Example:
            >>> client.not_spam("msg_...")["spam"]["state"] is None
            True
        """
        return self._request(self._post_call("not_spam", {"message_id": message_id}))
