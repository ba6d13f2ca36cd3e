"""Waiting for a human: the approval of a held message, or the answer to a decide_email question.

How a wait works, and why:

1. **Inside a flow run** (called from the flow function itself), the wait is registered with the
   MultiMail server (``register_wait``). If the outcome is already there (the approver was quick,
   or the message was never held), it is used at once.
2. If the server has a Prefect API configured (``resume == "prefect"``), the flow run **pauses**
   (``pause_flow_run``, with a run input that accepts the outcome). A paused run holds no task
   slot and shows as *Paused* in the UI; the MultiMail server resumes it with the outcome the
   moment the approver decides or the answer arrives, and the flow notices within
   ``poll_interval`` seconds (the default 0.5 s, instead of Prefect's 10 s).
   A long wait of a deployment run (``suspend=None`` and a timeout over 10 minutes, or
   ``suspend=True``) **suspends** the run instead (``suspend_flow_run``): its process exits, so a
   worker restart cannot kill it; the server's resume has Prefect reschedule it, a worker runs
   the flow again from the top (tasks read back from their persisted results, sends answered
   by their idempotency key or the run's record of them), and the wait, registering again, gets
   the outcome at once. Only a top-level deployment run with persisted results is suspended
   (:func:`.logic.should_suspend`); any other pauses.
3. After the resume the outcome is **confirmed with the MultiMail server** (``register_wait``
   again): the server is the source of truth, and anyone with access to Prefect could resume the
   run with input of their choosing. An outcome the server does not confirm is logged and ignored,
   and the wait goes on.
4. While the run is paused, a small watcher beside it long-polls the MultiMail server too. Should
   the server's resume not arrive (a restart, a network split between MultiMail and Prefect), the
   watcher resumes the run itself a few seconds after the outcome; at the wait's deadline it
   resumes the run so that the timeout surfaces as :class:`~prefect_multimail.exceptions.WaitTimeout`
   in a *running* flow (catchable), not as a pause that Prefect expires (after which the run
   can only fail).
5. **Outside a flow run**, inside a task, or when the server cannot resume runs
   (``resume == "none"``), the wait **long-polls** the server instead (``list_pending`` /
   ``get_thread`` with ``wait``): one request per minute at most while nothing happens, an answer
   within milliseconds when something does.

6. :func:`wait_for_delivery` (after an approval, when the next step needs the mail *out*) never
   pauses: nothing resumes a run when mail goes out, so it polls ``read_email``.

Sync and async: :func:`wait_for_approval` and :func:`wait_for_decision` block; in ``async def``
flows and tasks use their async twins :func:`await_approval` and :func:`await_decision`. The
blocking ones refuse to run in an async flow's event loop (``TypeError``) rather than hand back a
coroutine: a gate that is skipped because someone forgot an ``await`` would let the flow go on
without the human's approval. Wait for one thing at a time in a flow run (a flow run has one
pause at a time).

The package, in reading order: :mod:`.api` (the four public waits), :mod:`.targets` (what is
awaited: an approval or a decision), :mod:`.logic` (the wait written once, as generators of
:mod:`.steps`), :mod:`.blocking` and :mod:`.async_` (the two runners that carry the steps out),
:mod:`.outcomes` (reading the server's answers; the run input), :mod:`.prefect_run` (what the
wait learns from the run it is in).
"""

from .api import await_approval, await_decision, await_delivery, wait_for_approval, wait_for_decision, wait_for_delivery
from .outcomes import MultiMailOutcome
from .prefect_run import pause_key as _pause_key  # noqa: F401  (kept at its old path for the tests)
from .targets import ApprovalResult

__all__ = ["wait_for_approval", "wait_for_decision", "wait_for_delivery", "await_approval", "await_decision",
           "await_delivery", "MultiMailOutcome",
           "ApprovalResult"]
