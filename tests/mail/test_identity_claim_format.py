"""The X-MultiMail-Identity claim format does not change with the code that makes it: a claim made
by the hand-written ES256 encoder MultiMail had before joserfc (a fixed sample, with the answers
that code gave, in corpus/identity/claim_v1.json) verifies, is re-made byte for byte up to the
signature, and every malformed variant gets the answer it got then."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from multimail_server.mail import identity

SAMPLE = json.loads((Path(__file__).parent / "corpus" / "identity" / "claim_v1.json").read_text())
MESSAGE = SAMPLE["message"].encode("utf-8")


def keys(kid):
    return {SAMPLE["kid"]: SAMPLE["public_key_pem"]}.get(kid)


def test_a_claim_made_by_the_previous_encoder_verifies():
    result = identity.verify(SAMPLE["signed_message"].encode("utf-8"), key_lookup=keys)
    assert result == SAMPLE["verified"] and result["valid"] is True


def test_the_claim_is_made_exactly_as_before_up_to_the_random_signature():
    """ECDSA signatures are randomised; the signed header and payload segments are not."""
    inputs = {**SAMPLE["inputs"], "issued_at": datetime.fromisoformat(SAMPLE["inputs"]["issued_at"])}
    token = identity.make_claim(MESSAGE, private_key_pem=SAMPLE["private_key_pem"], **inputs)
    assert token.rsplit(".", 1)[0] == SAMPLE["token"].rsplit(".", 1)[0]
    assert identity.verify(identity.add_header(MESSAGE, token), key_lookup=keys)["valid"] is True


def test_the_published_key_is_the_same_jwk_with_the_same_key_id():
    assert identity.public_jwk(SAMPLE["public_key_pem"], SAMPLE["kid"]) == SAMPLE["jwk"]
    assert identity.key_id(SAMPLE["public_key_pem"]) == SAMPLE["kid"]


@pytest.mark.parametrize("case", sorted(SAMPLE["malformed"]))
def test_a_malformed_claim_gets_the_answer_it_got_before(case):
    bad = SAMPLE["malformed"][case]
    result = identity.verify(identity.add_header(MESSAGE, bad["token"]), key_lookup=keys)
    assert result == bad["result"] and result["valid"] is False
