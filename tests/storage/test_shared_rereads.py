"""Waiters woken by the same commit share their re-read (services/wait_hub.WaitHub.fetch_shared):
one approval that answers many long-polls of one key on one message runs one read for them, not
one each, and every waiter still gets an answer of its own. Waiters of another key read for
themselves (an answer depends on the key's scope)."""

from __future__ import annotations

import asyncio
import threading

from multimail_server.services import approvals as approvals_svc
from multimail_server.services import sending, waiting
from multimail_server.services.wait_hub import hub_for

WAITERS = 30


def test_waiters_woken_by_one_approval_share_one_reread_and_get_their_own_copies(ctx, new_mailbox, principal_for):
    box = new_mailbox(oversight_mode="gated_send")
    agent, other_agent = principal_for("agent", [box]), principal_for("agent", [box])
    approver = principal_for("approver", [box])
    held = sending.send_email(ctx, principal=agent, sender=box, to="ana@partner.test", subject="numbers", body="the numbers")
    assert held["status"] == "pending"
    hub = hub_for(ctx.store)
    before = hub.shared_fetches

    async def scenario():
        waits = [asyncio.ensure_future(waiting.wait_for_pending(ctx, principal=agent, wait=20, message_id=held["message_id"]))
                 for _ in range(WAITERS)]
        other = asyncio.ensure_future(waiting.wait_for_pending(ctx, principal=other_agent, wait=20, message_id=held["message_id"]))
        while hub.open_long_polls < WAITERS + 1:  # every waiter parked
            await asyncio.sleep(0.05)
        assert not any(w.done() for w in waits)
        approving = threading.Thread(target=approvals_svc.approve_message,
                                     kwargs={"ctx": ctx, "principal": approver, "message_id": held["message_id"]})
        approving.start()
        answers = await asyncio.wait_for(asyncio.gather(*waits, other), 20)
        approving.join()
        return answers

    answers = asyncio.run(scenario())
    assert all(a["messages"][0]["status"] == "approved" for a in answers), answers
    shared = hub.shared_fetches - before
    # The other key's waiter never shares the first key's read; the first key's waiters share
    # theirs (all of them when one check woke them all, as it does for one commit).
    assert WAITERS // 2 <= shared <= WAITERS - 1, shared
    answers[0]["messages"][0]["status"] = "changed by its caller"
    assert all(a["messages"][0]["status"] == "approved" for a in answers[1:]), "waiters were handed one shared object"

