"""Reply parsing against crafted input: the bounded parser (mail/replies.py) vs the library as is.

mail-parser-reply's localized quote-header patterns backtrack in cubic time on lines built from
their own words ("am " + "schrieb " * n). MultiMail gives the library a bounded prefix of each
reply (MAX_LINES lines of MAX_LINE_CHARS characters). This prints, in one run:

  - baseline: the library on one crafted line of 200, 400 and 800 characters, unbounded;
  - the worst case found for the bounded parser, over every quote-header word of every language
    the library knows, as one line and as MAX_LINES such lines;
  - the issue's input (a 3.2 KB line), and 100 of them, through the bounded parser.

    python benchmarks/reply_parsing.py
"""

from __future__ import annotations

import re
import time

from mailparser_reply.constants import MAIL_LANGUAGES

from multimail_server.mail.replies import _PARSER, LANGUAGES, MAX_LINE_CHARS, MAX_LINES, new_text


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def header_words() -> list[str]:
    words: set[str] = set()
    for code in LANGUAGES:
        for key in ("wrote_header", "from_header", "sent_from"):
            pattern = MAIL_LANGUAGES[code].get(key)
            if isinstance(pattern, str):
                words.update(re.findall(r"[^\W\d_]{2,}", pattern))
    return sorted(words)


def main() -> None:
    print(f"bounds: {MAX_LINES} lines x {MAX_LINE_CHARS} characters")
    print("baseline, the library unbounded on one crafted line:")
    baseline = {}
    for n in (25, 50, 100):
        line = "am " + "schrieb " * n
        baseline[len(line)] = timed(_PARSER.parse_reply, line)
        print(f"  {len(line):5d} chars: {baseline[len(line)] * 1000:8.1f} ms")

    worst, worst_input = 0.0, ""
    for word in header_words():
        for shape in (f"{word} " * 60, "am " + f"{word} " * 80, f"{word}: " * 60, f"> {word} " * 60):
            for body in (shape, "\n".join([shape] * MAX_LINES)):
                took = timed(new_text, body)
                if took > worst:
                    worst, worst_input = took, f"{shape[:30]!r}… x{body.count(chr(10)) + 1} lines"
    print(f"bounded parser, worst over {len(header_words())} header words: {worst * 1000:.1f} ms ({worst_input})")
    issue = "am " + "schrieb " * 400
    print(f"the issue's 3.2 KB line, bounded: {timed(new_text, issue) * 1000:.1f} ms")
    print(f"100 such lines, bounded: {timed(new_text, chr(10).join([issue] * 100)) * 1000:.1f} ms")
    largest = max(baseline)
    print(f"ratio: worst bounded / unbounded {largest}-char line = {worst / baseline[largest]:.2f}")


if __name__ == "__main__":
    main()
