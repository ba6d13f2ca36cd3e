"""prefect-multimail: Prefect blocks, tasks and hooks for MultiMail (email for AI agents, with a
human in the loop).

- :class:`MultiMailCredentials`: the block (server URL + API key).
- Tasks: :func:`send_email`, :func:`reply_email`, :func:`decide_email`, :func:`check_inbox`,
  :func:`read_email`, :func:`tag_email`, :func:`claim_messages`, :func:`ack_messages`,
  :func:`release_messages`, :func:`cancel_message`. Sends carry an idempotency key derived from
  the run, so retries never send twice, and the run's ids in ``metadata["prefect"]``.
- Waiting for a human: :func:`wait_for_approval`, :func:`wait_for_decision` (and the async
  :func:`await_approval`, :func:`await_decision`): the flow run pauses and MultiMail resumes it;
  :func:`wait_for_delivery` / :func:`await_delivery` when a step needs the approved mail *out*.
- :func:`cancel_pending_mail`: an ``on_cancellation`` / ``on_crashed`` hook that withdraws the mail
  a dead run left waiting for approval.
"""

from .credentials import MultiMailCredentials
from .exceptions import (
    ApprovalTimeout,
    DecisionTimeout,
    DeliveryFailed,
    DeliveryTimeout,
    MessageCancelled,
    MessageRejected,
    MultiMailWaitError,
    WaitTimeout,
)
from .hooks import cancel_pending_mail
from .tasks import (
    ack_messages,
    cancel_message,
    check_inbox,
    claim_messages,
    decide_email,
    read_email,
    release_messages,
    reply_email,
    send_email,
    tag_email,
)
from .waiting import (
    MultiMailOutcome,
    await_approval,
    await_decision,
    await_delivery,
    wait_for_approval,
    wait_for_decision,
    wait_for_delivery,
)

__version__ = "0.1.0"

__all__ = [
    "MultiMailCredentials",
    "send_email", "reply_email", "decide_email", "check_inbox", "read_email", "tag_email",
    "claim_messages", "ack_messages", "release_messages", "cancel_message",
    "wait_for_approval", "wait_for_decision", "wait_for_delivery", "await_approval", "await_decision", "await_delivery",
    "MultiMailOutcome",
    "cancel_pending_mail",
    "MultiMailWaitError", "MessageRejected", "MessageCancelled", "WaitTimeout", "ApprovalTimeout", "DecisionTimeout",
    "DeliveryFailed", "DeliveryTimeout",
]
