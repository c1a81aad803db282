"""End of turn: a whole answer ends the turn after a short pause, a beginning waits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_skill.audio import WavSource, read_wav, silence
from voice_skill.dialog import load_dialog
from voice_skill.endpointing import Endpointer
from voice_skill.events import Utterance
from voice_skill.intents import IntentMatcher
from voice_skill.recognizers import recognizer_for
from voice_skill.settings import Settings
from voice_skill.turns import TurnJudge

CLEAN = Path(__file__).parent / "fixtures" / "audio" / "slt" / "clean"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def judge() -> TurnJudge:
    dialog = load_dialog(None)
    matcher = IntentMatcher(dialog)
    return TurnJudge(recognizer_for(SETTINGS, "pocketsphinx"), matcher, SETTINGS)


def needs(judge: TurnJudge, state: str, text: str) -> float:
    judge.start(state, judge.matcher.grammar(state))
    return judge.silence_for(Utterance(text, 0.9))


@pytest.mark.parametrize(("state", "text"), [("rf_bladder", "yes"), ("pain_start", "seven"),
                                             ("pain_start", "about a seven"),
                                             ("opening", "no"), ("rf_bladder", "stop")])
def test_a_whole_answer_needs_only_a_short_pause(judge: TurnJudge, state: str, text: str) -> None:
    assert needs(judge, state, text) == SETTINGS.quick_end_silence_s


def test_a_no_that_may_become_doubt_on_a_red_flag_waits_the_usual_time(judge: TurnJudge) -> None:
    # "no..." may go on to "no idea": doubt must never pass as a no
    assert needs(judge, "rf_bladder", "no") == SETTINGS.end_silence_s


@pytest.mark.parametrize(("state", "text"), [("pain_start", "i would say"),
                                             ("rf_bladder", "no i"), ("rf_bladder", ""),
                                             ("pain_start", "it is about")])
def test_a_beginning_waits_longer(judge: TurnJudge, state: str, text: str) -> None:
    assert needs(judge, state, text) == SETTINGS.patient_end_silence_s > SETTINGS.end_silence_s


def test_a_filler_at_the_end_means_the_person_is_still_thinking(judge: TurnJudge) -> None:
    assert needs(judge, "pain_start", "seven um") == SETTINGS.end_silence_s


def test_yes_ends_the_turn_sooner_than_the_fixed_end_silence(judge: TurnJudge) -> None:
    audio = np.concatenate([silence(0.5), read_wav(CLEAN / "yes.wav"), silence(2.0)])
    judge.start("rf_bladder", judge.matcher.grammar("rf_bladder"))
    quick_source, fixed_source = WavSource(audio), WavSource(audio)
    quick = Endpointer(SETTINGS).listen(quick_source, 5.0, judge.end_silence_s)
    fixed = Endpointer(SETTINGS).listen(fixed_source, 5.0)
    assert quick is not None and fixed is not None
    assert quick_source.position_s <= fixed_source.position_s - 0.4
    assert judge.utterance(quick.audio).text == "yes"  # the decode at the pause, reused
