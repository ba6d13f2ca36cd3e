"""Parse RFC 5322 bytes into the fields MultiMail stores.

Lenient by design: mail from the world is often malformed, and a message is stored (and its
defects noted in `ParsedMail.defects`) rather than refused. `parse_message` never raises.

- Text is taken from text/plain, or derived from HTML (inscriptis) when only HTML came.
- Bodies are decoded by hand from the transfer encoding (base64, quoted-printable, 8bit) and the
  declared charset, with best-effort fallbacks (UTF-8, then windows-1252) for unknown or lying
  charset labels; text line endings are normalised to "\\n".
- Header values are decoded (encoded-words; raw 8-bit bytes as UTF-8 or windows-1252) and
  single-line: subjects, display names and filenames never carry CR, LF, U+2028 or other
  control characters (each becomes a space).
- HTML is stored as received (the raw message is kept too) and sanitised with `sanitize_html`
  wherever it is shown, so a better sanitiser applies to mail already stored.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import nh3

from ..core.threading import parse_message_ids


@dataclass
class ParsedMail:
    from_addr: str
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    text: str
    html: str | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    date: datetime | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    auto_submitted: bool = False
    defects: list[str] = field(default_factory=list)


# --- single-line header text -------------------------------------------------------------------

# Characters that must not survive in a one-line value: C0/C1 controls (CR, LF, NEL, TAB...),
# LINE/PARAGRAPH SEPARATOR, zero-width space, bidi overrides/isolates and BOM.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
_SURROGATES = re.compile("[\udc80-\udcff]")


def _fix_surrogates(value: str) -> str:
    """Header text the parser decoded with surrogateescape (raw 8-bit bytes): decode those bytes
    as UTF-8 when they are, else as windows-1252."""
    if not _SURROGATES.search(value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def one_line(value: str) -> str:
    """A header value safe to show and to re-use in a header: no CR/LF/LS/PS/controls."""
    value = _fix_surrogates(value or "")
    value = _LINE_BREAKING.sub(" ", value)
    return re.sub(r" {2,}", " ", value).strip()


def _get_all(msg: Message, name: str, defects: list[str] | None = None) -> list[str]:
    """Every value of header `name`, decoded (encoded-words), as text. Raw 8-bit bytes in a header
    (which the parser would turn into U+FFFD) are read as UTF-8, else windows-1252."""
    values = []
    try:
        raw_items = [(k, v) for k, v in msg.raw_items() if k.lower() == name.lower()]
    except Exception:
        raw_items = []
    for key, raw in raw_items:
        try:
            if isinstance(raw, str) and _SURROGATES.search(raw):
                if defects is not None:
                    defects.append(f"header {name}: 8-bit bytes")
                values.append(str(default_policy.header_factory(key, _fix_surrogates(raw))))
            else:
                values.append(_fix_surrogates(str(msg.policy.header_fetch_parse(key, raw))))
        except Exception as exc:  # e.g. an encoded-word that decodes to CR/LF: decode it by hand
            if defects is not None:
                defects.append(f"header {name}: {type(exc).__name__}")
            values.append(_decode_words(_fix_surrogates(str(raw))))
    return values


def _decode_words(value: str) -> str:
    """RFC 2047 encoded-words decoded without the header parser; line breaks become spaces."""
    from email.header import decode_header

    try:
        parts = decode_header(value)
    except Exception:
        return one_line(value)
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset, []) if isinstance(chunk, bytes) else chunk)
    return one_line("".join(out))


def _header(msg: Message, name: str, defects: list[str] | None = None) -> str:
    values = _get_all(msg, name, defects)
    return values[0] if values else ""


def _raw_values(msg: Message, name: str) -> list[str]:
    try:
        return [_fix_surrogates(str(v)) for k, v in msg.raw_items() if k.lower() == name.lower()]
    except Exception:
        return []


def _addresses(msg: Message, name: str, defects: list[str]) -> list[str]:
    """Addresses split on the raw header first, display names decoded after: an encoded-word
    that decodes to "CRLF Bcc: x" or "a@b, c@d" stays inside its display name."""
    _get_all(msg, name, defects)  # for its defects
    values = [re.sub(r"\r?\n[ \t]*", " ", v) for v in _raw_values(msg, name)]
    result = []
    try:
        pairs = getaddresses(values)
    except Exception:
        defects.append(f"header {name}: unparseable addresses")
        return []
    for display, addr in pairs:
        display, addr = _decode_words(display), one_line(addr).replace(" ", "")
        if addr and "@" in addr:
            if display:
                quoted = display.replace("\\", "\\\\").replace('"', '\\"')
                needs_quotes = re.search(r'[()<>\[\]:;@\\,."]', display)
                result.append(f'"{quoted}" <{addr}>' if needs_quotes else f"{display} <{addr}>")
            else:
                result.append(addr)
        elif addr or display:
            defects.append(f"header {name}: invalid address")
    return result


def _header_value(value: Any) -> str:
    try:
        return _fix_surrogates(str(value))
    except Exception:
        return ""


# --- charsets and bodies ------------------------------------------------------------------------

# Labels whose real-world meaning is a superset codec (as browsers treat them).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",  # 8-bit bytes under an ASCII label are most often UTF-8
    "ascii": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "tis-620": "cp874",
    "iso-8859-9": "cp1254",
    "utf8": "utf-8",
}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(payload: bytes, charset: str | None, defects: list[str]) -> str:
    """Best-effort text from bytes in `charset`: the declared charset, else UTF-8, else
    windows-1252 (which never fails)."""
    codec = _codec(charset)
    if charset and codec is None:
        defects.append(f"unknown charset {one_line(charset)[:40]!r}")
    if codec is not None:
        try:
            return payload.decode(codec)
        except (UnicodeDecodeError, LookupError):
            defects.append(f"bytes not valid in {codec}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None and codec not in ("utf-8", "cp1252"):
        return payload.decode(codec, "replace")
    return payload.decode("cp1252", "replace")


def _normalise_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.replace("\u2028", "\n").replace("\u2029", "\n")


def _part_text(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"content: {type(exc).__name__}")
        payload = None
    if payload is None:  # a multipart with no parts, or a payload the decoder gave up on
        raw = part.get_payload()
        if isinstance(raw, list):
            return ""
        payload = str(raw or "").encode("utf-8", "surrogateescape")
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", "surrogateescape")
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return _normalise_text(decode_bytes(payload, charset, defects))


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    return disposition == "attachment"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = one_line(_fix_surrogates(str(name)))
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip(". ")  # no paths
    return name[:255] or None


# --- HTML -----------------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def text_from_html(markup: str) -> str:
    """Readable text from HTML (inscriptis): block structure becomes line breaks."""
    if not markup:
        return ""
    try:
        from inscriptis import get_text

        text = get_text(markup)
    except Exception:  # never let a pathological document stop a message from being stored
        import html as html_lib

        text = html_lib.unescape(_TAG.sub(" ", markup))
    lines = [line.rstrip() for line in _normalise_text(text).split("\n")]
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
        import html as html_lib

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


# --- auto-replies ---------------------------------------------------------------------------------

# Subjects that only automatic mail carries (at the start; "Re: Vacation plans" is a person).
_AUTO_SUBJECT = re.compile(
    r"^\s*\[?(auto(matic|matische)?[\s-]*(reply|response|answer|antwort)|autoreply|auto\s*:|out of (the )?office\s*(reply|:|autoreply)|"
    r"ooo\s*:|abwesenheitsnotiz|abwesend\s*:|r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica|"
    r"fuera de la oficina|risposta automatica|automatisch antwoord|autosvar|automatisk svar|"
    r"undeliverable\s*:|undelivered mail|delivery status notification|mail delivery failed|returned mail\s*:)",
    re.IGNORECASE,
)


def _is_auto(msg: Message, subject: str, from_addr: str, defects: list[str]) -> bool:
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-AutoReply-From", "X-Mail-Autoreply"):
        value = _header(msg, name).strip().lower()
        if value and value not in ("no", "false", "0"):
            return True
    if _header(msg, "Precedence").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    if _header(msg, "X-Auto-Response-Suppress") and _header(msg, "X-MS-Exchange-Inbox-Rules-Loop"):
        return True  # Exchange rule-generated
    if _header(msg, "List-Id") or _header(msg, "List-Unsubscribe"):
        return True  # mailing-list traffic is nobody's answer
    if _AUTO_SUBJECT.match(subject):
        return True
    local = from_addr.rsplit("<", 1)[-1].split("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster") or local.startswith(("noreply", "no-reply", "do-not-reply", "donotreply")):
        return True
    return False


# --- the parser -----------------------------------------------------------------------------------


def _bodies(msg: Message, defects: list[str]) -> tuple[Message | None, Message | None]:
    text_part = html_part = None
    try:
        if isinstance(msg, EmailMessage):
            text_part = msg.get_body(preferencelist=("plain",))
            html_part = msg.get_body(preferencelist=("html",))
    except Exception as exc:
        defects.append(f"body: {type(exc).__name__}")
    if text_part is None and html_part is None:
        # Broken structure (no boundary found, odd nesting): the first inline text parts win.
        try:
            for part in msg.walk():
                if part.is_multipart() or _is_attachment(part):
                    continue
                ctype = part.get_content_type()
                if ctype == "text/plain" and text_part is None:
                    text_part = part
                elif ctype == "text/html" and html_part is None:
                    html_part = part
        except Exception as exc:
            defects.append(f"walk: {type(exc).__name__}")
    return text_part, html_part


def _attachments(msg: Message, bodies: tuple[Message | None, Message | None], defects: list[str]) -> list[dict[str, Any]]:
    result = []
    try:
        parts = list(msg.walk()) if msg.is_multipart() else []
    except Exception as exc:
        defects.append(f"attachments: {type(exc).__name__}")
        return result
    for part in parts:
        if part is msg or any(part is b for b in bodies if b is not None):
            continue
        try:
            if part.is_multipart():
                continue
            filename = _filename(part)
            ctype = part.get_content_type()
            if not (_is_attachment(part) or filename or not ctype.startswith(("text/plain", "text/html"))):
                continue  # an alternative body part we did not pick
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
            result.append({"filename": filename or "attachment", "content_type": ctype, "size": len(payload), "content": payload})
        except Exception as exc:
            defects.append(f"attachment: {type(exc).__name__}")
    return result


def _raw_body(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in raw:
            return raw.split(sep, 1)[1]
    return b""


def parse_message(raw: bytes) -> ParsedMail:
    """Parse `raw`; never raises. What could not be understood is listed in `defects`."""
    try:
        return _parse(raw)
    except Exception as exc:  # last resort: keep the bytes readable as text
        text = _normalise_text(decode_bytes(_raw_body(raw) or raw, None, []))
        return ParsedMail(from_addr="", to=[], cc=[], reply_to=[], subject="", text=text, html=None,
                          message_id=None, in_reply_to=None, references=[], date=None,
                          defects=[f"unparseable: {type(exc).__name__}"])


def _parse(raw: bytes) -> ParsedMail:
    msg = message_from_bytes(raw, policy=default_policy)
    defects: list[str] = []
    for part in msg.walk():
        defects.extend(type(d).__name__ for d in getattr(part, "defects", []))
    if not msg.keys():
        defects.append("no headers")
    text_part, html_part = _bodies(msg, defects)
    text = _part_text(text_part, defects) if text_part is not None else ""
    html = _part_text(html_part, defects) if html_part is not None else None
    if text_part is None and html_part is None and not msg.is_multipart():
        ctype = msg.get_content_type()
        if ctype.startswith("text/") or ctype == "application/octet-stream" and not _filename(msg):
            text = _part_text(msg, defects)
    if not text.strip() and html:
        text = text_from_html(html)
    attachments = _attachments(msg, (text_part, html_part), defects)
    if text_part is None and html_part is None and not attachments and not text:
        # A multipart whose boundary never appears: keep its body readable as text.
        text = _normalise_text(decode_bytes(_raw_body(raw), None, defects))
        defects.append("no readable part: raw body kept as text")
    date = None
    try:
        date_header = _header(msg, "Date", defects)
        date = parsedate_to_datetime(date_header) if date_header else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=timezone.utc)
    except Exception:
        defects.append("date")
    from_addr = (_addresses(msg, "From", defects) or [""])[0]
    subject = one_line(_header(msg, "Subject", defects))
    message_ids = parse_message_ids(_header(msg, "Message-ID", defects))
    in_reply_to = parse_message_ids(_header(msg, "In-Reply-To", defects))
    return ParsedMail(
        from_addr=from_addr,
        to=_addresses(msg, "To", defects),
        cc=_addresses(msg, "Cc", defects),
        reply_to=_addresses(msg, "Reply-To", defects),
        subject=subject,
        text=text,
        html=html.replace("\x00", "") if html is not None else None,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=parse_message_ids(_header(msg, "References", defects)),
        date=date,
        attachments=attachments,
        auto_submitted=_is_auto(msg, subject, from_addr, defects),
        defects=list(dict.fromkeys(defects)),
    )
