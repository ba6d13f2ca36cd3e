"""Spam verdicts: the built-in baseline, what an rspamd answer means, and the quarantine states.

A verdict is plain data stored with the message (`messages.spam_verdict`):
`{"source": "rspamd" | "baseline", "score", "action", "symbols": [{"name", "score"}], ...}`.
Two states follow from it (`messages.spam_state`): `quarantined` (rspamd's `reject`, a baseline
score of twice the mailbox's threshold and 5 over it, or a key reported it) and `flagged`
(rspamd's `add header` / `rewrite subject`, or a baseline score at or over the threshold). Both are left out of check_inbox, claims and the
`message.received` webhook by default; `list_spam` and `include_spam` show them.

The baseline scores what the receiver already knows, so it needs no network of its own:

- DMARC `fail` (+4, +2 more when the domain publishes p=reject or p=quarantine): the From domain
  itself says mail that fails is not from it, the strongest forgery signal we have.
- SPF `fail` (+2) / `softfail` (+1): the connecting host is not one the envelope domain allows.
- A DKIM signature that fails to verify (+1): tampered or forged; an absent one scores nothing,
  since much legitimate mail is unsigned.
- No From address, or one that does not parse (+2): real senders always have one.
- A Reply-To on another domain than From while DMARC did not pass (+1): the usual shape of
  phishing that spoofs a sender and collects the answers elsewhere.
- A subject mostly in capitals (+1), and the GTUBE test string (+15: the standard string every
  filter recognises, so a test can produce a spam verdict without rspamd).
- DMARC `pass` (-1): an authenticated sender is much less likely to be spam.

The default threshold (5.0) is above what one missing authentication or one heuristic can reach
alone, so ordinary unsigned mail from small senders is not quarantined by the baseline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FLAGGED = "flagged"
QUARANTINED = "quarantined"
STATES = (FLAGGED, QUARANTINED)

DEFAULT_THRESHOLD = 5.0
MIN_THRESHOLD, MAX_THRESHOLD = -100.0, 1000.0

# Bounds on what is stored of a verdict: rspamd may list hundreds of symbols with options.
MAX_SYMBOLS = 50
MAX_SYMBOL_NAME = 100

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# rspamd's actions (https://rspamd.com/doc/configuration/metrics.html) and the state each means.
RSPAMD_STATES = {"reject": QUARANTINED, "add header": FLAGGED, "rewrite subject": FLAGGED}

# The labels a key can give a message (report_spam / not_spam), kept with the message.
LABEL_SPAM = "spam"
LABEL_NOT_SPAM = "not_spam"


@dataclass(frozen=True)
class MailFacts:
    """What the baseline looks at, already known to the receiver (no I/O here)."""

    authentication: dict[str, Any]
    from_addr: str
    reply_to: list[str]
    subject: str
    text: str


def _domain(address: str) -> str | None:
    match = re.search(r"@([^\s>@]+)>?\s*$", address or "")
    return match.group(1).lower().rstrip(".") if match else None


def baseline(facts: MailFacts) -> dict[str, Any]:
    """The built-in verdict: a score from the rules in the module docstring, with the symbols that
    made it (named like rspamd's, so a reader of either sees the same kind of list)."""
    auth = facts.authentication or {}
    symbols: list[dict[str, Any]] = []

    def add(name: str, score: float) -> None:
        symbols.append({"name": name, "score": score})

    dmarc: dict[str, Any] = auth["dmarc"] if isinstance(auth.get("dmarc"), dict) else {}
    spf: dict[str, Any] = auth["spf"] if isinstance(auth.get("spf"), dict) else {}
    dkim = [d for d in auth.get("dkim") or [] if isinstance(d, dict)]
    if dmarc.get("result") == "fail":
        add("DMARC_FAIL", 4.0)
        if dmarc.get("policy") in ("reject", "quarantine"):
            add("DMARC_POLICY_" + str(dmarc["policy"]).upper(), 2.0)
    elif dmarc.get("result") == "pass":
        add("DMARC_PASS", -1.0)
    if spf.get("result") == "fail":
        add("SPF_FAIL", 2.0)
    elif spf.get("result") == "softfail":
        add("SPF_SOFTFAIL", 1.0)
    if any(d.get("result") == "fail" for d in dkim):
        add("DKIM_INVALID", 1.0)
    from_domain = _domain(facts.from_addr)
    if from_domain is None:
        add("FROM_MISSING", 2.0)
    elif dmarc.get("result") != "pass" and any((_domain(r) or from_domain) != from_domain for r in facts.reply_to):
        add("REPLYTO_OTHER_DOMAIN", 1.0)
    letters = [c for c in facts.subject or "" if c.isalpha()]
    if len(letters) >= 10 and sum(c.isupper() for c in letters) / len(letters) > 0.8:
        add("SUBJ_ALL_CAPS", 1.0)
    if GTUBE in (facts.text or ""):
        add("GTUBE", 15.0)
    return {"source": "baseline", "score": round(sum(s["score"] for s in symbols), 2), "action": None,
            "symbols": symbols}


def from_rspamd(answer: dict[str, Any]) -> dict[str, Any]:
    """The stored verdict from rspamd's /checkv2 answer, bounded (symbols by weight, top MAX_SYMBOLS)."""
    raw_symbols: dict[str, Any] = answer["symbols"] if isinstance(answer.get("symbols"), dict) else {}
    symbols: list[dict[str, Any]] = []
    for name, info in raw_symbols.items():
        score = info.get("score") if isinstance(info, dict) else None
        symbols.append({"name": str(name)[:MAX_SYMBOL_NAME],
                        "score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else 0.0})
    symbols.sort(key=lambda s: (-abs(s["score"]), s["name"]))
    score = answer.get("score")
    required = answer.get("required_score")
    action = answer.get("action")
    return {
        "source": "rspamd",
        "score": round(float(score), 2) if isinstance(score, (int, float)) and not isinstance(score, bool) else 0.0,
        "required_score": float(required) if isinstance(required, (int, float)) and not isinstance(required, bool) else None,
        "action": str(action)[:40] if isinstance(action, str) else None,
        "symbols": symbols[:MAX_SYMBOLS],
    }


def state_of(verdict: dict[str, Any] | None, threshold: float = DEFAULT_THRESHOLD) -> str | None:
    """The quarantine state a verdict puts a new message in, or None (the inbox).

    rspamd's own action decides for an rspamd verdict (its operator tuned its thresholds); the
    baseline's score is compared with the mailbox's threshold. A baseline score of twice the
    threshold and at least 5 over it (so a low threshold does not quarantine on one weak signal),
    or GTUBE, quarantines rather than flags."""
    if not verdict:
        return None
    if verdict.get("source") == "rspamd":
        return RSPAMD_STATES.get(verdict.get("action") or "")
    score = float(verdict.get("score") or 0.0)
    if score >= max(threshold * 2, threshold + 5) or any(s.get("name") == "GTUBE" for s in verdict.get("symbols") or []):
        return QUARANTINED
    return FLAGGED if score >= threshold else None


def check_threshold(value: Any) -> float:
    """A mailbox's spam threshold from a client: a number in a sane range (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError("spam_threshold must be a number.")
    if not MIN_THRESHOLD <= float(value) <= MAX_THRESHOLD:
        raise ValueError(f"spam_threshold must be between {MIN_THRESHOLD:g} and {MAX_THRESHOLD:g}.")
    return float(value)
