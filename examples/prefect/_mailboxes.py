"""Set-up shared by the examples: create the mailbox an example sends from, if it is missing.

Creating mailboxes takes an admin key: $MULTIMAIL_ADMIN_KEY (the key `multimail serve` printed on
its first start). The flows themselves only use $MULTIMAIL_API_KEY, which should be an agent key
(it can send and read, but never approve its own mail). Without $MULTIMAIL_ADMIN_KEY nothing is
created here, and the mailbox must exist already:

    multimail mailboxes create reports@acme.test --oversight gated_send

Run this file to create all the examples' mailboxes at once.
"""

from __future__ import annotations

import os

from multimail_server.client import Conflict, MultiMail

# The examples' mailboxes and their oversight modes (see the README's "Oversight" section).
MAILBOXES = {
    "notify@acme.test": "monitored",    # notify_stakeholder.py: goes out at once, reviewed afterwards
    "reports@acme.test": "gated_send",  # gated_notification.py: held until a human approves
    "support@acme.test": "gated_send",  # process_inbox.py: receives mail; replies go out, new mail is held
    "ops@acme.test": "monitored",       # route_on_decision.py: the question goes out at once
    "boss@acme.test": "autonomous",     # route_on_decision.py: the human who answers, when trying it locally
}


def ensure_mailbox(address: str, oversight_mode: str | None = None) -> None:
    """Create `address` with `oversight_mode` unless it exists (needs $MULTIMAIL_ADMIN_KEY)."""
    admin_key = os.environ.get("MULTIMAIL_ADMIN_KEY")
    if not admin_key:
        return  # the mailbox must exist already (see above)
    with MultiMail(api_key=admin_key) as admin:  # base URL from $MULTIMAIL_BASE_URL
        try:
            admin.create_mailbox(address, oversight_mode=oversight_mode or MAILBOXES[address])
            print(f"Created mailbox {address} ({oversight_mode or MAILBOXES[address]}).")
        except Conflict:
            pass  # it exists; its oversight mode is whatever an admin chose


if __name__ == "__main__":
    for address in MAILBOXES:
        ensure_mailbox(address)
