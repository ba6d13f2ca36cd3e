"""A flow hook that withdraws the mail a cancelled or crashed flow run left waiting for approval.

Why: a flow that sent a gated message and then got cancelled (or crashed) will never act on the
approval; an approver who approves it later would send mail on behalf of a run that no longer
exists, often with stale content. The same holds for a scheduled message of the run, approved or
never held: it would leave later for a run that no longer exists. The hook asks the server for the
messages this run queued that have not left (``list_pending(flow_run_id=...)``: those held for
approval and those waiting for their send_at, matched on the ``metadata.prefect.flow_run_id`` the
tasks attach) and cancels each, with a reason naming the run and its state, so the approver sees
why it vanished and the audit trail says who withdrew it. Mail already sent, or decided and on its
way, is left alone (a 409 from a race with an approver is fine: approval wins).

Two forms::

    @flow(on_cancellation=[cancel_pending_mail], on_crashed=[cancel_pending_mail])
    def direct(): ...          # credentials: the block named by $MULTIMAIL_CREDENTIALS_BLOCK, else
                               # $MULTIMAIL_API_KEY / $MULTIMAIL_BASE_URL of the process running it

    @flow(on_cancellation=[cancel_pending_mail(credentials)])       # a block, or a block's name
    def factory(): ...

For a deployed flow, cancellation hooks run in the process that ran the flow or in the runner /
worker that killed it, so that process needs the credentials (the block name or the variables).
The key must be the one the flow sent with (an agent may cancel only what it queued) or an
approver key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, overload

from prefect.logging.loggers import flow_run_logger

from multimail_server.client.errors import Conflict, MultiMailError

from ._dual import call_sync
from .credentials import MultiMailCredentials

__all__ = ["cancel_pending_mail", "ENV_CREDENTIALS_BLOCK"]

ENV_CREDENTIALS_BLOCK = "MULTIMAIL_CREDENTIALS_BLOCK"

Hook = Callable[..., None]


def _load(name: str) -> MultiMailCredentials:
    """The saved block ``name`` (hooks run in sync code, so the blocking half of ``Block.load``)."""
    block = call_sync(MultiMailCredentials.load, name)
    if not isinstance(block, MultiMailCredentials):
        raise TypeError(f"The block {name!r} is a {type(block).__name__}, not MultiMail credentials.")
    return block


def _default_credentials() -> MultiMailCredentials:
    name = os.environ.get(ENV_CREDENTIALS_BLOCK)
    if name:
        return _load(name)
    return MultiMailCredentials()


def _resolve(credentials: MultiMailCredentials | str | None) -> MultiMailCredentials:
    if credentials is None:
        return _default_credentials()
    if isinstance(credentials, str):
        return _load(credentials)
    return credentials


def _queued_by(item: Mapping[str, Any], flow_run_id: str) -> bool:
    """Whether a pending item belongs to the run (a server that ignored the filter must not make
    the hook cancel other runs' mail; without metadata in the answer, trust the server's filter)."""
    if "metadata" not in item:
        return True
    metadata = item["metadata"]
    prefect = metadata.get("prefect") if isinstance(metadata, Mapping) else None
    return isinstance(prefect, Mapping) and str(prefect.get("flow_run_id")) == flow_run_id


def _cancel_pending(credentials: MultiMailCredentials | str | None, flow: Any, flow_run: Any, state: Any) -> None:
    logger = flow_run_logger(flow_run, flow)
    run_id = str(flow_run.id)
    state_name = getattr(state, "name", None) or str(getattr(getattr(state, "type", None), "value", "ended")).title()
    flow_name = getattr(flow, "name", None)
    reason = (f"Prefect flow run {flow_run.name!r} ({run_id})" + (f" of flow {flow_name!r}" if flow_name else "")
              + f" entered state {state_name!r}; its pending mail was withdrawn.")
    with _resolve(credentials).get_client() as client:
        items = client.list_pending(flow_run_id=run_id)["messages"]
        # held for approval, or waiting for its send_at (approved or never held): none has left
        pending = [m for m in items if (m.get("status") == "pending" or m.get("message_status") == "scheduled")
                   and _queued_by(m, run_id)]
        cancelled, decided, failed = [], [], []
        for item in pending:
            message_id = item["message_id"]
            try:
                client.cancel_message(message_id, reason=reason)
            except Conflict:
                decided.append(message_id)  # decided in the meantime (approval wins the race)
            except MultiMailError as exc:
                failed.append(message_id)
                logger.error("Could not cancel pending message %s: %s", message_id, exc)
            else:
                cancelled.append(message_id)
    if not pending:
        logger.info("No mail of this run is waiting for approval; nothing to cancel.")
        return
    logger.info("Cancelled %d pending message(s) of this run%s%s%s", len(cancelled),
                f": {', '.join(cancelled)}" if cancelled else "",
                f"; already decided: {', '.join(decided)}" if decided else "",
                f"; failed: {', '.join(failed)}" if failed else "")


@overload
def cancel_pending_mail(flow: Any, flow_run: Any, state: Any, /) -> None: ...


@overload
def cancel_pending_mail(credentials: MultiMailCredentials | str | None = None, /) -> Hook: ...


def cancel_pending_mail(*args: Any, **kwargs: Any) -> Hook | None:
    """Withdraw the mail this flow run left pending approval; for ``on_cancellation`` and ``on_crashed``.

    Usable directly as a hook, or called with credentials to make one (see the module docstring).

    Args:
        *args: As a hook: ``(flow, flow_run, state)``, as Prefect calls it. As a factory: the
            credentials, optional: a :class:`MultiMailCredentials` block, or the name of a saved
            one (loaded when the hook runs).
        **kwargs: As a hook: ``flow``, ``flow_run``, ``state`` (the runner passes them by name).
            As a factory: ``credentials``.

    Returns:
        As a factory, the hook; as a hook, nothing.

    Example:
        ```python
        from prefect import flow
        from prefect_multimail import MultiMailCredentials, cancel_pending_mail

        @flow(on_cancellation=[cancel_pending_mail], on_crashed=[cancel_pending_mail])
        def newsletter(): ...

        @flow(on_cancellation=[cancel_pending_mail("agent-mail")])
        def digest(): ...
        ```
    """
    if len(args) == 3 or "flow_run" in kwargs:
        flow, flow_run, state = args if len(args) == 3 else (kwargs.get("flow"), kwargs["flow_run"], kwargs.get("state"))
        _cancel_pending(None, flow, flow_run, state)
        return None
    if len(args) > 1 or set(kwargs) - {"credentials"}:
        raise TypeError("cancel_pending_mail takes (flow, flow_run, state) as a hook, or (credentials) to make one.")
    credentials = args[0] if args else kwargs.get("credentials")
    if credentials is not None and not isinstance(credentials, (MultiMailCredentials, str)):
        raise TypeError(f"credentials must be a MultiMailCredentials block or a block name, got {type(credentials).__name__}")

    def hook(flow: Any, flow_run: Any, state: Any) -> None:
        _cancel_pending(credentials, flow, flow_run, state)

    hook.__name__ = hook.__qualname__ = "cancel_pending_mail"
    hook.__doc__ = cancel_pending_mail.__doc__
    return hook
