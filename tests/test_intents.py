"""The intent matcher: what a person says becomes yes / no / unsure, a pain score or a command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher

DIALOG = load_dialog()
MATCHER = IntentMatcher(DIALOG)
RED_FLAG_STATES = [s.name for s in DIALOG.states.values() if s.red_flag]
DOUBT = ["no idea", "No clue.", "no, I'm not sure", "not that I know of", "I don't think so",
         "no idea really", "nope, no idea", "I dunno", "yes maybe", "probably not",
         "I have no clue", "not as far as I know", "I guess so", "no... I don't know"]
NO = ["no", "nope", "No.", "no I haven't", "not at all", "no never", "I haven't", "none"]


@pytest.mark.parametrize("state", RED_FLAG_STATES)
@pytest.mark.parametrize("text", DOUBT)
def test_an_answer_with_doubt_is_unsure_never_no_on_a_red_flag(state: str, text: str) -> None:
    assert MATCHER.match(text, state).name == "unsure"


@pytest.mark.parametrize("text", NO)
def test_a_plain_no_is_still_no(text: str) -> None:
    assert MATCHER.match(text, "rf_bladder").name == "no"


WORDS = sorted({w for phrases in DIALOG.intents.values() for p in phrases for w in p.split()})
DOUBT_PHRASES = DIALOG.intents["unsure"]


@given(st.lists(st.sampled_from(WORDS), max_size=4), st.sampled_from(DOUBT_PHRASES),
       st.lists(st.sampled_from(WORDS), max_size=4), st.sampled_from(RED_FLAG_STATES))
def test_doubt_anywhere_in_an_answer_never_passes_a_red_flag_as_no(
        before: list[str], doubt: str, after: list[str], state: str) -> None:
    text = " ".join([*before, doubt, *after])
    assert MATCHER.match(text, state).name != "no", text


def test_a_pain_score_is_read_from_digits_and_words() -> None:
    assert MATCHER.match("8.", "pain_start").value == 8
    assert MATCHER.match("about a seven", "pain_start").value == 7


@pytest.mark.parametrize("text,state,name", [
    ("okay", "can_move", "yes"), ("ok", "can_move", "yes"), ("ready", "rf_bladder", "no_match"),
    ("ready", "onset", "no_match"), ("done", "ice_ask", "no_match"),
    ("next", "can_move", "no_match")])
def test_only_an_agreeing_ready_word_answers_a_yes_or_no_question(
        text: str, state: str, name: str) -> None:
    """"okay" to "can you move?" agrees; "ready" to "did it start in the last three days?" says
    nothing about when (it took the session to ice before)."""
    assert MATCHER.match(text, state).name == name


@pytest.mark.parametrize("text,name", [
    ("yesterday", "yes"), ("about a week ago", "no"), ("last night when i bent over", "yes"),
    ("it started on monday", "no_match"), ("the weather is nice today", "no_match")])
def test_a_time_answers_the_onset_question_only_when_it_says_when_it_started(
        text: str, name: str) -> None:
    assert MATCHER.match(text, "onset").name == name


@pytest.mark.parametrize("text,name", [
    ("just today", "no"), ("no it only started today", "no"),
    ("the weather is nice today", "no_match")])
def test_a_time_said_in_passing_denies_no_two_weeks_of_spasms(text: str, name: str) -> None:
    """On a red flag too: "today" in a remark about the weather passed the flag as a no."""
    assert MATCHER.match(text, "rf_duration").name == name
