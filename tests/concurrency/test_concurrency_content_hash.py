"""An approver's edit and another approver's approval of the version shown, at the same moment
(on pg2 through different servers): one wins. Either the approval is for the content shown and
that content goes out, or the edit landed first and the approval is a 409 content_changed."""

from __future__ import annotations

from multimail_server.store import tables as t

from .test_concurrency_approvals import wait_settled

ROUNDS = 8


def test_edit_and_approval_of_the_shown_version_have_one_winner(deployment, fire_together):
    box = deployment.new_mailbox(oversight_mode="gated_all")
    approver_key = deployment.key("approver", [box])
    last = len(deployment.servers) - 1
    outcomes = []
    for i in range(ROUNDS):
        mid = deployment.admin.ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": f"race {i}",
                                                         "body": "original"})["message_id"]
        [item] = [m for m in deployment.api(0, approver_key).ok("GET", "list_pending", mailbox=box)["messages"]
                  if m["message_id"] == mid]
        shown = item["content_hash"]
        approver_api, editor_api = deployment.api(0, approver_key), deployment.api(last, approver_key)

        def act(which: int):
            if which == 0:
                return approver_api.post("approve_message", {"message_id": mid, "content_hash": shown})
            return editor_api.post("edit_message", {"message_id": mid, "body": "edited"})

        (approve, edit), _ = fire_together(2, act)
        outcomes.append((mid, shown, approve, edit))

    final = wait_settled(deployment, [o[0] for o in outcomes])
    for mid, shown, approve, edit in outcomes:
        row = final[mid]
        where = f"{mid}: approve={approve.status_code} {approve.text[:200]} edit={edit.status_code} -> {row['status']}"
        assert (approve.status_code, edit.status_code) in ((200, 409), (409, 200)), where
        if approve.status_code == 200:  # approved what was shown; the late edit changed nothing
            assert edit.json()["error"]["code"] == "invalid_state", where
            assert row["approval_status"] == "approved" and row["body_text"] == "original", where
            assert row["approved_content_hash"] == shown and row["status"] == "sent", where
        else:  # the edit came first: the approval of the old version is refused, nothing goes out
            assert approve.json()["error"]["code"] == "content_changed", where
            assert row["approval_status"] == "pending" and row["body_text"] == "edited", where
            assert row["approved_content_hash"] is None, where
            assert deployment.count(t.audit_events, message_id=mid, action="message.approved") == 0, where
    deployment.assert_clean_logs()
