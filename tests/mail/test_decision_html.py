"""The HTML of decisions, rendered from Jinja2 templates: the decide_email question's HTML
alternative (mail/decision_html.py) and the decision-link pages (api/routes/links.py) are the
markup the f-strings before them produced (markupsafe spells an escaped quote &#34; where
html.escape wrote &quot;), with every value the agent wrote escaped."""

from __future__ import annotations

import pytest

from multimail_server.api.routes.links import _answer
from multimail_server.mail.decision_html import question_html
from multimail_server.services.decision_links import LinkState

PAGE_HEAD = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, '
    'initial-scale=1">\n<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">\n'
    "<title>{title}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
    "padding:0 1rem;line-height:1.5}}\nbutton{{font-size:1.1rem;padding:.5rem 1.2rem}}.q{{white-space:pre-wrap;"
    "border-left:3px solid #ccc;padding-left:.8rem}}</style>\n</head><body><h1>{title}</h1>"
)
QUESTION = '<p class="q">Go &#34;now&#34;?</p>'


def test_the_question_html_keeps_paragraphs_lines_and_one_escaped_link_per_option():
    html = question_html('Ship <now>?\nOr "later"\n\nReply & wait', ["Ship <it>", "Wait"],
                         ['https://x.test/d/a.b?x=1&y="2"', "https://x.test/d/c.d"])
    assert html == (
        "<!DOCTYPE html><html><body><p>Ship &lt;now&gt;?<br>Or &#34;later&#34;</p><p>Reply &amp; wait</p>"
        "<p>Or choose with one click:</p><ol><li>Ship &lt;it&gt; &mdash; <a href=\"https://x.test/d/a.b?x=1&amp;y=&#34;2&#34;\">"
        "choose &ldquo;Ship &lt;it&gt;&rdquo;</a></li><li>Wait &mdash; <a href=\"https://x.test/d/c.d\">choose &ldquo;Wait&rdquo;"
        "</a></li></ol></body></html>\n"
    )


@pytest.mark.parametrize("status, code, title, body", [
    ("open", 200, "Confirm your answer", QUESTION + '<p>Answer <strong>Ship &lt;it&gt;</strong>?</p><form method="post" '
     'action="/d/n.s&#34;x"><button type="submit">Confirm &ldquo;Ship &lt;it&gt;&rdquo;</button></form>'),
    ("recorded", 200, "Decision recorded", QUESTION + "<p>Your answer <strong>Ship &lt;it&gt;</strong> was recorded. "
     "You can close this page.</p>"),
    ("used", 409, "Already answered", QUESTION + "<p>This question was already answered with <strong>Wait &amp; see"
     "</strong>. Each link works once.</p>"),
    ("expired", 410, "Link expired", QUESTION + "<p>This decision link has expired. Reply to the email instead.</p>"),
    ("closed", 410, "Question withdrawn", QUESTION + "<p>This question is no longer open.</p>"),
    ("invalid", 404, "Link not valid", "<p>This decision link is not valid.</p>"),
])
def test_each_link_state_has_its_page_and_status(status, code, title, body):
    page = _answer(LinkState(status=status, option="Ship <it>", question='Go "now"?', decision="Wait & see"), 'n.s"x')
    assert page.status_code == code
    assert page.body.decode() == PAGE_HEAD.format(title=title) + body + "</body></html>\n"
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
