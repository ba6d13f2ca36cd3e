"""Markdown bodies (the hosted API's `markdown` field) rendered into the two parts a message carries.

Code written for the hosted service sends `markdown` and expects recipients to see formatted mail,
so a markdown body becomes an HTML part (markdown-it-py, CommonMark with tables and
strikethrough) and a plain-text part. The HTML is sanitised with nh3 as it is made: raw HTML
inside the markdown is allowed by CommonMark, and an agent's markdown may quote a stranger's mail,
so a `<script>` or an `onerror=` must never reach a recipient's client. The text part is the
markdown itself, which is how markdown is meant to read as plain text (links keep their URLs).
"""

from __future__ import annotations

from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt

from .text import normalise_text

# One parser, made once: markdown-it's "commonmark" preset plus GitHub-style tables and
# strikethrough, which agents' markdown uses; `linkify` would need an extra package.
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@dataclass(frozen=True)
class RenderedMarkdown:
    text: str
    html: str


def render_markdown(markdown: str) -> RenderedMarkdown:
    """The text and HTML parts of a markdown body. The HTML is sanitised (nh3's defaults: no
    script, style, event handler, form or javascript: URL; links get rel="noopener noreferrer")."""
    text = normalise_text(markdown)
    html = nh3.clean(_MD.render(text), link_rel="noopener noreferrer")
    return RenderedMarkdown(text=text, html=html)
