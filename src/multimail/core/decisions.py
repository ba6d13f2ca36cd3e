"""Decision parsing: which option a human's reply chooses, if any.

A wrong decision is far worse than none, so this answers with an option only when the first
meaningful line of the reply's new text names exactly one option (by name or number) and does not
negate it; everything else is unclear (None). Quoted history must already be stripped, or is
stripped here by the common markers when it was not.
"""

from __future__ import annotations

import re
import unicodedata

_QUOTE_HEADER = re.compile(
    r"^\s*(on\s.+wrote:|am\s.+schrieb.*:|le\s.+a\s+écrit\s*:|el\s.+escribió:|-----\s*original message\s*-----|from:\s.+|_{5,})\s*$",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(not|no|don'?t|do not|never|nicht|kein|pas|non)\b", re.IGNORECASE)
_GREETING = re.compile(r"^(hi|hello|hey|dear|thanks|thank you)\b[^a-z0-9]*$", re.IGNORECASE)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s-]", " ", text)).strip()


def new_text_lines(body: str) -> list[str]:
    """Lines of the reply before quoted history or a signature starts."""
    lines: list[str] = []
    for raw in (body or "").splitlines():
        line = raw.strip()
        if line.startswith(">") or _QUOTE_HEADER.match(line) or line == "--":
            break
        if line:
            lines.append(line)
    return lines


def match_option(body: str, options: list[str]) -> str | None:
    """The option the reply chooses, or None when absent, ambiguous or negated."""
    for line in new_text_lines(body):
        if _GREETING.match(line):
            continue
        return _match_line(line, options)
    return None


def _match_line(line: str, options: list[str]) -> str | None:
    norm_line = _norm(line)
    if not norm_line:
        return None
    # A bare number (optionally "2." or "#2") picks that option.
    m = re.fullmatch(r"#?\s*(\d+)\s*[.)]?", line.strip())
    if m:
        index = int(m.group(1))
        return options[index - 1] if 1 <= index <= len(options) else None
    hits = []
    for option in options:
        norm_opt = _norm(option)
        if norm_opt and re.search(rf"(?<![\w-]){re.escape(norm_opt)}(?![\w-])", norm_line):
            hits.append(option)
    if len(hits) > 1:
        # "approve with changes" also contains "approve": the longer option wins when it
        # contains every other hit; otherwise the line names two options and is unclear.
        longest = max(hits, key=lambda o: len(_norm(o)))
        if all(_norm(h) in _norm(longest) for h in hits):
            hits = [longest]
    if len(hits) != 1:
        return None
    if _NEGATION.search(norm_line) and not _NEGATION.search(_norm(hits[0])):
        return None
    return hits[0]
