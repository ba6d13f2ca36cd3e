"""HTML in mail: the text of an HTML-only message (inscriptis), HTML made safe to show (nh3),
and the rendering for an approver, who must see what the recipient will without being tracked.

HTML is stored as received (the raw message is kept too) and sanitised with `sanitize_html`
wherever it is shown, so a better sanitiser applies to mail already stored.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import nh3

from .text import normalise_text

_TAG = re.compile(r"<[^>]+>")


def text_from_html(markup: str) -> str:
    """Readable text from HTML (inscriptis): block structure becomes line breaks."""
    if not markup:
        return ""
    # Imported on first use: inscriptis and what it loads are about 4 MB of a server's resident
    # memory, and most servers rarely or never receive a message that came as HTML alone.
    from inscriptis import get_text

    try:
        text = get_text(markup)
    except Exception:  # never let a pathological document stop a message from being stored
        text = html_lib.unescape(_TAG.sub(" ", markup))
    lines = [line.rstrip() for line in normalise_text(text).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# Tags allowed in shown HTML: nh3's defaults (no script, style, iframe, form, object, event
# handlers, javascript: URLs), without any attribute that makes a viewer's client fetch something
# (nh3 allows `img src`): a remote image in mail is a tracking beacon, and in an approval screen
# it would tell the sender who approved, and when. Links get rel="noopener noreferrer nofollow".
_SHOWN_ATTRIBUTES = {tag: set(attrs) - {"src"} for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}


def sanitize_html(markup: str | None) -> str | None:
    """HTML safe to show: scripts, styles (all CSS), event handlers, forms, frames, dangerous URLs
    and every remote reference (images, backgrounds, stylesheets) removed (nh3 / ammonia).
    None stays None."""
    if markup is None:
        return None
    try:
        return nh3.clean(markup, attributes=_SHOWN_ATTRIBUTES, link_rel="noopener noreferrer nofollow")
    except Exception:
        return html_lib.escape(markup)


@dataclass
class SafeRendering:
    """`sanitize_html`'s output and what it left out, so a viewer is told rather than misled."""

    html: str | None
    remote_blocked: int = 0  # references a client would have fetched (images, CSS url(), ...)
    css_removed: bool = False  # the message had CSS: shown without it, so nothing it hides is hidden
    css_text: list[str] = field(default_factory=list)  # text the CSS itself shows (`content: "..."`)
    other_text: list[str] = field(default_factory=list)  # text clients may show that the sanitised HTML drops
    note: str | None = None


# Attributes through which a client fetches a resource as it renders (not links one clicks).
_FETCHING_ATTRIBUTES = {"src", "srcset", "background", "poster", "data", "lowsrc", "dynsrc", "xlink:href"}
_CSS_URL = re.compile(r"url\(\s*(['\"]?)\s*([^'\")\s]*)", re.IGNORECASE)
_CSS_IMPORT_STRING = re.compile(r"@import\s+(['\"])([^'\"]*)\1", re.IGNORECASE)
_CSS_CONTENT = re.compile(r"content\s*:\s*(\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)')", re.IGNORECASE | re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)


def _fetches(url: str) -> bool:
    """Whether a client would fetch `url` from somewhere: anything but inline data, a MIME part
    of the message itself, or a fragment."""
    url = url.strip().lower()
    return bool(url) and not url.startswith(("data:", "cid:", "#"))


def _css_unescape(value: str) -> str:
    def one(m: re.Match) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(2)

    return _CSS_ESCAPE.sub(one, value)


class _Inventory(HTMLParser):
    """Walks the markup (the stdlib HTML tokenizer) for what `sanitize_html` removes and a mail
    client would not: remote references and CSS, including the text CSS generates."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.remote = 0
        self.css: list[str] = []
        self.other: list[str] = []  # form field values and inline SVG text: shown by some clients, dropped by nh3
        self._in_style = False
        self._svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag in ("input", "textarea"):
            if (named.get("type") or "").lower() != "hidden":
                self.other += [v.strip() for k, v in attrs if k in ("value", "placeholder") and v and v.strip()]
        for name, value in attrs:
            value = value or ""
            if name == "srcset":
                self.remote += sum(_fetches(c.strip().split(" ")[0]) for c in value.split(",") if c.strip())
            elif name in _FETCHING_ATTRIBUTES or (tag == "link" and name == "href"):
                self.remote += _fetches(value)
            elif name == "style":
                self.css.append(value)
        if tag == "style":
            self._in_style = True
        elif tag == "svg":
            self._svg_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "svg":  # <svg/> has no content to close
            self._svg_depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        elif tag == "svg" and self._svg_depth:
            self._svg_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)
        elif self._svg_depth and data.strip():
            self.other.append(data.strip())


def render_html_safely(markup: str | None) -> SafeRendering:
    """A faithful and safe rendering for a viewer who must see what a recipient will: the
    sanitised HTML without any CSS (so text that CSS hides from the recipient is visible, and
    nothing is hidden from the viewer), with no remote content (the viewer is not tracked), plus
    the count of remote references blocked and the text the CSS itself would show."""
    if markup is None:
        return SafeRendering(html=None)
    inventory = _Inventory()
    try:
        inventory.feed(markup)
        inventory.close()
    except Exception:  # never let a pathological document stop it from being shown
        pass
    css = "\n".join(inventory.css)
    remote = inventory.remote + sum(_fetches(m.group(2)) for m in _CSS_URL.finditer(css))
    remote += sum(_fetches(m.group(2)) for m in _CSS_IMPORT_STRING.finditer(css))
    css_text = [t for m in _CSS_CONTENT.finditer(css) if (t := _css_unescape(m.group(2) or m.group(3) or "").strip())]
    notes = []
    if remote:
        notes.append(f"{remote} remote reference(s) (images, backgrounds, stylesheets) blocked; "
                     "the recipient's client may load them.")
    if inventory.css:
        notes.append("Shown without the message's CSS: text it hides from the recipient is visible here"
                     + (", and text it adds is listed in html_css_text." if css_text else "."))
    if inventory.other:
        notes.append("Text that mail clients may show in form fields or inline SVG, which this rendering "
                     "cannot, is listed in html_other_text.")
    return SafeRendering(html=sanitize_html(markup), remote_blocked=remote, css_removed=bool(inventory.css),
                         css_text=css_text, other_text=inventory.other, note=" ".join(notes) or None)
