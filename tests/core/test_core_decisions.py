"""Decision parsing: a wrong decision is much worse than none (None)."""

from __future__ import annotations

import pytest

from multimail_server.core.decisions import match_option, new_text_lines

AR = ["approve", "reject"]
ARC = ["approve", "reject", "approve with changes"]
YN = ["yes", "no"]

GMAIL_QUOTE = "On Mon, Jan 6, 2025 at 10:00 AM Agent <agent@acme.test> wrote:\n> Reply with one of:\n> 1. approve\n> 2. reject\n"
OUTLOOK_QUOTE = ("-----Original Message-----\nFrom: Agent <agent@acme.test>\nSent: Monday, January 6, 2025 10:00\n"
                 "To: Boss <boss@acme.test>\nSubject: Approve?\n\napprove or reject\n")
OUTLOOK_FROM_BLOCK = "From: Agent <agent@acme.test>\nSent: Monday, January 6, 2025 10:00\nSubject: Approve?\n\nreject\n"


@pytest.mark.parametrize("body,options,expected", [
    # The option word itself, any case, with punctuation around it.
    ("approve", AR, "approve"),
    ("reject", AR, "reject"),
    ("Approve", AR, "approve"),
    ("APPROVE!", AR, "approve"),
    ("  approve.  ", AR, "approve"),
    ("*approve*", AR, "approve"),
    ("I approve", AR, "approve"),
    ("Approve, thanks", AR, "approve"),
    ("ok", ["OK", "Cancel"], "OK"),
    ("Option B", ["Option A", "Option B"], "Option B"),
    ("ship it", ["ship it", "hold"], "ship it"),
    ("Approve.", ["Approve.", "Reject."], "Approve."),
    # By number.
    ("1", ARC, "approve"),
    ("2", ARC, "reject"),
    ("3", ARC, "approve with changes"),
    ("2.", ARC, "reject"),
    ("#2", ARC, "reject"),
    ("2)", ARC, "reject"),
    (" 2 ", ARC, "reject"),
    ("２", ARC, "reject"),  # full-width digit
    ("0", ARC, None),
    ("4", ARC, None),
    ("99", ARC, None),
    ("-1", ARC, None),
    ("1 2", ARC, None),
    ("2 or 3", ARC, None),
    ("+1", ARC, None),
    ("option 2", ARC, None),
    ("1", [], None),
    # A number that leads an option's name must agree with it.
    ("2. reject", ARC, "reject"),
    ("#2 reject", ARC, "reject"),
    ("1. approve", ARC, "approve"),
    ("1. reject", ARC, None),
    ("1.reject", ARC, None),
    ("2.reject", ARC, "reject"),
    ("2) reject", ARC, "reject"),
    ("2nd option", ARC, None),
    ("3 reject", ARC, None),
    ("7. reject", ARC, None),
    ("3 more days please", ARC, None),
    ("2 days", ["1 day", "2 days"], "2 days"),
    ("2 days", ["2 days", "1 day"], "2 days"),
    # Options that are numbers: the number and the name must not point at different options.
    ("1", ["3", "2", "1"], None),
    ("3", ["3", "2", "1"], None),
    ("2", ["3", "2", "1"], "2"),
    ("1", ["1", "2"], "1"),
    # Longest containing option wins; separate mentions of two options are unclear.
    ("approve with changes", ARC, "approve with changes"),
    ("Approve, with changes", ARC, "approve with changes"),
    ("approve - with changes", ARC, "approve with changes"),
    ("Approve\u00a0with  changes", ARC, "approve with changes"),
    ("Approve with changes: fix the typo", ARC, "approve with changes"),
    ("approve without changes", ARC, "approve"),
    ("approve or reject?", ARC, None),
    ("reject it, then approve with changes", ARC, None),
    ("approve, approve", ARC, "approve"),
    ("go live", ["go-live", "go"], "go-live"),
    ("go-live", ["go-live", "go"], "go-live"),
    ("go", ["go-live", "go"], "go"),
    ("ship it, don't ship the rest", ["ship", "don't ship"], None),
    # Options that read the same once normalized cannot be told apart by name.
    ("C", ["C++", "C"], None),
    ("C++", ["C++", "C"], None),
    ("yes", ["yes", "Yes"], None),
    # Not the option, only something that starts or ends like it.
    ("approved", AR, None),
    ("approves", AR, None),
    ("disapprove", AR, None),
    ("pre-approve", AR, None),
    ("approve-ish", AR, None),
    ("B", ["Option A", "Option B"], None),
    ("approver", AR, None),
    # Negation, in every spelling.
    ("not approve", AR, None),
    ("do not approve", AR, None),
    ("don't approve", AR, None),
    ("Don’t approve", AR, None),
    ("dont approve", AR, None),
    ("I do NOT approve", AR, None),
    ("can't approve", AR, None),
    ("cannot approve", AR, None),
    ("won't approve", AR, None),
    ("wouldn't approve this", AR, None),
    ("shouldn't approve", AR, None),
    ("never approve", AR, None),
    ("approve? no", AR, None),
    ("approve - NOT", AR, None),
    ("reject, not approve", AR, None),
    ("Reject – never approve this", AR, None),
    ("no problem, approve", AR, None),
    ("nicht approve", AR, None),
    ("yes, not a problem", YN, None),
    ("don't ship", ["ship", "don't ship"], "don't ship"),
    ("Don’t ship", ["ship", "don't ship"], "don't ship"),
    ("ship", ["ship", "don't ship"], "ship"),
    ("not now", ["not now", "later"], "not now"),
    ("not now", ["now", "later"], None),
    # Yes / no: "no" is an option and a negation word.
    ("yes", YN, "yes"),
    ("Yes please", YN, "yes"),
    ("no", YN, "no"),
    ("No.", YN, "no"),
    ("No, thanks", YN, "no"),
    ("no way", YN, "no"),
    ("no, yes", YN, None),
    ("yes and no", YN, None),
    ("No problem", YN, None),
    ("no worries", YN, None),
    ("No objections", YN, None),
    ("I have no idea", YN, None),
    ("nope", YN, None),
    ("I'd rather not", YN, None),
    ("non", ["oui", "non"], "non"),
    # Greetings are skipped; the next line decides.
    ("Hi,\napprove", AR, "approve"),
    ("Hi!\n\nreject", AR, "reject"),
    ("Hi Bob,\nreject", AR, "reject"),
    ("Hello team,\napprove", AR, "approve"),
    ("Dear Bob,\n\napprove", AR, "approve"),
    ("Good morning all,\nreject", AR, "reject"),
    ("Thanks!\napprove", AR, "approve"),
    ("Thank you,\napprove", AR, "approve"),
    ("Hi,\n\n2", ARC, "reject"),
    ("Hi approver,\nreject", AR, "reject"),
    ("hi approve", AR, "approve"),
    ("Hi Bob, approve", AR, "approve"),
    ("Hi,", AR, None),
    ("Thanks", AR, None),
    ("Hey there\napprove", AR, None),  # not a greeting line (no comma): it is the line, and it names nothing
    ("Thanks, but no,\napprove", AR, None),  # a negation is not a greeting
    # Only the first meaningful line counts.
    ("approve\nreject", AR, "approve"),
    ("No.\napprove", AR, None),
    ("\n\n  \napprove", AR, "approve"),
    ("Sent from my iPhone", AR, None),
    # Quoted history is stripped.
    ("reject\n\n" + GMAIL_QUOTE, AR, "reject"),
    ("approve\r\n\r\n" + GMAIL_QUOTE.replace("\n", "\r\n"), AR, "approve"),
    (GMAIL_QUOTE, AR, None),
    ("> approve", AR, None),
    ("> approve\nreject", AR, None),  # bottom-posting is not guessed at
    ("reject\n" + OUTLOOK_QUOTE, AR, "reject"),
    (OUTLOOK_QUOTE, AR, None),
    ("approve\n\n" + OUTLOOK_FROM_BLOCK, AR, "approve"),
    (OUTLOOK_FROM_BLOCK, AR, None),
    ("________________________________\nFrom: Agent\napprove", AR, None),
    ("Am Mo., 6. Jan. 2025 um 10:00 Uhr schrieb Agent <agent@acme.test>:\n> approve", AR, None),
    ("Le lun. 6 janv. 2025 à 10:00, Agent <agent@acme.test> a écrit :\n> approve", AR, None),
    ("El lun, 6 ene 2025, Agent escribió:\n> approve", AR, None),
    ("approve\n--\nBoss\nreject", AR, "approve"),
    ("--\nBoss\napprove", AR, None),
    # Nothing there.
    ("", AR, None),
    (None, AR, None),
    ("   \n\t\n", AR, None),
    ("!!!", AR, None),
    ("approve", [], None),
    ("maybe later", AR, None),
])
def test_match_option(body, options, expected):
    assert match_option(body, options) == expected


