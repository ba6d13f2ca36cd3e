"""The inbox snippet and the secret scrub take shortcuts for speed (services/views.snippet collapses
only a head of a long body; core/decision_secrets.redact_text looks for its marks with one
search): both must give exactly what the plain version gives, for any text."""

from __future__ import annotations

import random
import string

from multimail_server.core.decision_secrets import LINK_PLACEHOLDER, redact_text
from multimail_server.services.views import SNIPPET_LENGTH, snippet


def plain_snippet(text: str) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= SNIPPET_LENGTH else flat[: SNIPPET_LENGTH - 1] + "…"


def test_the_snippet_of_any_text_is_the_snippet_of_the_whole_text():
    rnd = random.Random(7)
    lengths = [0, 1, SNIPPET_LENGTH - 1, SNIPPET_LENGTH, SNIPPET_LENGTH + 1, 4 * SNIPPET_LENGTH - 1, 4 * SNIPPET_LENGTH,
               4 * SNIPPET_LENGTH + 1, 1500, 5000]
    alphabets = [" a", "ab \n\t", string.ascii_letters + "  ", "     x", "\u00e9\u4e2d \u2028"]
    for _ in range(5000):
        text = "".join(rnd.choice(rnd.choice(alphabets)) for _ in range(rnd.choice(lengths)))
        assert snippet(text) == plain_snippet(text), repr(text)[:120]
    # the case the head alone cannot decide: a long run of whitespace before the first words
    text = " " * 5000 + "hello there"
    assert snippet(text) == "hello there"


def test_every_secret_mark_is_still_found():
    token = "/d/" + "A" * 24 + "." + "b" * 22
    for body in (f"see https://mm.test{token} now", "write to agent+q_abcdefghijklmnopqrst@acme.test",
                 "AGENT+Q_ABCDEFGHIJKLMNOPQRST@acme.test", f"approve: https://mm.test/a/{'C' * 24}.{'d' * 22}"):
        scrubbed = redact_text(body)
        assert scrubbed != body and "+q_" not in scrubbed.lower()
        assert token not in scrubbed
    assert LINK_PLACEHOLDER in redact_text(f"x https://mm.test{token}")
    plain = "nothing secret /x/ here + q_ nor +b_abc"
    assert redact_text(plain) is plain
