"""core/spam.py: the baseline's rules one by one, what an rspamd answer means and how much of it is
kept, and the states a verdict puts a message in."""

from __future__ import annotations

import pytest

from multimail_server.core.spam import (
    FLAGGED,
    GTUBE,
    MAX_SYMBOL_NAME,
    MAX_SYMBOLS,
    QUARANTINED,
    MailFacts,
    baseline,
    check_threshold,
    from_rspamd,
    state_of,
)


def facts(auth=None, sender="ann@partner.test", reply_to=(), subject="Notes for Tuesday", text="Hello.") -> MailFacts:
    return MailFacts(authentication=auth or {}, from_addr=sender, reply_to=list(reply_to), subject=subject, text=text)


def names(verdict) -> set[str]:
    return {s["name"] for s in verdict["symbols"]}


def test_nothing_known_scores_nothing():
    verdict = baseline(facts())
    assert verdict == {"source": "baseline", "score": 0, "action": None, "symbols": []}
    assert state_of(verdict) is None


def test_a_dmarc_failure_under_p_reject_flags():
    verdict = baseline(facts({"dmarc": {"result": "fail", "policy": "reject"}, "spf": {"result": "none"}}))
    assert names(verdict) == {"DMARC_FAIL", "DMARC_POLICY_REJECT"} and verdict["score"] == 6.0
    assert state_of(verdict) == FLAGGED
    assert state_of(verdict, threshold=7) is None
    assert state_of(verdict, threshold=3) == FLAGGED  # twice it is 6, but quarantine needs 5 more than the threshold too
    assert state_of(verdict, threshold=1) == QUARANTINED


@pytest.mark.parametrize("auth,symbol,score", [
    ({"spf": {"result": "fail"}}, "SPF_FAIL", 2.0),
    ({"spf": {"result": "softfail"}}, "SPF_SOFTFAIL", 1.0),
    ({"dkim": [{"result": "pass"}, {"result": "fail"}]}, "DKIM_INVALID", 1.0),
    ({"dmarc": {"result": "pass"}}, "DMARC_PASS", -1.0),
    ({"dmarc": {"result": "fail", "policy": "none"}}, "DMARC_FAIL", 4.0),
])
def test_each_authentication_rule(auth, symbol, score):
    verdict = baseline(facts(auth))
    assert [(s["name"], s["score"]) for s in verdict["symbols"]] == [(symbol, score)]


def test_heuristics():
    assert names(baseline(facts(sender=""))) == {"FROM_MISSING"}
    assert names(baseline(facts(reply_to=["collect@elsewhere.test"]))) == {"REPLYTO_OTHER_DOMAIN"}
    # an authenticated sender may have its answers go elsewhere
    assert names(baseline(facts({"dmarc": {"result": "pass"}}, reply_to=["x@elsewhere.test"]))) == {"DMARC_PASS"}
    assert names(baseline(facts(reply_to=["Ann <ann@PARTNER.test>"]))) == set()
    assert names(baseline(facts(subject="WIN A FREE CRUISE TODAY"))) == {"SUBJ_ALL_CAPS"}
    assert names(baseline(facts(subject="OK"))) == set()  # too short to say
    gtube = baseline(facts(text=f"x\n{GTUBE}\n"))
    assert names(gtube) == {"GTUBE"} and state_of(gtube) == QUARANTINED


def test_malformed_authentication_is_no_evidence():
    assert baseline(facts({"dmarc": "fail", "spf": ["fail"], "dkim": ["fail", None]}))["symbols"] == []


def test_rspamd_answers_and_their_bounds():
    many = {f"SYM_{i}": {"score": float(i % 7), "name": f"SYM_{i}"} for i in range(200)}
    many["X" * 500] = {"score": 9.0}
    many["WEIRD"] = {"score": "high"}
    verdict = from_rspamd({"score": 16.5, "required_score": 15, "action": "reject", "symbols": many})
    assert verdict["source"] == "rspamd" and verdict["score"] == 16.5 and verdict["required_score"] == 15.0
    assert len(verdict["symbols"]) == MAX_SYMBOLS
    assert verdict["symbols"][0] == {"name": "X" * MAX_SYMBOL_NAME, "score": 9.0}  # heaviest first
    assert state_of(verdict) == QUARANTINED
    assert state_of(from_rspamd({"score": 7, "action": "add header"})) == FLAGGED
    assert state_of(from_rspamd({"score": 7, "action": "rewrite subject"})) == FLAGGED
    for action in ("no action", "greylist", "soft reject", None, 5):
        assert state_of(from_rspamd({"score": 99, "action": action})) is None  # rspamd's own action decides
    assert from_rspamd({"score": True, "symbols": []})["score"] == 0.0


def test_threshold_values():
    assert check_threshold(5) == 5.0 and check_threshold(-2.5) == -2.5
    for bad in (True, "5", None, float("nan"), 1e6, -1e6):
        with pytest.raises(ValueError):
            check_threshold(bad)
