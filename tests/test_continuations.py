"""More of an answer after a quick end of turn: the same answer stands, a changed one is taken.

The listener here is a script of what was heard and where in the input stream (a test
double for the hearing stage); the session, matcher and dialogue are the real ones.
"""

from __future__ import annotations

from typing import Any

from voice_skill.clock import VirtualClock
from voice_skill.dialog import load_dialog
from voice_skill.events import Utterance
from voice_skill.session import EndOfInput, Heard, Session
from voice_skill.settings import Settings
from voice_skill.tts import NullSpeaker


class Script:
    """Returns the scripted (text, start_s, end_s) answers in order, then ends the input."""

    no_input_timeout_s: float | None = None

    def __init__(self, *answers: tuple[str, float, float]) -> None:
        self.answers = list(answers)

    def listen(self, state: str, phrases: tuple[str, ...], timeout_s: float | None,
               hint: str = "") -> Heard:
        if not self.answers:
            raise EndOfInput
        text, start, end = self.answers.pop(0)
        return Heard(Utterance(text, 0.9), start_s=start, end_s=end)


def run(*answers: tuple[str, float, float]) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    Session(load_dialog(), Settings(log_enabled=False), VirtualClock(), Script(*answers),
            NullSpeaker(), [log.append]).run()
    return log


def intents(log: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(e["state"], e["name"], e.get("value")) for e in log if e["event"] == "intent"]


def test_the_same_answer_again_after_a_short_pause_is_not_an_answer_to_the_next_question() -> None:
    # "yes ... yes" to "can you hear me": the second yes must not answer the bladder question
    log = run(("yes", 1.0, 1.4), ("yes", 1.9, 2.2))
    assert intents(log) == [("opening", "yes", None)]
    assert any(e["event"] == "continuation" and e["state"] == "opening" for e in log)
    assert not any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)


def test_a_changed_answer_after_a_short_pause_replaces_the_first() -> None:
    yes_and_nos = [("yes", 0.0, 0.3)] + [("no", 2.0 * i, 2.0 * i + 0.3) for i in range(1, 11)]
    log = run(*yes_and_nos, ("three", 30.0, 30.3), ("seven", 30.8, 31.1))
    pain = [i for i in intents(log) if i[1] == "pain"]
    assert pain[-1] == ("pain_start", "pain", 7), intents(log)
    assert any(e["event"] == "corrected" for e in log)


def test_speech_after_the_full_end_silence_is_a_new_answer() -> None:
    log = run(("yes", 1.0, 1.4), ("yes", 2.5, 2.8))
    assert ("rf_bladder", "yes", None) in intents(log)
