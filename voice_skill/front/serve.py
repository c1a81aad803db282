"""`voice-skill serve`: always listening, offline, for a start phrase; a session; listening again.

For a speaker nobody can reach: it waits for "first aid" (the dialogue's `wake.start`, or the
`start_phrases` setting), runs a whole spoken session, and waits again. "Help", "call an
ambulance" or any call for help ("call 911", "ring nine nine nine": the dialogue's `calls`)
heard while it waits start the session in the emergency instruction at once.
A microphone that is unplugged is waited for and opened again; the speaker is opened anew for
every session, so one plugged back in is used.
"""

from __future__ import annotations

import io
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Literal, cast

import numpy as np

from voice_skill import shutdown
from voice_skill.console import json_text, write_line
from voice_skill.dialogue.calls import CallReader
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import AudioError
from voice_skill.events import Intent, Notice, SessionEvent, Waiting, WakeHeard
from voice_skill.hearing.audio import MicrophoneSource
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.session_log import record
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""while the microphone is gone, how often to try to open it again (seconds)"""
MIN_CONFIDENCE = 0.3
"""a start phrase heard less surely than this is not taken (a false start costs a session)"""
NEAR = 0.6
"""free text this close to a start phrase (difflib ratio: "held my back", "backs pasm") is
decoded again, held to the phrases. On 38.6 minutes of real sound that is not a start phrase:
no false start at 0.6 (decoding every stretch held to the phrases: 12 an hour, 5-minute sample)"""


@dataclass(frozen=True)
class WakePhrases:
    """The phrases a waiting speaker reacts to, normalized as the intent matcher does."""

    start: tuple[tuple[str, ...], ...]
    emergency: tuple[tuple[str, ...], ...]
    texts: tuple[str, ...]
    """all of them as written: the recognizer's phrases while waiting"""
    hint: str
    """what the speaker said it waits for (the recognizer's context)"""
    calls: CallReader | None = None
    """reads a call for help in ordinary words ("call 911", "ring nine nine nine")"""

    @staticmethod
    def of(dialog: Dialog, settings: Settings) -> WakePhrases:
        """The dialogue's (or the settings' start phrases), as word tuples."""
        matcher = IntentMatcher(dialog, settings.emergency_number)
        start = settings.start_phrases or dialog.wake.start
        return WakePhrases(tuple(tuple(matcher.tokens(p)) for p in start),
                           tuple(tuple(matcher.tokens(p)) for p in dialog.wake.emergency),
                           (*start, *dialog.wake.emergency), dialog.messages.get("wake_ready", ""),
                           matcher.calls)

    def kind_of(self, words: list[str]) -> str | None:
        """"start", "emergency" or None for what was heard; a start phrase wins ("help my
        back" starts a session, "help" alone is an emergency, and so is "call 911")."""
        for kind, phrases in (("start", self.start), ("emergency", self.emergency)):
            if any(_contains(words, p) for p in phrases if p):
                return kind
        if self.calls is not None and self.calls.read(words) is not None:
            return "emergency"
        return None

    def near_start(self, words: list[str]) -> bool:
        """Whether some run of the words sounds like a start phrase (spelling, not meaning)."""
        for phrase in self.start:
            n, target = len(phrase), " ".join(phrase)
            for i in range(max(1, len(words) - n + 1)):
                if SequenceMatcher(None, " ".join(words[i:i + n]), target).ratio() >= NEAR:
                    return True
        return False


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


def wake_of(audio: np.ndarray, recognizer: Recognizer, phrases: WakePhrases,
            matcher: IntentMatcher) -> WakeHeard | None:
    """What one stretch of speech heard while waiting means: a start, a call for help, or
    nothing. Free text first, with the ready message as context, so a phrase is never forced
    onto noise or other talk; text that sounds like a start phrase but is not one is decoded
    again held to the phrases (Whisper takes that only when it is as sure as free text)."""
    u = recognizer.recognize(audio, None, phrases.hint)
    words = list(matcher.tokens(u.text))
    kind = phrases.kind_of(words)
    if kind is None and words and phrases.near_start(words):
        u = recognizer.recognize(audio, phrases.texts, phrases.hint)
        kind = phrases.kind_of(list(matcher.tokens(u.text)))
    if kind is None or u.confidence < MIN_CONFIDENCE:
        if u.text:
            log.info("heard while waiting (not a start phrase): %r", u.text)
        return None
    return WakeHeard(cast(Literal["start", "emergency"], kind), u.text, round(u.confidence, 3))


