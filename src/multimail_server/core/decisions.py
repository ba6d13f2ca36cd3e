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
    r"^\s*("
    r"on\s.+wrote\s*:|am\s.+schrieb.*:|le\s.+a\s+écrit\s*:|el\s.+escribió\s*:|op\s.+schreef.*:|il\s.+ha\s+scritto\s*:|"
    r"den\s.+skrev.*:|.+\sskrev\s.*:|.+\s(wrote|schrieb|a écrit|escribió|schreef|ha scritto)\s*:|"
    r"-{3,}\s*(original message|ursprüngliche nachricht|message d.origine|mensaje original|oorspronkelijk bericht|"
    r"messaggio originale|originalmeddelande|forwarded message|weitergeleitete nachricht)\s*-{3,}|"
    r"(from|von|de|van|da|från|fra|od)\s?:\s.+|_{5,}|-{5,}"
    r")\s*$",
    re.IGNORECASE,
)
# Negation words, matched on normalized text (apostrophes removed: "don't" -> "dont").
_NEGATION = re.compile(
    r"\b(not|no|nor|never|neither|cannot|dont|doesnt|didnt|cant|couldnt|wont|wouldnt|shouldnt|isnt|arent|"
    r"wasnt|werent|havent|hasnt|hadnt|mustnt|neednt|aint|nicht|kein|keine|nein|nie|pas|non)\b"
)
# After an option that is itself a negation word ("no"), these make the line mean something else:
# "no problem", "no objections" are a yes.
_NOT_A_NO = frozenset(
    "problem problems worries worry objection objections doubt doubts idea clue issue issues concern "
    "concerns rush hurry need matter".split()
)
_GREETING = re.compile(r"^(hi|hello|hey|dear|thanks|thank you)\b[^a-z0-9]*$", re.IGNORECASE)
_GREETING_START = re.compile(
    r"^(hi|hello|hey|dear|thanks|thank you|good (morning|afternoon|evening)|greetings)\b", re.IGNORECASE
)
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_LEADING_NUMBER = re.compile(r"#?\s*(\d+)(\s*[.):]\s*|\s+)\S")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    text = re.sub(r"[^\w\s-]", " ", text)
    # A hyphen joins words ("go-live"); a free-standing one ("approve - with changes") is punctuation.
    text = re.sub(r"(?<!\w)-|-(?!\w)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


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
        if _is_greeting(line, options):
            continue
        return _match_line(line, options)
    return None


def _is_greeting(line: str, options: list[str]) -> bool:
    """A line like `Hi,` or `Hi Bob,` that is skipped; a line that names an option never is."""
    if _GREETING.match(line):
        return True
    if not _GREETING_START.match(line) or not line.endswith(","):
        return False
    norm = _norm(line)
    return (
        len(norm.split()) <= 5
        and not _NEGATION.search(norm)
        and not re.search(r"\d", norm)
        and not _spans(norm, options)
    )


def _option_pattern(norm_opt: str) -> re.Pattern[str]:
    # Inside an option, a hyphen and a space are interchangeable ("go live" names "go-live").
    words = re.split(r"[- ]", norm_opt)
    return re.compile(r"(?<![\w-])" + r"[- ]".join(re.escape(w) for w in words) + r"(?![\w-])")


def _spans(norm_line: str, options: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Where each option occurs in the normalized line (options that do not occur are left out)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for option in options:
        if not isinstance(option, str) or option in found:
            continue
        norm_opt = _norm(option)
        if norm_opt:
            spans = [m.span() for m in _option_pattern(norm_opt).finditer(norm_line)]
            if spans:
                found[option] = spans
    return found


def _match_line(line: str, options: list[str]) -> str | None:
    norm_line = _norm(line)
    if not norm_line:
        return None
    # A bare number (optionally "2." or "#2") picks that option, unless an option is named that
    # number and it is another one (options "3", "2", "1": is "1" the first or the last?).
    m = re.fullmatch(r"#?\s*(\d+)\s*[.)]?", line.strip())
    if m:
        index = int(m.group(1))
        by_index = options[index - 1] if 1 <= index <= len(options) else None
        named = {o for o in options if isinstance(o, str) and _norm(o) == _norm(m.group(1))}
        if named and named != {by_index}:
            return None
        return by_index
    found = _spans(norm_line, options)
    # "approve with changes" also contains "approve": an option whose every occurrence lies inside
    # the occurrence of a longer option is not named on its own.
    def covered(option: str) -> bool:
        longer = [span for o, spans in found.items() if len(_norm(o)) > len(_norm(option)) for span in spans]
        return all(any(s2 <= s and e <= e2 for s2, e2 in longer) for s, e in found[option])

    # Two options that read the same once normalized ("C++" and "C") both stay: unclear.
    hits = [o for o in found if not covered(o)]
    if len(hits) != 1:
        return None
    chosen = hits[0]
    norm_chosen = _norm(chosen)
    # A negation anywhere outside the chosen option's own words makes the line unclear.
    rest = norm_line
    for s, e in sorted(found[chosen], reverse=True):
        rest = rest[:s] + " " + rest[e:]
    if _NEGATION.search(rest):
        return None
    if _NEGATION.fullmatch(norm_chosen):
        # An option that is a negation word ("no") counts only as the line's first word (after
        # its number, "2. no"), and not in "no problem" or "no objections".
        first_start, first_end = found[chosen][0]
        before = norm_line[:first_start].split()
        following = norm_line[first_end:].split()
        if before and not (len(before) == 1 and before[0].isdigit()):
            return None
        if following and following[0] in _NOT_A_NO:
            return None
    # A leading number must agree with the option named after it ("1. reject" is unclear).
    lead = _LEADING_NUMBER.match(line.strip())
    if lead and norm_chosen.split()[0] != _norm(lead.group(1)):
        index = int(lead.group(1))
        if not (1 <= index <= len(options) and options[index - 1] == chosen):
            return None
    return chosen
