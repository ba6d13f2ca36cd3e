"""Send a notification that needs nobody's approval.

`notify@acme.test` is a `monitored` mailbox: the mail goes out at once, and MultiMail asks a human
to review it afterwards (a `message.review_requested` event). Under `autonomous` it would only be
recorded in the audit log. Either way the flow does not wait for anyone.

    python examples/prefect/notify_stakeholder.py

Needs $MULTIMAIL_BASE_URL and $MULTIMAIL_API_KEY (an agent key), and $PREFECT_API_URL to report
to your Prefect server (see README.md in this directory).
"""

from __future__ import annotations

from prefect import flow
from prefect_multimail import MultiMailCredentials, send_email

SENDER = "notify@acme.test"


@flow(log_prints=True)
def notify_stakeholder(
    to: str = "ana@partner.test",
    table: str = "orders",
    rows: int = 18_204,
) -> str:
    # An empty block reads $MULTIMAIL_API_KEY and $MULTIMAIL_BASE_URL. On a worker, save one
    # instead (MultiMailCredentials(api_key=..., base_url=...).save("multimail")) and use
    # MultiMailCredentials.load("multimail").
    credentials = MultiMailCredentials()

    # Build the mail from the flow's inputs, not the clock: a retried run then derives the same
    # idempotency key and gets the first attempt's message back instead of sending a second one.
    message_id = send_email(
        credentials,
        sender=SENDER,
        to=to,
        subject=f"Nightly load of {table} finished",
        body=f"Hi,\n\nthe nightly load of `{table}` finished: {rows:,} rows.\n\n-- the data platform",
    )
    print(f"{message_id} is on its way to {to} (no approval needed).")
    return message_id


if __name__ == "__main__":
    from _mailboxes import ensure_mailbox

    ensure_mailbox(SENDER)
    notify_stakeholder()