def wait_for_wake(mic: MicrophoneSource, endpointer: Endpointer, recognizer: Recognizer,
                  phrases: WakePhrases, matcher: IntentMatcher,
                  sink: Callable[[SessionEvent], None]) -> WakeHeard:
    """Listen until a start or emergency phrase is heard. Raises AudioError when the
    microphone fails."""
    while True:
        segment = endpointer.listen(mic, math.inf)
        if segment is not None and (heard := wake_of(segment.audio, recognizer, phrases,
                                                     matcher)) is not None:
            sink(heard)
            return heard


def open_microphone(settings: Settings, announce: Callable[[str], None]) -> MicrophoneSource:
    """The microphone, waited for as long as it takes (said once, then retried quietly)."""
    told = False
    while True:
        try:
            mic = MicrophoneSource(settings)
        except AudioError as exc:
            if not told:
                announce(f"{exc}. I will keep trying every {RETRY_S:g} seconds.")
                told = True
            time.sleep(RETRY_S)
            continue
        if told:
            announce("The microphone is working again.")
        return mic


def reopen(mic: MicrophoneSource, why: str, announce: Callable[[str], None]) -> None:
    """Get a lost microphone back, however long it takes (said once, then retried quietly)."""
    announce(f"The microphone stopped working: {why}. I will keep trying.")
    while True:
        time.sleep(RETRY_S)
        try:
            mic.reopen()
        except AudioError as exc:
            log.info("microphone still unavailable: %s", exc)
            continue
        announce("The microphone is working again.")
        return


def serve(settings: Settings, json_out: bool, sessions: int | None = None) -> int:
    """Wait for a start phrase, run a session, wait again; `sessions` caps them (tests)."""
    from voice_skill.front.live import run_session
    from voice_skill.hearing.recognizers import guiding_recognizer
    from voice_skill.speaking.tts import Pyttsx3Speaker

    dialog = load_dialog(settings.dialog_path)

    def sink(event: SessionEvent) -> None:
        if json_out:
            write_line(json_text(record(event)))
        elif isinstance(event, Notice):
            write_line(event.text)
        elif isinstance(event, Waiting):
            write_line(f"Waiting for: {', '.join(event.start_phrases)}")

    def announce(message: str) -> None:
        write_line(message, sys.stderr)
        if json_out:
            sink(Notice(message))

    recognizer = guiding_recognizer(settings, announce)
    phrases = WakePhrases.of(dialog, settings)
    matcher = IntentMatcher(dialog, settings.emergency_number)
    endpointer = Endpointer(settings)
    mic = open_microphone(settings, announce)
    if ready := dialog.messages.get("wake_ready"):
        speaker = Pyttsx3Speaker(settings, stream=sys.stderr if json_out else io.StringIO())
        speaker.say(ready)
        speaker.close()
    done = 0
    try:
        while sessions is None or done < sessions:
            sink(Waiting(tuple(settings.start_phrases or dialog.wake.start)))
            mic.flush()
            try:
                heard = wait_for_wake(mic, endpointer, recognizer, phrases, matcher, sink)
            except AudioError as exc:
                reopen(mic, str(exc), announce)
                continue
            first = (Intent(dialog.wake.emergency_intent, confidence=heard.confidence,
                            text=heard.text) if heard.kind == "emergency" else None)
            run_session(settings, text=False, json_out=json_out, first=first, mic=mic)
            done += 1
            if shutdown.received():  # SIGTERM / SIGHUP during the session: it has closed politely
                break
    except KeyboardInterrupt:
        return 130
    finally:
        mic.close()
    return 0
