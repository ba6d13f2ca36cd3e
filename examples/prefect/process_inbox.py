"""Process a mailbox's inbound mail, on a schedule or whenever mail arrives.

Each run *claims* unprocessed messages (a lease: no concurrent run gets the same ones), handles
them, and *acknowledges* the ones it handled, so they are never claimed again. A message whose
handling failed is not acknowledged: its lease runs out and a later run tries it again; a run
that crashes loses nothing either. So runs may overlap freely: a scheduled run and runs started
by incoming mail never process the same message twice.

    python examples/prefect/process_inbox.py            # one run, now
    python examples/prefect/process_inbox.py --serve    # a deployment: every 5 minutes, and on demand

Make inbound mail start a run at once (the server needs --prefect-api-url; admin key):

    curl -X POST "$MULTIMAIL_BASE_URL/v1/create_webhook" -H "Authorization: Bearer $MULTIMAIL_ADMIN_KEY" \\
      -H "Content-Type: application/json" -d '{"kind": "prefect_deployment",
        "deployment": "process-inbox/support-inbox", "parameter": "message",
        "events": ["message.received"], "mailbox": "support@acme.test"}'

Each inbound message then creates a run of the served deployment with the message as its
`message` parameter (the run id is kept on the message, in `metadata.prefect.flow_runs`).
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow, task
from prefect_multimail import MultiMailCredentials, ack_messages, claim_messages, read_email, tag_email

INBOX = "support@acme.test"
CATEGORIES = {"invoice": "billing", "refund": "billing", "password": "access", "login": "access"}


@task
def triage(credentials: MultiMailCredentials, message_id: str) -> str:
    """Stand-in for the real work (an LLM call, a ticket, a reply): file the message under a category."""
    mail = read_email(credentials, message_id=message_id)  # tasks may call tasks in Prefect 3
    text = f"{mail['subject']} {mail['body']}".lower()
    category = next((c for word, c in CATEGORIES.items() if word in text), "general")
    tag_email(credentials, message_id=message_id, tags={"triage": category})
    return category


@flow(log_prints=True)
def process_inbox(mailbox: str = INBOX, batch: int = 10, max_batches: int = 10,
                  message: dict[str, Any] | None = None) -> int:
    # `message` is set when MultiMail started this run for one inbound message (the webhook
    # above). The run still claims: the message may already be handled by an overlapping run,
    # and anything else waiting in the inbox gets handled too.
    if message:
        print(f"Started for {message['message_id']} from {message['from']}: {message['subject']!r}")
    credentials = MultiMailCredentials()  # $MULTIMAIL_API_KEY / $MULTIMAIL_BASE_URL

    handled = 0
    for _ in range(max_batches):
        claim = claim_messages(credentials, mailbox=mailbox, limit=batch, lease_seconds=300)
        if not claim["messages"]:
            break
        done = []
        for item in claim["messages"]:
            try:
                category = triage(credentials, item["message_id"])
            except Exception as exc:  # left unacknowledged: claimable again when the lease ends
                print(f"Could not handle {item['message_id']}: {exc}")
                continue
            print(f"{item['message_id']} from {item['from']}: {item['subject']!r} -> {category}")
            done.append(item["message_id"])
        if done:
            ack_messages(credentials, claim_id=claim["claim_id"], message_ids=done)
        handled += len(done)
    print(f"Handled {handled} message(s).")
    return handled


if __name__ == "__main__":
    from _mailboxes import ensure_mailbox

    ensure_mailbox(INBOX)
    if "--serve" in sys.argv:
        # A long-running process that creates the deployment `process-inbox/support-inbox`, runs
        # it every 5 minutes, and runs whatever else asks for it (the webhook above, the UI).
        process_inbox.serve(name="support-inbox", cron="*/5 * * * *", limit=4)
    else:
        process_inbox()
