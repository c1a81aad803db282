"""The waiting speaker's path (`voice-skill serve`): what it says it waits for, and what it
takes as a start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.events import Utterance
from voice_skill.front.serve import WakePhrases, ready_message, wake_of
from voice_skill.settings import Settings

DIALOG = Path(__file__).resolve().parents[1] / "dialogs" / "back_spasm.yaml"
REAL = Path(__file__).resolve().parent / "fixtures" / "real_speech"


def test_the_ready_message_names_the_start_phrase_set_in_the_settings() -> None:
    dialog = load_dialog(DIALOG)
    assert "Say first aid when" in ready_message(dialog, Settings())
    mine = Settings(start_phrases=("computer", "hey guide"))
    assert "Say computer when" in ready_message(dialog, mine)
    assert "first aid" not in ready_message(dialog, mine)
    # and it is what the recognizer expects while waiting
    assert WakePhrases.of(dialog, mine).hint == ready_message(dialog, mine)


class Heard:
    """A recognizer double for the waiting path alone: free text at a confidence, and what a
    decode held to the phrases writes, with its mean log-probability."""

    name = "double"

    def __init__(self, text: str, confidence: float, held: str = "", logprob: float = 0.0) -> None:
        self.text, self.confidence, self.held, self.logprob = text, confidence, held, logprob

    def recognize(self, audio: object, phrases: object, hint: str = "") -> Utterance:
        if phrases and self.held and self.logprob > -1.0:  # Whisper's own bar for a held decode
            return Utterance(self.held, min(self.confidence or 0.5, 0.5))
        return Utterance(self.text, self.confidence)

    def held_to(self, audio: object, phrases: object, hint: str = "") -> tuple[str, float]:
        return (self.held, self.logprob)


def wake(heard: Heard, start: tuple[str, ...] = ()) -> tuple[str, str] | None:
    dialog = load_dialog(DIALOG)
    settings = Settings(log_enabled=False)
    if start:
        settings = settings.replace(start_phrases=start)
    got = wake_of(np.zeros(16000, np.int16), heard, WakePhrases.of(dialog, settings),  # type: ignore[arg-type]
                  IntentMatcher(dialog))
    return None if got is None else (got.kind, got.text)


def test_a_start_phrase_heard_alone_but_unsurely_still_starts() -> None:
    """Real "computer"s said close up were written right at confidence 0.08-0.29 and ignored."""
    assert wake(Heard("computer", 0.21), ("computer",)) == ("start", "computer")
    assert wake(Heard("first aid", 0.1)) == ("start", "first aid")
    # among other words, or a call for help, it must still be heard surely
    assert wake(Heard("the first aid kit", 0.1)) is None
    assert wake(Heard("help", 0.1)) is None and wake(Heard("help", 0.6)) == ("emergency", "help")
    assert wake(Heard("computer", 0.02), ("computer",)) is None


def test_a_phrase_found_by_the_held_decode_starts_whatever_the_free_texts_confidence() -> None:
    """A real "jarvis" heard as "javis" at 0.285: held to the phrases it is "jarvis" (log-prob
    -0.88, past Whisper's bar); the 0.285 is the free text's, not the phrase's."""
    assert wake(Heard("javis", 0.285, "jarvis", -0.88), ("jarvis",)) == ("start", "jarvis")
    assert wake(Heard("javis", 0.285, "", 0.0), ("jarvis",)) is None


def test_text_a_little_like_a_phrase_starts_only_when_the_held_decode_is_sure() -> None:
    """Real takes heard as "relaxa", "job is", "comm future" in a room were lost; a real
    "forward" held onto "first aid" at -0.92 must stay no start."""
    assert wake(Heard("job is", 1.0, "jarvis", -0.63), ("jarvis",)) == ("start", "jarvis")
    assert wake(Heard("job is", 1.0, "jarvis", -0.85), ("jarvis",)) is None
    assert wake(Heard("forward", 1.0, "first aid", -0.92)) is None
    assert wake(Heard("the weather today", 1.0, "first aid", -0.3)) is None  # not like it at all
    # a call for help is never made of text that merely looks like a phrase
    assert wake(Heard("job is", 1.0, "help", -0.2), ("jarvis",)) is None


@pytest.mark.slow
def test_real_words_like_a_start_phrase_do_not_start_it() -> None:
    """Real people saying "forward", "backward", "bird" and "stop" (held onto "first aid" at
    -0.6 to -0.9 and -1.5) through real Whisper: none starts a session or calls for help."""
    from voice_skill.hearing.audio import read_wav
    from voice_skill.hearing.recognizers import recognizer_for

    dialog, settings = load_dialog(DIALOG), Settings(log_enabled=False)
    recognizer = recognizer_for(settings, "whisper")
    phrases, matcher = WakePhrases.of(dialog, settings), IntentMatcher(dialog)
    files = [f for word in ("forward", "backward", "bird")
             for f in sorted((REAL / "other-words").glob(f"{word}_*.wav"))]
    files += sorted((REAL / "stop").glob("*.wav"))[:8]
    heard = {f.name: wake_of(read_wav(f), recognizer, phrases, matcher) for f in files}
    assert not any(heard.values()), heard
