"""A "stop" heard unsurely is asked about before it ends a session.

Live at 10 dB household noise, a "stop" made out of the noise during the breathing exercise
ended a session unasked. The listener here is a script (a test double for the hearing stage)
that says what was heard and how surely; the session, matcher and dialogue are the real ones.
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
    """Each answer as (words, how sure); "" is silence."""

    no_input_timeout_s: float | None = None

    def __init__(self, answers: list[tuple[str, float]]) -> None:
        self.answers = list(answers)

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        if not self.answers:
            raise EndOfInput
        text, sure = self.answers.pop(0)
        return Heard(Utterance(text, sure) if text else None)


def run(answers: list[tuple[str, float]]) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    Session(load_dialog(), Settings(log_enabled=False), VirtualClock(), Script(answers),
            NullSpeaker(), [lambda e: log.append(record(e))]).run()
    return log


def said(log: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in log if e["event"] == "said"]


def stopped(log: list[dict[str, Any]]) -> bool:
    return any(e["event"] == "ended" and e["outcome"] == "stopped" for e in log)


def test_an_unsure_stop_is_asked_about_and_no_carries_on_with_the_question() -> None:
    log = run([("stop", 0.3), ("no", 0.9), ("yes", 0.9)])
    keys = said(log)
    asked = keys.index("messages.confirm_stop")
    assert keys[asked + 1] == "messages.carry_on"
    assert keys[asked + 2] == keys[asked - 1]  # the question again
    assert "states.rf_bladder.ask" in keys[asked:]  # then on to the next question
    asked_next = next(i for i, e in enumerate(log) if e.get("key") == "states.rf_bladder.ask")
    assert not stopped(log[:asked_next])  # (it ends when the script runs out of answers)


def test_an_unsure_stop_confirmed_ends_the_session() -> None:
    log = run([("stop", 0.3), ("yes", 0.9)])
    assert "messages.confirm_stop" in said(log)
    assert stopped(log)


def test_a_sure_stop_ends_the_session_unasked() -> None:
    log = run([("stop", 0.9)])
    assert "messages.confirm_stop" not in said(log)
    assert stopped(log)


def test_help_said_when_asked_about_a_stop_gives_the_emergency_instruction() -> None:
    """Asked "Did you say stop?", the person calls for help: before, that counted as "yes" and
    the session said goodbye; a call for help must never be lost."""
    log = run([("stop", 0.3), ("help", 0.9)])
    assert "messages.confirm_stop" in said(log)
    assert any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)
    assert not stopped(log)


def test_help_said_when_asked_about_a_stop_in_the_emergency_repeats_the_instruction() -> None:
    """In the emergency itself: an unsure stop asked about, "call 911" in answer: the
    emergency instruction again, not the end of it."""
    log = run([("help", 0.9), ("stop", 0.3), ("Call 911.", 0.8)])
    keys = said(log)
    asked = keys.index("messages.confirm_stop")
    assert "states.emergency.say.0" in keys[asked:]
    assert "messages.emergency_ended" not in keys[:asked + 2]
