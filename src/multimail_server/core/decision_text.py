"""The words of a decide_email message: the question and its options, and the one-click section.

The stored body of a question is `question_body` (what the agent asked, what an approver
reviews). The copy handed to external recipients adds `links_section` with their real links (its
HTML alternative is mail/decision_html.py's); every view shows the same section with the links
replaced by a placeholder, so what a reader sees is exactly what goes out, minus the secrets.
"""

from __future__ import annotations

from .decision_secrets import LINK_PLACEHOLDER


def question_body(question: str, options: list[str], context: str | None) -> str:
    lines = []
    if context:
        lines += [context.strip(), ""]
    lines += [question.strip(), "", "Reply with one of these options (the option itself, or its number):", ""]
    lines += [f"  {i}. {option}" for i, option in enumerate(options, 1)]
    return "\n".join(lines) + "\n"


def links_section(options: list[str], links: list[str] | None) -> str:
    """One line per option with its link (or the placeholder, for views)."""
    urls = links if links else [LINK_PLACEHOLDER] * len(options)
    lines = ["", "Or choose with one click:", ""]
    lines += [f"  {i}. {option}: {url}" for i, (option, url) in enumerate(zip(options, urls, strict=True), 1)]
    return "\n".join(lines) + "\n"
