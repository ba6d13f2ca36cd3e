"""mail/markdown.py: a hosted `markdown` body becomes a sanitised HTML part and a text part."""

from __future__ import annotations

import typing

from multimail_server.api.routes.hosted import emails
from multimail_server.api.routes.hosted._common import STATUS_FILTER
from multimail_server.mail.markdown import render_markdown


def test_markdown_renders_commonmark_tables_and_strikethrough():
    out = render_markdown("# Report\r\n\r\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ **new** [docs](https://example.test/x)")
    assert "<h1>Report</h1>" in out.html and "<table>" in out.html and "<td>1</td>" in out.html
    assert "<s>old</s>" in out.html or "<del>old</del>" in out.html
    assert '<a href="https://example.test/x" rel="noopener noreferrer">docs</a>' in out.html
    assert out.text.startswith("# Report\n\n|") and "\r" not in out.text


def test_raw_html_in_markdown_is_sanitised():
    out = render_markdown('hi <script>steal()</script><img src="x" onerror="steal()"> <a href="javascript:steal()">x</a>'
                          "<style>p{display:none}</style><iframe src='https://evil.test'></iframe>")
    for bad in ("<script", "onerror", "javascript:", "<style", "<iframe", "steal()</script"):
        assert bad not in out.html, (bad, out.html)
    assert "hi" in out.html


def test_every_hosted_status_has_a_filter():
    statuses = set(typing.get_args(emails.Status))
    assert statuses == set(STATUS_FILTER)
    assert {"unread", "read", "pending_send_approval", "rejected", "cancelled", "send_failed", "scheduled",
            "spam_flagged", "spam_quarantined", "archived", "deleted", "pending_inbound_approval"} == statuses
