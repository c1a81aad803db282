"""The trained wake word (the `wake_word` setting): the real model on real recordings, beside
the start phrases in `voice-skill serve`, and a damaged model file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pulse_rig import PulseRig
from test_serve import Serving

from voice_skill.dev.wake_bench import detections
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import ModelError
from voice_skill.front.serve import WakePhrases, ready_message
from voice_skill.hearing.audio import read_wav, silence
from voice_skill.hearing.wake_word import WakeWordDetector, wake_word_detector
from voice_skill.models.wake_words import load_wake_word, models_dir
from voice_skill.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
ALEXA = sorted((FIXTURES / "wake_words" / "alexa").glob("*.wav"))
COMPUTER = sorted((FIXTURES / "wake_words" / "computer").glob("*.wav"))
REAL = FIXTURES / "real_speech"
HELP = FIXTURES / "audio" / "slt" / "clean" / "help.wav"


def not_alexa() -> np.ndarray:
    """Real sound that is not the wake word, strung together: "computer", yes, no, stop, go,
    other words, digits and household noise, 0.5 s of quiet between."""
    files = [*COMPUTER, *(f for label in ("yes", "no", "stop", "go", "other-words", "digits",
                                          "noise")
                          for f in sorted((REAL / label).glob("*.wav"))[:6])]
    return np.concatenate([x for f in files for x in (read_wav(f), silence(0.5))])


def test_the_real_alexa_model_hears_real_people_say_alexa_and_nothing_else() -> None:
    detector = WakeWordDetector(load_wake_word("alexa"))
    assert detector.phrase == "Alexa"
    for take in ALEXA:
        detector.reset()
        heard = detector.hear(read_wav(take))
        assert heard is not None and heard.probability > 0.9, take.name
    detector.reset()
    sound = not_alexa()
    assert len(sound) > 16000 * 60
    fired = [detector.hear(sound[i: i + 480]) for i in range(0, len(sound), 480)]
    assert not any(fired)


def test_it_hears_the_word_in_any_frame_size_the_same() -> None:
    """Frames of 10, 20 or 30 ms (the frame_ms setting) or odd lengths: the same verdict."""
    audio = read_wav(ALEXA[0])
    detector = WakeWordDetector(load_wake_word("alexa"))
    for n in (160, 320, 480, 333):
        detector.reset()
        assert any(detector.hear(audio[i: i + n]) for i in range(0, len(audio), n)), n


def test_every_shipped_wake_word_loads_and_is_checked() -> None:
    for name in ("alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"):
        model = load_wake_word(name)
        assert model.phrase and 0 < model.cutoff < 1 and model.window >= 1
        WakeWordDetector(model)


@pytest.fixture()
def damaged(tmp_path: Path) -> Path:
    """A copy of the models with one byte of alexa.tflite changed."""
    folder = tmp_path / "wake_words"
    shutil.copytree(models_dir(), folder)
    data = bytearray((folder / "alexa.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "alexa.tflite").write_bytes(bytes(data))
    return folder


def test_a_damaged_or_missing_model_file_is_one_clear_line_and_the_phrases_still_work(
        damaged: Path) -> None:
    with pytest.raises(ModelError, match=r"alexa\.tflite: damaged"):
        load_wake_word("alexa", damaged)
    (damaged / "alexa.json").unlink()
    with pytest.raises(ModelError, match=r"alexa\.json: cannot read"):
        load_wake_word("alexa", damaged)
    said: list[str] = []
    assert wake_word_detector("alexa", said.append, damaged) is None
    assert len(said) == 1 and "\n" not in said[0]
    assert said[0].startswith("The wake word 'alexa' is off:")
    assert said[0].endswith("Waiting for the start phrases only.")
    # the speaker waits for its phrases, and names them, as it did before
    dialog = load_dialog()
    phrases = WakePhrases.of(dialog, Settings(wake_word="alexa"), "")
    assert phrases.start[0] == ("first", "aid")
    assert ready_message(dialog, Settings(wake_word="alexa"), "") == (
        "The first-aid guide is ready. Say first aid when you need me.")


def test_the_ready_message_names_the_wake_word_and_the_start_phrase() -> None:
    dialog = load_dialog()
    assert ready_message(dialog, Settings(), "Alexa") == (
        "The first-aid guide is ready. Say Alexa, or first aid, when you need me.")
    phrases = WakePhrases.of(dialog, Settings(), "Alexa")
    assert phrases.kind_of(["alexa"]) == "start"  # Whisper hearing it starts a session too


def heard_while_waiting(audio: np.ndarray, wake_word: str) -> list[tuple[str, str, str]]:
    """(kind, text, by) of every wake in the sound, heard as `serve` waits."""
    from voice_skill.hearing.recognizers import recognizer_for

    dialog, settings = load_dialog(), Settings(log_enabled=False)
    detector = WakeWordDetector(load_wake_word(wake_word)) if wake_word else None
    phrases = WakePhrases.of(dialog, settings, detector.phrase if detector else "")
    found, _, _ = detections(audio, settings, recognizer_for(settings, "whisper"), phrases,
                             IntentMatcher(dialog), detector)
    return [(h.kind, h.text, h.by) for h in found]


@pytest.mark.slow
def test_alexa_then_a_call_for_help_in_one_breath_is_the_emergency() -> None:
    """The wake word does not cut the call for help that follows it off: "Alexa" (a real take,
    its trailing quiet cut at 0.2 s after the word), 0.1 s, then "help"."""
    alexa = read_wav(ALEXA[1])[: round(16000 * 1.36)]
    audio = np.concatenate([silence(0.5), alexa, silence(0.1), read_wav(HELP), silence(0.5)])
    got = heard_while_waiting(audio, "alexa")
    assert got and got[0][0] == "emergency", got


@pytest.mark.slow
def test_the_json_bench_measures_the_wake_word_alone_and_with_the_phrases() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "voice_skill", "bench", "--wake", "--wake-word", "alexa",
         "--positives", str(ALEXA[0].parent), "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["wake_word"] == "alexa" and result["word_alone_pct"] == 100.0
    assert result["caught_pct"] == 100.0


@pytest.mark.audio
@pytest.mark.slow
def test_a_real_alexa_starts_a_session_and_a_real_computer_does_not(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    s = Serving(pulse_rig, tmp_path, "--engine", "whisper", "--sessions", "1",
                "--wake-word", "alexa")
    try:
        waiting = s.wait_for(lambda e: e["event"] == "waiting")
        assert waiting["start_phrases"][:2] == ["Alexa", "first aid"]
        for take in COMPUTER:  # not the wake word: it must start nothing
            s.say(take)
        s.say(ALEXA[1])
        woke = s.wait_for(lambda e: e["event"] == "wake")
        assert (woke["kind"], woke["text"], woke["by"]) == ("start", "Alexa", "wake word")
        s.wait_for(lambda e: e["event"] == "listening" and e["state"] == "opening")
        s.say(FIXTURES / "audio" / "slt" / "clean" / "stop.wav")
        assert s.wait_for(lambda e: e["event"] == "ended")["outcome"] == "stopped"
    finally:
        s.stop()


def test_alexa_help_is_a_call_for_help_and_alexa_help_my_back_a_start() -> None:
    phrases = WakePhrases.of(load_dialog(), Settings(), "Alexa")
    assert phrases.kind_of(["alexa", "help"]) == "emergency"
    assert phrases.kind_of(["alexa", "call", "911"]) == "emergency"
    assert phrases.kind_of(["alexa", "help", "my", "back"]) == "start"
