"""Search through the services on SQLite FTS5 and PostgreSQL full-text search: every operator,
the index kept in step with inserts, edits and deletes, paging, scoping, and the migration's
backfill of messages stored before it."""

from __future__ import annotations

import base64
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from multimail_server.core.errors import NotFound
from multimail_server.core.search_query import InvalidQuery
from multimail_server.services import mailboxes as mailbox_svc
from multimail_server.services import reading, receiving, sending


def inbound(ctx, to: str, *, subject: str, body: str = "hello", sender: str = "Ana Analyst <ana@partner.test>",
            cc: str | None = None, attachment: bool = False) -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Message-ID"] = make_msgid(domain="partner.test")
    msg.set_content(body)
    if attachment:
        msg.add_attachment(b"%PDF-1.4 quarterly", maintype="application", subtype="pdf", filename="q3.pdf")
    [message_id] = receiving.receive(ctx, raw=msg.as_bytes(), mail_from="ana@partner.test", rcpt_tos=[to])
    return message_id


def found(ctx, operator, box: str, query: str, **kw) -> list[str]:
    return [m["subject"] for m in reading.check_inbox(ctx, principal=operator, mailbox=box, query=query, **kw)["messages"]]


def listed(ctx, operator, box: str, query: str, **kw) -> list[str]:
    return [m["subject"] for m in reading.list_emails(ctx, principal=operator, mailbox=box, query=query, **kw)["emails"]]


@pytest.fixture
def corpus(ctx, operator, new_mailbox, clock):
    box = new_mailbox()
    inbound(ctx, box, subject="Quarterly invoice", body="Please find the invoice for Q3 attached.", attachment=True)
    clock.advance(days=1)
    inbound(ctx, box, subject="Lunch on Friday?", body="Shall we meet at the café near the station?",
            sender="Bo Builder <bo@builders.test>", cc="Cy <cy@partner.test>")
    clock.advance(days=1)
    inbound(ctx, box, subject="Re: invoice overdue", body="The payment is overdue by ten days.", sender="accounts@vendor.test")
    return box


def test_free_words_phrases_and_prefixes_match_any_field(ctx, operator, corpus):
    assert found(ctx, operator, corpus, "invoice") == ["Re: invoice overdue", "Quarterly invoice"]
    assert found(ctx, operator, corpus, "INVOICE attached") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, '"invoice overdue"') == ["Re: invoice overdue"]
    assert found(ctx, operator, corpus, '"overdue invoice"') == []
    assert found(ctx, operator, corpus, "quart*") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "café") == ["Lunch on Friday?"]
    assert found(ctx, operator, corpus, "builders") == ["Lunch on Friday?"]  # the sender's address
    assert found(ctx, operator, corpus, "nothing-like-this") == []


def test_field_operators_look_only_in_their_field(ctx, operator, corpus):
    assert found(ctx, operator, corpus, "from:bo@builders.test") == ["Lunch on Friday?"]
    assert found(ctx, operator, corpus, "from:builder") == ["Lunch on Friday?"]  # the display name
    assert found(ctx, operator, corpus, "from:invoice") == []
    assert found(ctx, operator, corpus, "subject:invoice") == ["Re: invoice overdue", "Quarterly invoice"]
    assert found(ctx, operator, corpus, "subject:payment") == []
    assert found(ctx, operator, corpus, "body:payment") == ["Re: invoice overdue"]
    assert found(ctx, operator, corpus, "to:cy@partner.test") == ["Lunch on Friday?"]  # cc counts as to
    assert found(ctx, operator, corpus, f"to:{corpus}") == ["Re: invoice overdue", "Lunch on Friday?", "Quarterly invoice"]
    assert found(ctx, operator, corpus, 'subject:"invoice overdue"') == ["Re: invoice overdue"]