OPTION_LISTS = [AR, ARC, YN, ["ship it", "hold", "escalate to legal"], ["Option A", "Option B", "Option C"],
                ["go-live", "rollback"], ["Tuesday", "Wednesday", "Thursday", "Friday"]]


@pytest.mark.parametrize("options", OPTION_LISTS, ids=lambda o: "|".join(o))
def test_each_option_by_name_and_number(options):
    for i, option in enumerate(options, start=1):
        for body in (option, option.upper(), option.title(), f"{option}!", f"  {option}.", f"Hi,\n{option}",
                     f"{option}\n\n{GMAIL_QUOTE}", f"{option}\n{OUTLOOK_QUOTE}"):
            assert match_option(body, options) == option, body
        for body in (str(i), f"{i}.", f"#{i}", f"{i})", f"Hi,\n{i}", f"{i}\n\n{GMAIL_QUOTE}"):
            assert match_option(body, options) == option, body
        assert match_option(f"{i}. {option}", options) == option
    for out_of_range in (0, len(options) + 1, len(options) + 10):
        assert match_option(str(out_of_range), options) is None


@pytest.mark.parametrize("options", OPTION_LISTS, ids=lambda o: "|".join(o))
def test_each_option_negated_is_none(options):
    for option in options:
        for template in ("not {}", "do not {}", "don't {}", "don’t {}", "can't {}", "never {}", "{}? no", "{} - not",
                         "I would NOT {}"):
            if option == "no" and template == "{}? no":
                continue  # "no? no" is a no
            assert match_option(template.format(option), options) is None, template.format(option)


@pytest.mark.parametrize("options", OPTION_LISTS, ids=lambda o: "|".join(o))
def test_two_options_named_is_none(options):
    for a in options:
        for b in options:
            if a == b or a.lower() in b.lower() or b.lower() in a.lower():
                continue
            for template in ("{} or {}", "{}, {}", "{} then {}"):
                assert match_option(template.format(a, b), options) is None, template.format(a, b)


def test_quoted_history_never_decides():
    # Whatever the quote says, it is never taken as the answer.
    for options in OPTION_LISTS:
        for option in options:
            for quote_start in ("On Mon, Agent wrote:", "-----Original Message-----", "From: Agent <a@acme.test>",
                                "> ", "_____"):
                body = f"{quote_start}\n> {option}\n{option}"
                assert match_option(body, options) is None, body


def test_new_text_lines():
    assert new_text_lines("Hi,\n\napprove\n\nOn Mon, Bob wrote:\n> x") == ["Hi,", "approve"]
    assert new_text_lines("a\n-- \nsig") == ["a"]
    assert new_text_lines("") == []
    assert new_text_lines(None) == []
