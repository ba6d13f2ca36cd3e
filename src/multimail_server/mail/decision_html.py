"""The HTML alternative of a decide_email question as it goes out to external recipients, from a
Jinja2 template (mail/templates/decision_question.html, autoescaped: the question and options are
the agent's text, and a link is never anything but an attribute value).

The words themselves are core/decision_text.py's; this is only their HTML rendering, kept out of
core because rendering a template is a library call and core stays pure.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

_TEMPLATES = Environment(loader=PackageLoader("multimail_server.mail", "templates"), autoescape=True,
                         keep_trailing_newline=True, undefined=StrictUndefined)


def question_html(body: str, options: list[str], links: list[str]) -> str:
    """The HTML alternative of the copy that goes out: the body's paragraphs (its lines kept as
    line breaks), and one link per option (the text alternative carries the same links)."""
    paragraphs = [p.strip().split("\n") for p in body.strip().split("\n\n") if p.strip()]
    return _TEMPLATES.get_template("decision_question.html").render(paragraphs=paragraphs, choices=list(zip(options, links, strict=True)))
