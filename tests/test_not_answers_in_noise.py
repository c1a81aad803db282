"""Words that are not answers stay out, however noisy: a real "go" said across a room with a
household noise at 10 dB (tests/fixtures/room_speech/go_*_noise10db.wav, made by the room
benchmark's simulator) was taken as "no" on a red-flag question; it must be asked again. Real
"no"s in the same noise are still heard, and a real "yes" never becomes a "no"."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.hearing.audio import read_wav
from voice_skill.hearing.recognizers import Recognizer
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import hear_recording
from voice_skill.hearing.whisper_recognizer import WhisperRecognizer
from voice_skill.settings import Settings

ROOM = Path(__file__).parent / "fixtures" / "room_speech"
GO = sorted(ROOM.glob("go_*_noise10db.wav"))
DIALOG = load_dialog()
MATCHER = IntentMatcher(DIALOG)
SETTINGS = Settings(log_enabled=False)
STATE = "rf_bladder"


@pytest.fixture(scope="module")
def whisper() -> WhisperRecognizer:
    return WhisperRecognizer()


def heard_as(whisper: WhisperRecognizer, path: Path) -> str:
    """The intent a red-flag question hears in a room recording (the product's hearing path)."""
    recognizer = cast(Recognizer, whisper)
    judge = TurnJudge(recognizer, MATCHER, SETTINGS)
    heard = hear_recording(read_wav(path), SETTINGS, recognizer, STATE, MATCHER.grammar(STATE),
                           DIALOG.question(STATE), judge)
    u = heard.utterance
    return "nothing" if u is None else MATCHER.match(u.text, STATE, u.confidence).name


def test_the_fixtures_are_there() -> None:
    assert len(GO) == 5


def test_a_noisy_go_on_a_red_flag_is_mostly_asked_again_not_taken_as_no(
        whisper: WhisperRecognizer) -> None:
    # all 5 were taken as an (unsure) "no" before; now an unsure "no" must be heard again
    # without the question, where Whisper hears "go" or nothing. Those heard as a sure "no"
    # (2 with micro-vad's longer turns, 3 with Silero's) are not caught: confirmed as before.
    got = [heard_as(whisper, p) for p in GO]
    assert got.count("no") <= 3, got


def test_real_answers_in_the_same_noise_are_still_heard(whisper: WhisperRecognizer) -> None:
    nos = [heard_as(whisper, p) for p in sorted(ROOM.glob("no_*_room10db.wav"))]
    yeses = [heard_as(whisper, p) for p in sorted(ROOM.glob("yes_*_room10db.wav"))]
    assert nos.count("no") >= 3, nos  # a real "no" asked again costs a re-ask
    assert "no" not in yeses, yeses  # never a real "yes" made a "no"
    assert yeses.count("yes") == len(yeses), yeses
