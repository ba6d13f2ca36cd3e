"""Holes found by attacking the search, contacts, spam and retention features over real HTTP and
SMTP (SQLite and PostgreSQL servers): each bad input must be a 4xx in the API's error shape and
change nothing, and a stranger's message must never become impossible to store."""

from __future__ import annotations

import secrets
import smtplib

import pytest
import requests

from tests.api.helpers import assert_error
from tests.conftest import wait_for

# Valid ISO 8601 times that are outside datetime's years 1..9999 once converted to UTC.
OUT_OF_RANGE = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_a_search_date_past_the_calendar_is_invalid_query(admin, mailbox, when):
    """`before:`/`after:` with a zone that moves the time past year 9999 or before year 1 in UTC
    answered 500 (OverflowError in the parser) on both dialects."""
    box = mailbox()
    for op in ("before", "after"):
        err = assert_error(admin.get("check_inbox", mailbox=box, query=f"{op}:{when}"), 400, "invalid_query")
        assert err["details"]["field"] == "query"
        err = assert_error(admin.session.get(f"{admin.base}/v1/mailboxes/{box}/emails", params={"q": f"{op}:{when}"},
                                             headers=admin.headers(), timeout=30), 400, "invalid_query")
        assert err["details"]["field"] == "q"


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_a_time_filter_past_the_calendar_is_400(admin, mailbox, when):
    """check_inbox `since` and the hosted list's date_after/date_before (and list_audit's since)
    went through the same conversion to UTC and answered 500."""
    box = mailbox()
    assert_error(admin.get("check_inbox", mailbox=box, since=when), 400, "invalid_field")
    for param in ("date_after", "date_before"):
        assert_error(admin.session.get(f"{admin.base}/v1/mailboxes/{box}/emails", params={param: when},
                                       headers=admin.headers(), timeout=30), 400, "invalid_field")


def test_a_nul_in_a_path_id_is_400_and_deletes_nothing(admin, mailbox):
    """DELETE /v1/contacts/%00 (and any hosted route with an id in its path) reached PostgreSQL
    with the NUL and answered 500; the query string was already checked, the path was not."""
    box = mailbox()
    added = admin.ok("POST", "add_contact", {"mailbox": box, "email": "ana@partner.test"})["contact"]
    h = admin.headers()
    assert_error(requests.delete(f"{admin.base}/v1/contacts/{added['contact_id']}%00", headers=h, timeout=30), 400, "invalid_string")
    assert_error(requests.get(f"{admin.base}/v1/mailboxes/{box}%00/emails", headers=h, timeout=30), 400, "invalid_string")
    assert_error(requests.post(f"{admin.base}/v1/emails/msg_x%00/not-spam", headers=h, timeout=30), 400, "invalid_string")
    left = admin.ok("GET", "search_contacts", mailbox=box)["contacts"]
    assert [c["contact_id"] for c in left] == [added["contact_id"]]


def test_a_stranger_s_huge_subject_is_stored_and_found(server, admin, mailbox):
    """On PostgreSQL a message under 1 MB whose Subject is 100,000 distinct words made a tsvector
    over its 1 MB limit: the INSERT failed and the SMTP server answered 451 on every retry, so
    the mail could never arrive. The index now cuts every field, not only the body."""
    box = mailbox()
    marker = "zq" + secrets.token_hex(4)
    words = [marker] + [f"w{i:07d}" for i in range(100_000)]
    lines, line = [], "Subject:"
    for w in words:
        if len(line) > 900:
            lines.append(line)
            line = ""
        line += " " + w
    lines.append(line)
    raw = (f"From: ann@partner.test\r\nTo: {box}\r\nMessage-ID: <{secrets.token_hex(8)}@partner.test>\r\n"
           + "\r\n".join(lines) + "\r\n\r\nThe body.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=120) as s:
        s.sendmail("ann@partner.test", [box], raw)  # raises SMTPDataError on a 451

    def found():
        return admin.ok("GET", "check_inbox", mailbox=box, query=f"subject:{marker}", include_spam="true")["messages"]

    hits = wait_for(found, timeout=30, what="the huge-subject message stored and searchable")
    assert len(hits) == 1 and hits[0]["subject"].startswith(marker)
