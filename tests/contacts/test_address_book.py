"""The address book over the verb routes: add (an upsert keyed by the canonical address), search
(substring, paged), delete; who may do what (an agent never approves); another tenant's contacts
are invisible; bad input is a clear 400 and changes nothing."""

from __future__ import annotations

from tests.api.helpers import assert_error
from tests.conftest import unique_address


def _contacts(api, **params) -> list[dict]:
    return api.ok("GET", "search_contacts", **params)["contacts"]


def test_add_search_delete_and_the_answer_shapes(admin, mailbox, agent):
    box = mailbox()
    a = agent(box)
    added = a.ok("POST", "add_contact", {"email": "Ana Analyst <ana@partner.test>", "tags": ["client"]})
    c = added["contact"]
    assert added["created"] is True and c["contact_id"].startswith("ct_")
    assert (c["email"], c["name"], c["tags"], c["mailbox"], c["approved"], c["approved_by"]) == (
        "ana@partner.test", "Ana Analyst", ["client"], box, False, None)
    assert [x["contact_id"] for x in _contacts(a, q="analyst")] == [c["contact_id"]]
    assert [x["contact_id"] for x in _contacts(a, q="ANA@PARTNER")] == [c["contact_id"]]
    assert _contacts(a, q="nobody") == []
    done = a.ok("POST", "delete_contact", {"contact_id": c["contact_id"]})
    assert done["deleted"] is True and done["contact"]["contact_id"] == c["contact_id"]
    assert _contacts(a, mailbox=box) == []
    assert_error(a.post("delete_contact", {"contact_id": c["contact_id"]}), 404, "contact_not_found")
    actions = [e["action"] for e in admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"]]
    assert {"contact.added", "contact.deleted"} <= set(actions)


def test_one_person_is_one_contact_in_any_spelling(mailbox, approver):
    box = mailbox()
    o = approver(box)
    first = o.ok("POST", "add_contact", {"mailbox": box, "email": "max@bücher.test", "name": "Max"})["contact"]
    for spelling in ["MAX@BÜCHER.test", "max@xn--bcher-kva.test", "Max@XN--BCHER-KVA.TEST"]:
        again = o.ok("POST", "add_contact", {"mailbox": box, "email": spelling})
        assert again["created"] is False and again["contact"]["contact_id"] == first["contact_id"]
        assert again["contact"]["name"] == "Max"  # not given: kept
    updated = o.ok("POST", "add_contact", {"mailbox": box, "email": "MAX@bücher.test", "name": "Max M.", "tags": ["x"]})["contact"]
    assert (updated["name"], updated["tags"], updated["email"]) == ("Max M.", ["x"], "max@bücher.test")
    # both forms of the domain find it, as does the whole address in another spelling
    for q in ["bücher", "xn--bcher", "max@XN--BCHER-KVA.test"]:
        assert [c["contact_id"] for c in _contacts(o, q=q, mailbox=box)] == [first["contact_id"]], q
    # a different local part is a different contact (plus tags too: another address)
    other = o.ok("POST", "add_contact", {"mailbox": box, "email": "max+news@bücher.test"})
    assert other["created"] is True
    assert len(_contacts(o, mailbox=box)) == 2


def test_only_a_human_key_approves_and_an_agent_never_changes_approval(admin, mailbox, agent, approver):
    box = mailbox()
    a, o = agent(box), approver(box)
    by_agent = a.ok("POST", "add_contact", {"mailbox": box, "email": "cy@partner.test"})["contact"]
    assert by_agent["approved"] is False
    approved = o.ok("POST", "add_contact", {"mailbox": box, "email": "CY@partner.test"})
    assert approved["created"] is False and approved["contact"]["approved"] is True and approved["contact"]["approved_by"]
    # the agent re-adding (e.g. to rename) keeps the approval; deleting and re-adding loses it
    renamed = a.ok("POST", "add_contact", {"mailbox": box, "email": "cy@partner.test", "name": "Cy"})["contact"]
    assert renamed["approved"] is True and renamed["name"] == "Cy"
    a.ok("POST", "delete_contact", {"contact_id": renamed["contact_id"]})
    assert a.ok("POST", "add_contact", {"mailbox": box, "email": "cy@partner.test"})["contact"]["approved"] is False
    assert admin.ok("POST", "add_contact", {"mailbox": box, "email": "dee@partner.test"})["contact"]["approved"] is True
    actions = [e["action"] for e in admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"]]
    assert "contact.approved" in actions


def test_a_read_only_key_may_search_but_not_write(admin, mailbox):
    from tests.conftest import Api

    box = mailbox()
    admin.ok("POST", "add_contact", {"mailbox": box, "email": "eve@partner.test"})
    made = admin.ok("POST", "create_api_key", {"scopes": ["read"], "mailboxes": [box], "name": "reader"})
    reader = Api(admin.base, made["api_key"])
    [c] = _contacts(reader, mailbox=box)
    assert_error(reader.post("add_contact", {"mailbox": box, "email": "fay@partner.test"}), 403, "insufficient_scope")
    assert_error(reader.post("delete_contact", {"contact_id": c["contact_id"]}), 403, "insufficient_scope")
    assert len(_contacts(admin, mailbox=box)) == 1


def test_another_tenants_contacts_are_invisible(admin, mailbox, agent, approver):
    mine, theirs = mailbox(), mailbox()
    theirs_contact = admin.ok("POST", "add_contact", {"mailbox": theirs, "email": "gus@partner.test"})["contact"]
    a = agent(mine)
    assert _contacts(a) == [] and _contacts(a, q="gus") == []
    assert_error(a.get("search_contacts", mailbox=theirs), 404, "mailbox_not_found")
    assert_error(a.post("add_contact", {"mailbox": theirs, "email": "hal@partner.test"}), 404, "mailbox_not_found")
    assert_error(a.post("delete_contact", {"contact_id": theirs_contact["contact_id"]}), 404, "contact_not_found")
    assert_error(approver(mine).post("delete_contact", {"contact_id": theirs_contact["contact_id"]}), 404, "contact_not_found")
    assert [c["contact_id"] for c in _contacts(admin, mailbox=theirs)] == [theirs_contact["contact_id"]]


def test_a_key_with_several_mailboxes_must_say_which(mailbox, agent):
    one, two = mailbox(), mailbox()
    both = agent(one, two)
    err = assert_error(both.post("add_contact", {"email": "ida@partner.test"}), 400, "mailbox_required")
    assert sorted(err["details"]["mailboxes"]) == sorted([one, two])
    assert both.ok("POST", "add_contact", {"mailbox": two, "email": "ida@partner.test"})["contact"]["mailbox"] == two
    assert agent(one).ok("POST", "add_contact", {"email": "ida@partner.test"})["contact"]["mailbox"] == one
    assert [c["mailbox"] for c in _contacts(both, q="ida")] == [two, one]


def test_search_pages_and_takes_wildcards_literally(mailbox, approver):
    box = mailbox()
    o = approver(box)
    for i in range(5):
        o.ok("POST", "add_contact", {"mailbox": box, "email": f"p{i}@partner.test", "name": f"Person {i}"})
    o.ok("POST", "add_contact", {"mailbox": box, "email": "under_score@partner.test", "name": "100% sure"})
    seen, cursor = [], None
    while True:
        page = o.ok("GET", "search_contacts", mailbox=box, q="person", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [c["email"] for c in page["contacts"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i}@partner.test" for i in range(5)]
    assert [c["email"] for c in _contacts(o, mailbox=box, q="%")] == ["under_score@partner.test"]
    assert [c["email"] for c in _contacts(o, mailbox=box, q="_")] == ["under_score@partner.test"]
    assert len(_contacts(o, mailbox=box)) == 6


def test_bad_input_is_a_clear_400_and_changes_nothing(admin, mailbox, agent):
    box = mailbox()
    a = agent(box)
    cases = [
        ({"email": "not an address"}, "invalid_address"),
        ({"email": ""}, "missing_field"),
        ({"email": "ann@partner.test\r\nBcc: x@evil.test"}, None),
        ({"email": "a@b.test, c@d.test"}, "invalid_address"),
        ({"email": "jo@partner.test", "name": "x" * 201}, None),
        ({"email": "jo@partner.test", "name": "Jo\nBcc: x"}, None),
        ({"email": "jo@partner.test", "tags": "vip"}, None),
        ({"email": "jo@partner.test", "tags": ["x"] * 21}, "invalid_field"),
        ({"email": "jo@partner.test", "tags": [""]}, "invalid_field"),
        ({"email": "jo@partner.test", "colour": "red"}, None),
        ({"email": "jo@xn--zz.test"}, "invalid_address"),
    ]
    for body, code in cases:
        assert_error(a.post("add_contact", {"mailbox": box, **body}), 400, code)
    assert_error(a.get("search_contacts", mailbox=box, cursor="abc"), 400, "invalid_cursor")
    assert_error(a.get("search_contacts", mailbox=box, limit=0), 400)
    assert_error(a.get("search_contacts", mailbox=box, q="x" * 201), 400)
    assert_error(a.post("delete_contact", {}), 400, "missing_field")
    assert_error(a.post("add_contact", {"mailbox": unique_address(), "email": "jo@partner.test"}), 404, "mailbox_not_found")
    assert _contacts(admin, mailbox=box) == []


def test_deleting_a_mailbox_deletes_its_contacts(admin, mailbox):
    box = mailbox()
    c = admin.ok("POST", "add_contact", {"mailbox": box, "email": "kim@partner.test"})["contact"]
    admin.ok("POST", "delete_mailbox", {"mailbox": box})
    assert_error(admin.post("delete_contact", {"contact_id": c["contact_id"]}), 404, "contact_not_found")


def test_concurrent_adds_of_one_person_make_one_contact(admin, mailbox, approver):
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import Api

    box = mailbox()
    key = approver(box).key
    spellings = ["lou@bücher.test", "LOU@BÜCHER.test", "lou@xn--bcher-kva.test", "Lou <lou@XN--BCHER-KVA.test>"] * 3

    def add(spelling: str) -> dict:
        return Api(admin.base, key).ok("POST", "add_contact", {"mailbox": box, "email": spelling})

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(add, spellings))
    assert sum(a["created"] for a in answers) == 1
    assert len({a["contact"]["contact_id"] for a in answers}) == 1
    assert len(_contacts(admin, mailbox=box)) == 1
