"""When a reply to a decide_email question may decide it, and why not when it may not.

A decision is the human's word that a flow acts on, so a reply decides only when all of this holds:

1. the question went out (status `sent`): nobody outside has seen a held question, and a
   rejection or cancellation wins over anything that arrives for it;
2. the question is still open (no earlier reply or link decided it: the first answer stands);
3. the reply was not written through the API by a hosted mailbox (local delivery): those are
   composed by an API key, an agent, never proven to be a person;
4. it is not an auto-reply (Auto-Submitted, X-Autoreply, Precedence, out-of-office subjects);
5. it comes `From` an addressee of the question (To or Cc);
6. its authentication did not fail: a DMARC `fail` never decides, whatever else it carries;
7. it proves it answers the delivered question: DMARC passes for its From domain, or it was sent
   to the question's private reply address (`mailbox+q_<secret>@domain`, only in the Reply-To of
   the copy that went to the addressees) — unless the operator asked for DMARC alone
   (`require_dmarc`);
8. its new text names exactly one option (else `unclear`).

Every refusal has a machine-readable reason; the thread shows it, and a `decision.unverified`
event carries it, so a flow or a human can see why a reply did not count.
"""

from __future__ import annotations

from dataclasses import dataclass

# Why a reply did not decide, in the order the rules are applied.
QUESTION_NOT_SENT = "question_not_sent"
QUESTION_CLOSED = "question_closed"
AGENT_MAILBOX = "agent_mailbox"
AUTO_REPLY = "auto_reply"
NOT_AN_ADDRESSEE = "not_an_addressee"
DMARC_FAIL = "dmarc_fail"
NO_PROOF = "no_proof"
UNCLEAR = "unclear"

REASONS: dict[str, str] = {
    QUESTION_NOT_SENT: "The question has not gone out (it is held, queued or failed), so nobody could have answered it.",
    QUESTION_CLOSED: "The question was rejected or cancelled, or an earlier answer already decided it.",
    AGENT_MAILBOX: "The reply came from a hosted mailbox through the API: an agent, not a person.",
    AUTO_REPLY: "The reply is an automatic answer (out of office, auto-submitted).",
    NOT_AN_ADDRESSEE: "The reply's From address is not one the question was sent to.",
    DMARC_FAIL: "The reply's sender failed DMARC: its From address is forged or misconfigured.",
    NO_PROOF: "Nothing proves the reply answers the delivered question: DMARC did not pass and it was not "
    "sent to the question's private reply address.",
    UNCLEAR: "The reply does not name exactly one of the options.",
}

# How an accepted answer proved itself.
PROOF_DMARC = "dmarc"
PROOF_REPLY_ADDRESS = "reply_address"
PROOF_LINK = "link"

# Statuses after which a question can never go out: a rejection or cancellation wins.
_CLOSED_STATUSES = frozenset({"rejected", "cancelled"})


@dataclass(frozen=True)
class ReplyFacts:
    """What is known about one inbound reply to one question (all addresses normalized)."""

    question_status: str
    question_decided: bool
    sender: str | None
    addressees: frozenset[str]
    local_delivery: bool
    auto_submitted: bool
    dmarc_result: str | None
    to_reply_address: bool
    require_dmarc: bool = False


@dataclass(frozen=True)
class Verdict:
    """`reason` is None when the reply may decide (then `proof` says how it proved itself); the
    option itself is matched afterwards, and a miss becomes `unclear`."""

    reason: str | None
    proof: str | None = None


def judge_reply(facts: ReplyFacts) -> Verdict:
    """Rules 1–7 of the module docstring, in order; the first that fails names the reason."""
    if facts.question_status in _CLOSED_STATUSES:
        return Verdict(QUESTION_CLOSED)
    if facts.question_status != "sent":
        return Verdict(QUESTION_NOT_SENT)
    if facts.question_decided:
        return Verdict(QUESTION_CLOSED)
    if facts.local_delivery:
        return Verdict(AGENT_MAILBOX)
    if facts.auto_submitted:
        return Verdict(AUTO_REPLY)
    if not facts.sender or facts.sender not in facts.addressees:
        return Verdict(NOT_AN_ADDRESSEE)
    dmarc = (facts.dmarc_result or "").lower()
    if dmarc == "fail":
        return Verdict(DMARC_FAIL)
    if dmarc == "pass":
        return Verdict(None, PROOF_DMARC)
    if facts.to_reply_address and not facts.require_dmarc:
        return Verdict(None, PROOF_REPLY_ADDRESS)
    return Verdict(NO_PROOF)
