"""Write the synchronous client (`client/_sync.py`) from the asynchronous one (`client/_async.py`).

The two clients are the same code but for `async`/`await`; keeping both by hand let them drift
(a fix in one, not the other). So `_async.py` is the source, docstrings included, and this small
token rewrite (after httpcore's `scripts/unasync.py`) derives `_sync.py`.

    python3 scripts/unasync.py          # rewrite src/multimail_server/client/_sync.py
    python3 scripts/unasync.py --check  # exit 1 when the committed _sync.py is not what it would write
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "src" / "multimail_server" / "client"
SOURCE = CLIENT / "_async.py"
TARGET = CLIENT / "_sync.py"
HEADER = "# generated from _async.py by scripts/unasync.py; do not edit\n"

# Whole-word replacements, applied in one pass (so no rule rewrites another's output).
SUBS = {
    "AsyncMultiMail": "MultiMail",
    "AsyncIterator": "Iterator",
    "AsyncBaseTransport": "BaseTransport",
    "AsyncClient": "Client",
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "asyncio": "time",
    "Asynchronous": "Synchronous",
    "asynchronous": "synchronous",
}
# Keywords that only the async flavour has: `async def`, `async with`, `async for`, `await x`.
KEYWORDS = re.compile(r"\basync (?=def |with |for )|\bawait ")
WORDS = re.compile(r"\b(" + "|".join(map(re.escape, SUBS)) + r")\b")
# `(await client.x(...))["k"]` needs its parentheses in async code only (a call's `f(await x)` keeps its own).
AWAITED_IN_PARENS = re.compile(r"(?<![\w)\]])\(await ")


def _drop_await_parens(line: str) -> str:
    """`(await f(a))[k]` -> `f(a)[k]`: remove the parentheses an `await` needed, by matching brackets."""
    while (match := AWAITED_IN_PARENS.search(line)) is not None:
        depth, end = 0, None
        for i in range(match.start(), len(line)):
            depth += {"(": 1, ")": -1}.get(line[i], 0)
            if depth == 0:
                end = i
                break
        if end is None:  # the expression continues on the next line: keep its parentheses
            return line
        line = line[: match.start()] + line[match.end(): end] + line[end + 1:]
    return line


def unasync(source: str) -> str:
    """The synchronous twin of the asynchronous client's source."""
    lines = [_drop_await_parens(line) for line in source.splitlines(keepends=True)]
    text = KEYWORDS.sub("", "".join(lines))
    return HEADER + WORDS.sub(lambda m: SUBS[m.group(1)], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when _sync.py is not up to date")
    args = parser.parse_args(argv)
    expected = unasync(SOURCE.read_text(encoding="utf-8"))
    if not args.check:
        TARGET.write_text(expected, encoding="utf-8")
        return 0
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if current == expected:
        return 0
    diff = difflib.unified_diff(current.splitlines(keepends=True), expected.splitlines(keepends=True),
                                str(TARGET), "generated from " + str(SOURCE))
    sys.stderr.write("".join(diff))
    sys.stderr.write(f"\n{TARGET.name} is stale or edited by hand; regenerate it: python3 scripts/unasync.py\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
