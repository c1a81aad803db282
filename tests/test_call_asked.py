"""A call for help a waiting speaker heard unsurely, or inside a stretch of someone's talk, is
asked about before the emergency instruction ("Did you ask for help?"); nothing but a "no", or
talk that answers neither twice over, keeps the instruction back.

The listener is a script (a test double for the hearing stage) saying what was heard and how
surely; the session, matcher and dialogue are the real ones."""

from __future__ import annotations

from typing import Any

import pytest
from test_unsure_stop import Script

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import Intent
from voice_skill.session import Session
from voice_skill.session_log import record
from voice_skill.settings import Settings
from voice_skill.speaking.tts import NullSpeaker

TV = "and in tonight's episode the family finally moves to the new house"


def asked_then(answers: list[tuple[str, float]], **settings: Any) -> tuple[int, bool]:
    """How many times the question was asked, and whether the emergency instruction came."""
    log: list[dict[str, Any]] = []
    dialog = load_dialog()
    Session(dialog, Settings(log_enabled=False, **settings), VirtualClock(), Script(answers),
            NullSpeaker(), [lambda e: log.append(record(e))]).run(
        Intent(dialog.wake.emergency_intent, confidence=0.8, text="... help ..."), ask_first=True)
    asked = sum(e["event"] == "said" and e["key"] == "messages.confirm_help" for e in log)
    return asked, any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)


@pytest.mark.parametrize("answers", [
    [("yes", 0.9)],
    [("help", 0.9)],
    [("", 0.0)],  # silence: someone who called may not be able to say more
    [("ah", 0.3)],  # a groan
    [("i cannot move", 0.8)],
    [("no i mean yes help", 0.8)],  # a call in the answer wins over a "no"
    [("it is not the tv help me", 0.8)],
    [("call nine nine nine", 0.8)],  # the call said again, with the set number
    [("Call 911.", 0.77)],  # as Whisper writes a spoken "call nine one one" (kal16, flite)
    [("call in ambulance", 1.0)],  # as Whisper writes slt's "call an ambulance"
    [(TV, 0.8), ("yes", 0.9)],
])
def test_anything_but_a_no_or_talk_gives_the_emergency_instruction(
        answers: list[tuple[str, float]]) -> None:
    asked, escalated = asked_then(answers, emergency_number="999")
    assert escalated, answers
    assert asked == len(answers)  # a clear answer, or silence, is acted on at once


def test_a_no_keeps_the_instruction_back() -> None:
    assert asked_then([("no", 0.9)]) == (1, False)


def test_a_television_talking_on_keeps_the_instruction_back() -> None:
    assert asked_then([(TV, 0.8), (TV, 0.8)]) == (2, False)
