"""A pain score said twice over or garbled by the recognizer is read as a person would: the
number said most, or asked again; never the largest by default (issue 24)."""

from __future__ import annotations

import pytest
from dialogue_driver import HAPPY_PREFIX, Driver

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher

MATCHER = IntentMatcher(load_dialog())


@pytest.mark.parametrize("text,score", [
    ("four four five four", 4),  # was 5
    ("one two one one", 1),  # was 2
    ("five six five five", 5),  # was 6
    ("seven seven", 7),
    ("6, 6, 6", 6),
])
def test_a_garbled_repeat_takes_the_number_said_most(text: str, score: int) -> None:
    intent = MATCHER.match(text, "pain_start")
    assert intent.name == "pain" and intent.value == score, intent


@pytest.mark.parametrize("text,score", [
    ("six or seven", 7),  # two numbers: the higher, the safer reading of pain
    ("five or six", 6),
    ("somewhere between eight and nine", 9),
    ("maybe a five when i'm still, nine when i move", 9),
    ("about a seven", 7),
    ("it's about a seven", 7),
    ("7 out of 10", 7),
])
def test_what_worked_before_still_does(text: str, score: int) -> None:
    assert MATCHER.match(text, "pain_start").value == score


@pytest.mark.parametrize("text", ["four five six", "four four five five", "two three two three",
                                  "one two three four five"])
def test_a_garble_with_no_clear_majority_is_asked_again(text: str) -> None:
    assert MATCHER.match(text, "pain_start").name == "no_match"
    d = Driver()
    d.run(HAPPY_PREFIX[:-1])
    d.t.replies.clear()
    d.say(text)
    assert d.state == "pain_start" and d.t.keys()[0] == "messages.not_understood", d.t.keys()
    d.say("six")
    assert d.state == "can_move" and d.manager.facts["pain_start"] == 6
