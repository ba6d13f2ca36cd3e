"""The Mailboxes page's retention fields (one each: days bodies and attachments are kept), saved
through update_mailbox with the policy form; a bad value is the service's error on the page and
changes nothing; an approver sees the settings and cannot change them."""

from __future__ import annotations


def _box(admin, address: str) -> dict:
    return next(b for b in admin.ok("GET", "list_mailboxes")["mailboxes"] if b["address"] == address)


def _policy_form(mailbox: str, **fields: str) -> dict:
    return {"mailbox": mailbox, "approvers": "", "approvals_required": "1", "approval_timeout": "0", "on_timeout": "reject",
            "escalate_to": "", "digest": "off", "quiet_start": "", "quiet_end": "", "quiet_timezone": "", **fields}


def test_retention_fields_save_show_and_refuse_bad_values(dash, admin, tenant, signed_in):
    t = tenant()
    boss = signed_in(dash.admin_key)
    r = boss.post("/mailboxes/policy", _policy_form(t.mailbox, retain_bodies_days="90", retain_attachments_days="30"))
    assert r.status_code == 303, r.text[:500]
    box = _box(admin, t.mailbox)
    assert (box["retain_bodies_days"], box["retain_attachments_days"]) == (90, 30)
    page = boss.get("/mailboxes").text
    assert f'aria-label="Days {t.mailbox} keeps message bodies"' in page and 'value="90"' in page

    for bad in ({"retain_bodies_days": "-5"}, {"retain_attachments_days": "forever"}, {"retain_bodies_days": "99999"}):
        r = boss.post("/mailboxes/policy", _policy_form(t.mailbox, **{"retain_bodies_days": "90", "retain_attachments_days": "30", **bad}))
        assert r.status_code == 400 and "whole number of days" in r.text and 'id="settings-error"' in r.text, (bad, r.text[:300])
        assert _box(admin, t.mailbox) == box

    r = boss.post("/mailboxes/policy", _policy_form(t.mailbox, retain_bodies_days="0", retain_attachments_days=""))
    assert r.status_code == 303
    box = _box(admin, t.mailbox)
    assert (box["retain_bodies_days"], box["retain_attachments_days"]) == (None, None)  # for ever

    approver = signed_in(admin.ok("POST", "create_api_key", {"role": "approver", "mailboxes": [t.mailbox]})["api_key"])
    page = approver.get("/mailboxes").text
    assert "Keeps bodies" in page and "for ever" in page and 'name="retain_bodies_days"' not in page