def test_negation_or_and_groups(ctx, operator, corpus):
    assert found(ctx, operator, corpus, "invoice -overdue") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "-invoice") == ["Lunch on Friday?"]
    assert found(ctx, operator, corpus, "lunch OR payment") == ["Re: invoice overdue", "Lunch on Friday?"]
    assert found(ctx, operator, corpus, "-(lunch OR payment)") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "(lunch OR has:attachment) -from:bo") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "-from:accounts -from:bo") == ["Quarterly invoice"]


def test_tags_read_state_attachments_and_dates(ctx, operator, corpus, clock):
    ids = {m["subject"]: m["message_id"] for m in reading.check_inbox(ctx, principal=operator, mailbox=corpus)["messages"]}
    reading.tag_email(ctx, principal=operator, message_id=ids["Quarterly invoice"], tags={"status": "done", "finance": ""})
    reading.read_email(ctx, principal=operator, message_id=ids["Lunch on Friday?"])
    assert found(ctx, operator, corpus, "tag:finance") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "tag:status:done") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "tag:status:open") == []
    assert found(ctx, operator, corpus, "-tag:status") == ["Re: invoice overdue", "Lunch on Friday?"]
    assert found(ctx, operator, corpus, "is:read") == ["Lunch on Friday?"]
    assert found(ctx, operator, corpus, "is:unread invoice") == ["Re: invoice overdue", "Quarterly invoice"]
    assert found(ctx, operator, corpus, "has:attachment") == ["Quarterly invoice"]
    assert found(ctx, operator, corpus, "-has:attachment invoice") == ["Re: invoice overdue"]
    last = clock.now  # the third message's time
    day = last.date().isoformat()
    assert found(ctx, operator, corpus, f"after:{day}") == ["Re: invoice overdue"]
    assert found(ctx, operator, corpus, f"before:{day}") == ["Lunch on Friday?", "Quarterly invoice"]
    at = (last - timedelta(days=1)).isoformat()
    assert found(ctx, operator, corpus, f"after:{at}") == ["Re: invoice overdue", "Lunch on Friday?"]
    assert found(ctx, operator, corpus, f"before:{at} OR after:{last.isoformat()}") == ["Re: invoice overdue", "Quarterly invoice"]


def test_the_index_follows_edits_and_deletes(ctx, operator, new_mailbox):
    box = new_mailbox(oversight_mode="gated_send")
    held = sending.send_email(ctx, principal=operator, sender=box, to="bo@partner.test", subject="Draft proposal",
                              body="Our zeppelin pricing.")
    assert listed(ctx, operator, box, "zeppelin") == ["Draft proposal"]
    from multimail_server.services import approvals
    approvals.edit_message(ctx, principal=operator, message_id=held["message_id"], body="Our airship pricing.",
                           subject="Final proposal")
    assert listed(ctx, operator, box, "zeppelin") == []
    assert listed(ctx, operator, box, "airship subject:final") == ["Final proposal"]
    mailbox_svc.delete_mailbox(ctx, principal=operator, mailbox=box)
    again = new_mailbox(address=box)
    assert listed(ctx, operator, again, "airship") == []


def test_outbound_mail_is_found_in_the_mailbox_list_not_the_inbox(ctx, operator, new_mailbox):
    box = new_mailbox(oversight_mode="autonomous")
    sending.send_email(ctx, principal=operator, sender=box, to="bo@partner.test", subject="Kickoff", body="Agenda attached.")
    inbound(ctx, box, subject="Kickoff reply", body="Thanks for the agenda.")
    assert listed(ctx, operator, box, "agenda") == ["Kickoff reply", "Kickoff"]
    assert listed(ctx, operator, box, "to:bo@partner.test") == ["Kickoff"]
    assert found(ctx, operator, box, "agenda") == ["Kickoff reply"]
    assert listed(ctx, operator, box, "agenda", direction="outbound") == ["Kickoff"]


