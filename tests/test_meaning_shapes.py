"""The shapes of an answer, before its words: a "no" taken back, a symptom told by its effect,
a time for "when", a pain word with a negation, and the reader saying why (issue 25)."""

from __future__ import annotations

from dialogue_driver import RED_FLAGS_NO, Driver
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_own_words import outcome_of

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher

DIALOG = load_dialog()
MATCHER = IntentMatcher(DIALOG)
FLAGS = [name for name, s in DIALOG.states.items() if s.red_flag]
EMERGENCY_FLAGS = [n for n in FLAGS if DIALOG.states[n].red_flag.level == "emergency"]  # type: ignore[union-attr]

NO = st.sampled_from(["no", "No.", "nope", "nah", "no no", "No,"])
GAP = st.sampled_from([", ", "... ", " ", ". ", " - "])
HEDGE = st.sampled_from([h for h in DIALOG.meaning.hedges])
# Words of a statement that something happened, none of them a negation, a "fine", a denial
# or a plain answer: whatever they say, they do not deny the flag.
EVENT_WORDS = ["i", "did", "go", "a", "bit", "it", "happened", "once", "last", "night", "this",
               "morning", "there", "was", "some", "when", "i", "coughed", "got", "up", "little",
               "had", "then", "again", "in", "the", "bed", "my", "came", "out", "with", "that",
               "when", "stood", "sat", "down", "felt", "something", "weird", "earlier", "too"]
STATEMENT = st.lists(st.sampled_from(EVENT_WORDS), min_size=1, max_size=9).map(" ".join)


def fresh_at(flag: str) -> Driver:
    d = Driver()
    d.run(["yes", *RED_FLAGS_NO[:list(DIALOG.states).index(flag) - 1]])
    assert d.state == flag
    return d


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FLAGS), NO, GAP, HEDGE, GAP, STATEMENT)
def test_a_no_taken_back_by_a_hedge_and_a_statement_never_passes_as_no(
        flag: str, no: str, gap: str, hedge: str, gap2: str, statement: str) -> None:
    rf = DIALOG.states[flag].red_flag
    assert rf is not None
    # a statement that is itself this flag's "no" ("earlier" to "more than two weeks?") is one
    assume(not any(f" {d} " in f" {statement} " for d in rf.denials))
    text = f"{no}{gap}{hedge}{gap2}{statement}"
    assert outcome_of(flag, text) != "no", (text, MATCHER.match(text, flag).why)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EMERGENCY_FLAGS), st.data(),
       st.sampled_from(["", "i think ", "last night ", "this morning ", "well ", "and "]),
       st.sampled_from(["", " this morning", " a bit", " again", " last night", " earlier"]))
def test_a_symptom_told_by_its_effect_never_passes_as_no(
        flag: str, data: st.DataObject, before: str, after: str) -> None:
    rf = DIALOG.states[flag].red_flag
    assert rf is not None and rf.effects, f"{flag} has no effects in the dialogue"
    effect = data.draw(st.sampled_from(rf.effects))
    text = f"{before}{effect}{after}"
    assert outcome_of(flag, text) != "no", (text, MATCHER.match(text, flag).why)


@given(st.sampled_from(FLAGS), st.sampled_from(["no", "No.", "nope", "No!", "nah", "no no",
                                                 "no, never", "no I haven't", "not at all"]))
@settings(max_examples=100, deadline=None)
def test_a_plain_no_still_moves_on_at_once(flag: str, no: str) -> None:
    d = fresh_at(flag)
    d.say(no)
    assert d.state == DIALOG.states[flag].on["no"], d.t.keys()[-3:]
    assert "messages.check_meaning" not in d.t.keys()


def test_a_taken_back_no_is_confirmed_in_plain_words() -> None:
    d = fresh_at("rf_bladder")
    d.say("no... well, I did go a bit in the night")
    assert d.t.keys()[-2:] == ["messages.check_meaning", "states.rf_bladder.red_flag.confirm"]
    d.say("yes")
    assert d.state == "emergency"


def test_never_been_this_weak_is_weakness_not_a_no() -> None:
    """Issue 23: a "never" that compares is no denial."""
    d = fresh_at("rf_legs")
    d.say("never been this weak")
    assert d.state == "emergency" and d.t.escalations[0].reason == "weak or numb legs"


def test_the_reading_says_which_clause_decided_and_how() -> None:
    why = MATCHER.match("no, well, I did go a bit", "rf_bladder").why
    assert any("taken back" in w and "'i did go a bit'" in w for w in why), why
    why = MATCHER.match("it just came out before I knew", "rf_bladder").why
    assert any("stated (effect)" in w for w in why), why
    assert why[-1] == "rf_bladder read as yes: stated"


def onset(text: str) -> tuple[str, bool]:
    i = MATCHER.match(text, "onset")
    return i.name, i.understood


def test_the_onset_question_understands_times() -> None:
    for within in ("yesterday", "this morning", "two days ago", "a couple of days ago",
                   "it started last night", "about 3 days ago", "a few hours ago"):
        assert onset(within) == ("yes", True), within
    for before in ("last week", "about a week ago", "a couple of weeks", "it's been a month",
                   "no, it's been a week", "ten days ago", "for ages"):
        assert onset(before) == ("no", True), before
    for unclear in ("it started on monday", "a few days ago", "the other day",
                    "yes, last week"):
        assert onset(unclear) == ("no_match", False), unclear


def test_an_unplaced_time_is_asked_about_in_plain_words() -> None:
    d = Driver()
    d.run(["yes", *RED_FLAGS_NO, "five", "no"])
    assert d.state == "onset"
    d.say("it started on monday")
    assert d.t.replies[-1].text == "Was that within the last three days? Say yes or no."
    d.say("yes")
    assert d.state == "ice_ask"


def test_pain_in_words_with_a_negation() -> None:
    def pain(text: str) -> int | None:
        i = MATCHER.match(text, "pain_start")
        return i.value if i.name == "pain" else None

    assert pain("not too bad") in range(1, 7)
    assert pain("it's not terrible") in range(1, 7)
    assert pain("worst ever") == 10 and pain("the worst it's been") == 10
    assert pain("really bad") == 9 and pain("unbearable") == 10 and pain("six or seven") == 7


def test_everyday_words_for_the_position_and_for_ready() -> None:
    assert MATCHER.match("sideways", "choose_position").name == "side"
    assert MATCHER.match("flat on my back", "choose_position").name == "back"
    assert MATCHER.match("got it", "back_1").name == "ready"
    assert MATCHER.match("got it", "ice_prepare").name == "ready"
