"""More of an answer after a quick end of turn: the same answer stands, a changed one is taken.

The listener here is a script of what was heard, the rest of an answer marked as the
hearing stage marks it (a test double for that stage); the session, matcher and dialogue
are the real ones.
"""

from __future__ import annotations

from typing import Any

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.events import Utterance
from voice_skill.hearing.listening import EndOfInput, Heard
from voice_skill.session import Session
from voice_skill.session_log import record
from voice_skill.settings import Settings
from voice_skill.speaking.tts import NullSpeaker


class Script:
    """Returns the scripted (text, start_s, end_s) answers in order, then ends the input."""

    no_input_timeout_s: float | None = None

    def __init__(self, *answers: tuple[str, bool], over_speech: bool = False) -> None:
        self.answers = list(answers)
        self.over_speech = over_speech

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        if not self.answers:
            raise EndOfInput
        text, continues = self.answers.pop(0)
        return Heard(Utterance(text, 0.9), continues=continues, over_speech=self.over_speech)


def run(*answers: tuple[str, bool], over_speech: bool = False) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    Session(load_dialog(), Settings(log_enabled=False), VirtualClock(),
            Script(*answers, over_speech=over_speech), NullSpeaker(), [lambda e: log.append(record(e))]).run()
    return log


def intents(log: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(e["state"], e["name"], e.get("value")) for e in log if e["event"] == "intent"]


def test_the_same_answer_again_after_a_short_pause_is_not_an_answer_to_the_next_question() -> None:
    # "yes ... yes" to "can you hear me": the second yes must not answer the bladder question
    log = run(("yes", False), ("yes yes", True))
    assert intents(log) == [("opening", "yes", None)]
    assert any(e["event"] == "continuation" and e["state"] == "opening" for e in log)
    assert not any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)


def test_a_changed_answer_after_a_short_pause_replaces_the_first() -> None:
    log = run(("yes", False), *[("no", False)] * 10, ("three", False), ("three seven", True))
    pain = [i for i in intents(log) if i[1] == "pain"]
    assert pain[-1] == ("pain_start", "pain", 7), intents(log)
    corrected = next(i for i, e in enumerate(log) if e["event"] == "corrected")
    # the dialogue goes on from the corrected answer: from the pain question, not the opening
    moved = next(e for e in log[corrected:] if e["event"] == "state")
    assert moved["source"] == "pain_start", log[corrected:]


def test_doubt_after_a_red_flag_no_takes_the_no_back() -> None:
    log = run(("yes", False), ("no", False), ("no i'm not sure", True))
    corrected = next(i for i, e in enumerate(log) if e["event"] == "corrected")
    said = [e["key"] for e in log[corrected:] if e["event"] == "said"]
    assert said[0] == "messages.confirm_red_flag", log[corrected:]
    assert intents(log)[-1] == ("rf_bladder", "unsure", None)


def test_a_new_answer_is_taken_in_the_new_state() -> None:
    log = run(("yes", False), ("yes", False))
    assert ("rf_bladder", "yes", None) in intents(log)


def test_words_over_the_skill_that_are_no_answer_are_answered_then_the_question_again() -> None:
    log = run(("the weather is nice", False), over_speech=True)
    said = [e["key"] for e in log if e["event"] == "said"]
    i = said.index("messages.talked_over")
    assert "states.opening.ask" in said[i + 1:], said