def test_pages_of_a_search_use_the_inbox_cursor(ctx, operator, new_mailbox):
    box = new_mailbox()
    for i in range(7):
        inbound(ctx, box, subject=f"report {i}", body="weekly numbers" if i % 2 == 0 else "other")
    pages, cursor = [], None
    while True:
        page = reading.check_inbox(ctx, principal=operator, mailbox=box, query="weekly", limit=2, cursor=cursor)
        pages.append([m["subject"] for m in page["messages"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["report 6", "report 4"], ["report 2", "report 0"]]
    hosted, cursor = [], None
    while True:
        lp = reading.list_emails(ctx, principal=operator, mailbox=box, query="weekly", limit=3, cursor=cursor)
        hosted += [m["subject"] for m in lp["emails"]]
        cursor = lp["next_cursor"]
        if cursor is None:
            break
    assert hosted == ["report 6", "report 4", "report 2", "report 0"]


def test_a_search_never_reaches_another_mailbox(ctx, operator, new_mailbox, principal_for):
    mine, theirs = new_mailbox(), new_mailbox()
    inbound(ctx, mine, subject="mine", body="shared secret word platypus")
    inbound(ctx, theirs, subject="theirs", body="shared secret word platypus")
    agent = principal_for("agent", [mine])
    assert found(ctx, agent, mine, "platypus") == ["mine"]
    assert [m["subject"] for m in reading.list_emails(ctx, principal=agent, mailbox=mine, query="platypus")["emails"]] == ["mine"]
    with pytest.raises(NotFound):
        reading.check_inbox(ctx, principal=agent, mailbox=theirs, query="platypus")
    with pytest.raises(NotFound):
        reading.list_emails(ctx, principal=agent, mailbox=theirs, query="platypus")


def test_decision_secrets_are_not_in_the_index(ctx, operator, new_mailbox):
    """Inbound text is scrubbed before it is stored, so the index never holds a link token or a
    private reply tag: a query cannot probe one piece by piece."""
    box = new_mailbox()
    token = "AbCdEfGhIjKlMnOpQrStUvWx.YzAbCdEfGhIjKlMnOpQrSt"
    tag = "q_abcdefghijklmnopqrst"
    inbound(ctx, box, subject="quoting", body=f"> Choose: https://mm.test/d/{token}\n> reply to me+{tag}@acme.test",
            cc=f"me+{tag}@acme.test")
    assert found(ctx, operator, box, "quoting") == ["quoting"]
    for probe in ("AbCdEfGhIjKlMnOpQrStUvWx", "AbCd*", "YzAbCdEfGhIjKlMnOpQrSt", "abcdefghijklmnopqrst", "abcdef*"):
        assert found(ctx, operator, box, probe) == [], probe


def test_an_invalid_query_is_a_clear_error_and_names_the_parameter(ctx, operator, corpus):
    with pytest.raises(InvalidQuery) as err:
        reading.check_inbox(ctx, principal=operator, mailbox=corpus, query='subject:"unclosed')
    assert err.value.code == "invalid_query" and err.value.details == {
        "field": "query", "position": 8, "expected": 'a closing "'}
    with pytest.raises(InvalidQuery) as err:
        reading.list_emails(ctx, principal=operator, mailbox=corpus, query="colour:red", query_field="q")
    assert err.value.details["field"] == "q" and err.value.details["position"] == 0


def test_attachments_from_a_send_are_found_with_has_attachment(ctx, operator, new_mailbox):
    box = new_mailbox(oversight_mode="autonomous")
    sending.send_email(ctx, principal=operator, sender=box, to="bo@partner.test", subject="with file", body="see file",
                       attachments=[{"filename": "a.txt", "content_type": "text/plain",
                                     "content_base64": base64.b64encode(b"hi").decode()}])
    sending.send_email(ctx, principal=operator, sender=box, to="bo@partner.test", subject="no file", body="see file")
    assert listed(ctx, operator, box, "file has:attachment") == ["with file"]
    assert listed(ctx, operator, box, "file -has:attachment") == ["no file"]


def test_the_migration_indexes_messages_stored_before_it(db_url, tmp_path, clock, operator):
    from multimail_server.config import Settings
    from multimail_server.services.context import Context
    from multimail_server.store.engine import Store, make_engine
    from multimail_server.store.migrate import upgrade

    store = Store(make_engine(db_url))
    try:
        upgrade(store, "0009")  # the schema before search
        ctx = Context(store=store, settings=Settings(data_dir=tmp_path), clock=clock)
        mailbox_svc.create_mailbox(ctx, principal=operator, address="old@acme.test")
        inbound(ctx, "old@acme.test", subject="Archived memo", body="The walrus budget.", cc="Zoë <zoe@partner.test>")
        sending.send_email(ctx, principal=operator, sender="old@acme.test", to="bo@partner.test", subject="Sent memo",
                           body="About the walrus.")
        upgrade(store)
        assert listed(ctx, operator, "old@acme.test", "walrus") == ["Sent memo", "Archived memo"]
        assert listed(ctx, operator, "old@acme.test", "to:zoë") == ["Archived memo"]
        # and the index goes on following new mail
        inbound(ctx, "old@acme.test", subject="New memo", body="The walrus again.")
        assert found(ctx, operator, "old@acme.test", "walrus") == ["New memo", "Archived memo"]
    finally:
        store.dispose()


def test_pages_of_a_mixed_query_in_either_order(ctx, operator, new_mailbox):
    box = new_mailbox()
    ids = [inbound(ctx, box, subject=f"n{i}", body="alpha" if i % 3 else "alpha beta") for i in range(9)]
    for mid in ids[::2]:
        reading.tag_email(ctx, principal=operator, message_id=mid, tags=["even"])
    expected = ["n0", "n2", "n3", "n4", "n6", "n8"]  # alpha AND (even OR beta)

    def walk(oldest_first: bool) -> list[str]:
        got, cursor = [], None
        while True:
            page = reading.list_emails(ctx, principal=operator, mailbox=box, query="alpha (tag:even OR beta)", limit=2,
                                       cursor=cursor, oldest_first=oldest_first)
            got += [m["subject"] for m in page["emails"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return got

    assert walk(True) == expected
    assert walk(False) == expected[::-1]


def test_on_sqlite_the_words_drive_the_scan_newest_first(ctx, operator, new_mailbox):
    """A common word must not collect every message that has it before the page is cut: the
    FTS5 table is walked in rowid order (no sort of all matches)."""
    if not ctx.store.is_sqlite:
        pytest.skip("the plan of SQLite's FTS5 join")
    from sqlalchemy import select, text

    from multimail_server.core.search_query import parse
    from multimail_server.store import search
    from multimail_server.store import tables as t

    q, seq = search.narrow(select(t.messages.c.id).where(t.messages.c.mailbox_id == "mbx_x"), "sqlite",
                           parse("quarterly numbers -tag:done"))
    stmt = q.order_by(seq.desc()).limit(51).compile(ctx.store.engine, compile_kwargs={"literal_binds": True})
    with ctx.store.read() as tx:
        plan = " | ".join(str(r[-1]) for r in tx.execute(text(f"EXPLAIN QUERY PLAN {stmt}")))
    assert plan.startswith("SCAN message_search VIRTUAL TABLE INDEX"), plan  # the outer loop: the words
    assert "USING INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan


def test_words_that_are_syntax_to_the_databases_are_only_words(ctx, operator, new_mailbox):
    """FTS5's AND/OR/NOT/NEAR and tsquery's & | ! : ' are searched for as text, never obeyed."""
    box = new_mailbox()
    inbound(ctx, box, subject="grammar", body="do NOT go NEAR the and-gate: it's O'Brien's & co | !x")
    inbound(ctx, box, subject="other", body="go near")
    for query in ("NOT", "near not", '"not go near"', "and*", "O'Brien", "it's", "co", "x", "brien* OR nothing"):
        assert found(ctx, operator, box, query) == ["grammar"], query
    for query in ("'", "&", "|", "!", "\\"):
        with pytest.raises(InvalidQuery):
            found(ctx, operator, box, query)
