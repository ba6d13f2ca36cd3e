"""Send mail that a human must approve first, and go on only once it went out.

`reports@acme.test` is a `gated_send` mailbox: a new conversation is held as *pending* until an
approver approves it. `wait_for_approval` pauses the flow run (*Paused* in the UI; its process
waits, blocked) and the MultiMail server resumes it the moment the approver decides, provided it runs
with `--prefect-api-url` (otherwise the wait long-polls; same result, a little later).

    python examples/prefect/gated_notification.py
    multimail approve msg_...      # in another terminal, as the human (or: multimail reject msg_... --reason "...")

If the run is cancelled or crashes while the mail waits, the `cancel_pending_mail` hook withdraws
it, so nobody approves mail for a run that no longer exists.
"""

from __future__ import annotations

from prefect import flow, task
from prefect_multimail import (
    ApprovalTimeout,
    MessageRejected,
    MultiMailCredentials,
    cancel_message,
    cancel_pending_mail,
    send_email,
    wait_for_approval,
)

SENDER = "reports@acme.test"


@task
def mark_report_delivered(quarter: str) -> None:
    print(f"Report for {quarter} marked as delivered.")  # stands in for the real follow-up work


@flow(log_prints=True, on_cancellation=[cancel_pending_mail], on_crashed=[cancel_pending_mail])
def gated_notification(
    to: str = "cfo@partner.test",
    quarter: str = "Q3",
    approval_timeout_hours: float = 8,
) -> str:
    credentials = MultiMailCredentials()  # $MULTIMAIL_API_KEY / $MULTIMAIL_BASE_URL (an agent key)

    message_id = send_email(
        credentials,
        sender=SENDER,
        to=to,
        subject=f"{quarter} numbers",
        body=f"Hello,\n\nrevenue for {quarter} is up 12% on the quarter before.\n\nBest,\nthe finance agent",
    )
    print(f"{message_id} waits for approval: multimail approve {message_id}")

    try:
        # Pauses here; resumed by the MultiMail server when an approver decides.
        wait_for_approval(credentials, message_id, timeout=approval_timeout_hours * 3600)
    except MessageRejected as exc:
        # Rejected mail is never sent. Returning ends the run as Completed; re-raise instead
        # if a rejection should fail the run.
        print(f"Rejected by {exc.decided_by}: {exc.reason or 'no reason given'}. Nothing was sent.")
        return "rejected"
    except ApprovalTimeout:
        # Nobody decided in time: withdraw the mail rather than let it go out days later.
        cancel_message(credentials, message_id=message_id, reason="Nobody approved it in time.")
        return "timed out"

    print(f"{message_id} was approved and went out.")
    mark_report_delivered(quarter)
    return "sent"


if __name__ == "__main__":
    from _mailboxes import ensure_mailbox

    ensure_mailbox(SENDER)
    gated_notification()
