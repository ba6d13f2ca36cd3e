"""Ask a human to choose by email, and branch on the answer.

`decide_email` mails a question with options; the human answers by replying (the first word or
line of the reply, or the option's number) or by clicking the option's one-click link in the
mail. `wait_for_decision` pauses the flow run until then; the MultiMail server resumes it with the
chosen option.

`ops@acme.test` is a `monitored` mailbox, so the question goes out at once. From a `gated_send`
mailbox it would first wait for an approver (`multimail approve ...`), then for the answer.

    python examples/prefect/route_on_decision.py

To answer it yourself without real mail, see README.md in this directory ("Answering a question").
"""

from __future__ import annotations

from prefect import flow, task
from prefect_multimail import (
    DecisionTimeout,
    MultiMailCredentials,
    cancel_pending_mail,
    decide_email,
    wait_for_decision,
)

SENDER = "ops@acme.test"
OPTIONS = ["Ship", "Hold", "Roll back"]


@task
def ship(release: str) -> None:
    print(f"Shipping {release}.")


@task
def hold(release: str) -> None:
    print(f"Holding {release} until the next window.")


@task
def roll_back(release: str) -> None:
    print(f"Rolling back to the release before {release}.")


@flow(log_prints=True, on_cancellation=[cancel_pending_mail], on_crashed=[cancel_pending_mail])
def route_on_decision(release: str = "2.4.0", to: str = "boss@acme.test", timeout_hours: float = 24) -> str:
    credentials = MultiMailCredentials()  # $MULTIMAIL_API_KEY / $MULTIMAIL_BASE_URL

    thread_id = decide_email(
        credentials,
        sender=SENDER,
        to=to,
        question=f"Release {release} passed staging. What should we do?",
        options=OPTIONS,
        context="Error rate on staging: 0.02%. Two minor UI issues are open.",
    )
    print(f"Asked {to} (thread {thread_id}); waiting for the answer.")

    try:
        choice = wait_for_decision(credentials, thread_id, timeout=timeout_hours * 3600)
    except DecisionTimeout:
        choice = "Hold"  # nobody answered: take the safe option
        print(f"No answer within {timeout_hours} h; holding.")

    print(f"Decision: {choice}")
    if choice == "Ship":
        ship(release)
    elif choice == "Hold":
        hold(release)
    else:
        roll_back(release)
    return choice


if __name__ == "__main__":
    from _mailboxes import ensure_mailbox

    ensure_mailbox(SENDER)
    ensure_mailbox("boss@acme.test")  # only to try it locally: the "human" is a mailbox on the same server
    route_on_decision()
