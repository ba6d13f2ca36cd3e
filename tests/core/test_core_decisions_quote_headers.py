"""match_option stops at localized quote headers and Outlook's unprefixed header blocks, so an
option named in quoted history never decides."""

import pytest

from multimail_server.core.decisions import match_option

AR = ["approve", "reject"]
QUOTE = "\n> 1. approve\n> 2. reject\n"


@pytest.mark.parametrize("header", [
    "Op ma 6 jan. 2025 om 10:02 schreef Agent <agent@acme.test>:",
    "Il giorno lun 6 gen 2025 alle ore 10:02 Agent <agent@acme.test> ha scritto:",
    "Den mån 6 jan. 2025 kl 10:02 skrev Agent <agent@acme.test>:",
    "El lun, 6 ene 2025 a las 10:02, Agent (<agent@acme.test>) escribió:",
    "Agent <agent@acme.test> schrieb am Mo., 6. Jan. 2025, 10:02:",
    "-----Ursprüngliche Nachricht-----",
    "-----Message d'origine-----",
    "-----Mensaje original-----",
    "Von: Agent <agent@acme.test>",
    "De : Agent <agent@acme.test>",
    "Från: Agent <agent@acme.test>",
    "Van: Agent <agent@acme.test>",
    "________________________________",
])
def test_quote_header_ends_the_new_text(header):
    assert match_option(f"{header}\napprove{QUOTE}", AR) is None
    assert match_option(f"reject\n\n{header}\napprove{QUOTE}", AR) == "reject"


def test_a_line_mentioning_from_inside_a_sentence_is_not_a_header():
    assert match_option("approve - from my side it's fine", AR) == "approve"
