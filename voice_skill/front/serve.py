"""`voice-skill serve`: always listening, offline, for a start phrase; a session; listening again.

For a speaker nobody can reach: it waits for "first aid" (the dialogue's `wake.start`, or the
`start_phrases` setting), and for a trained wake word beside it when the `wake_word` setting
names one (hearing/wake_word.py), runs a whole spoken session, and waits again. "Help", "call an
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Literal, Protocol, cast, runtime_checkable

import numpy as np

from voice_skill import shutdown
from voice_skill.console import json_text, write_line
from voice_skill.dialogue.calls import CallReader
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import AudioError
from voice_skill.events import Intent, Notice, SessionEvent, Waiting, WakeHeard
from voice_skill.hearing.audio import AudioSource, MicrophoneSource
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.wake_word import WakeWordHeard, WakeWordTap, wake_word_detector
from voice_skill.session_log import record
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""while the microphone is gone, how often to try to open it again (seconds)"""
MIN_CONFIDENCE = 0.3
"""a start phrase heard less surely than this among other words, or a call for help, is not
taken (a false start costs a session)"""
ALONE_CONFIDENCE = 0.05
"""a start phrase that is the whole free text is taken down to this: real "computer"s and
"jarvis"es said close up were heard right at 0.08-0.29. No stretch of 38.6 minutes of real
sound nor 30 of talk was heard as a start phrase alone, at any confidence (wake_probe)"""
NEAR = 0.6
"""free text this close to a start phrase (difflib ratio: "held my back", "backs pasm") is
decoded again, held to the phrases, and a phrase found there is taken at the recognizer's own
bar for a held decode (whatever the free text's confidence: it is another text's). On 38.6
minutes of real sound that is not a start phrase: no false start at 0.6 (decoding every
stretch held to the phrases: 12 an hour, 5-minute sample)"""
NEAR_LOW = 0.4
"""free text less close, down to this ("relaxa", "comm future", "job is" for real takes of
alexa, computer, jarvis in a room), is decoded held to the phrases too, but a start phrase
found there must be surer (NEAR_LOW_LOGPROB): real "forward"s were held onto "first aid" at a
mean log-probability of -0.92, real wake words at -0.2 to -0.8"""
NEAR_LOW_LOGPROB = -0.8
"""the mean token log-probability a held decode must beat for text only NEAR_LOW close"""
CALL_WORDS = 8
"""a call for help heard in a stretch of more words than this ("... so anything gets a decode
help to stop ...", a synthetic talk read aloud) is someone's talk until the person says it was
theirs: asked about first ("I have fallen and I need help" is 7)"""
WAKE_TAIL_S = 1.5
"""after the trained wake word, the stretch of speech it is in is heard on for at most this long
(seconds), so "Alexa, call an ambulance" goes to the emergency instruction; then a session starts"""


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
    word: tuple[str, ...] = ()
    """the trained wake word's phrase ("alexa"), when one is on: a start too, but "Alexa, help"
    is a call for help"""
    sure_call: float = 0.55
    """a call for help heard less surely than this is asked about first (low_confidence)"""

    @staticmethod
    def of(dialog: Dialog, settings: Settings, wake_word: str = "") -> WakePhrases:
        """The dialogue's (or the settings' start phrases), as word tuples; with the trained
        wake word's phrase ("Alexa") first when one is on, so Whisper hearing it starts too."""
        matcher = IntentMatcher(dialog, settings.emergency_number)
        start = start_phrases(dialog, settings, wake_word)
        return WakePhrases(tuple(tuple(matcher.tokens(p)) for p in start),
                           tuple(tuple(matcher.tokens(p)) for p in dialog.wake.emergency),
                           (*start, *dialog.wake.emergency),
                           ready_message(dialog, settings, wake_word), matcher.calls,
                           tuple(matcher.tokens(wake_word)), settings.low_confidence)

    def kind_of(self, words: list[str]) -> str | None:
        """"start", "emergency" or None for what was heard; a start phrase wins ("help my
        back" starts a session, "help" alone is an emergency, and so is "call 911"), but not
        the wake word's ("Alexa, help" is an emergency)."""
        if any(_contains(words, p) for p in self.start if p and p != self.word):
            return "start"
        if any(_contains(words, p) for p in self.emergency if p):
            return "emergency"
        if self.calls is not None and self.calls.read(words) is not None:
            return "emergency"
        if self.word and _contains(words, self.word):
            return "start"
        return None

    def near_start(self, words: list[str]) -> bool:
        """Whether some run of the words sounds like a start phrase (spelling, not meaning)."""
        return self.nearness(words) >= NEAR

    def nearness(self, words: list[str]) -> float:
        """How much the likeliest run of the words reads like a start phrase (difflib ratio,
        0-1: spelling, not meaning)."""
        best = 0.0
        for phrase in self.start:
            n, target = len(phrase), " ".join(phrase)
            for i in range(max(1, len(words) - n + 1)):
                best = max(best, SequenceMatcher(None, " ".join(words[i:i + n]), target).ratio())
        return best

    def alone(self, words: list[str]) -> bool:
        """Whether the words are a start phrase and nothing else (not the trained wake word's)."""
        return tuple(words) in self.start and tuple(words) != self.word


def start_phrases(dialog: Dialog, settings: Settings, wake_word: str = "") -> tuple[str, ...]:
    """What starts a session: the trained wake word's phrase, if one is on, then the start
    phrases (the setting's, or the dialogue's)."""
    return (*((wake_word,) if wake_word else ()), *(settings.start_phrases or dialog.wake.start))


def ready_message(dialog: Dialog, settings: Settings, wake_word: str = "") -> str:
    """What the speaker says when it starts waiting, naming the start phrase it waits for (the
    setting's, when set), and the trained wake word's phrase when one is on. It is also
    Whisper's context while waiting, and a phrase named there is heard far more surely: 36
    real "alexa" takes with "alexa" set as the phrase, caught close / in a room / in a room
    with noise at 10 dB 91.7 / 66.7 / 36.1 % while the context named "first aid", 100 / 88.9
    / 80.6 % naming "alexa" (docs/benchmarks.md, wake_real)."""
    start = settings.start_phrases or dialog.wake.start
    key = "wake_ready_word" if wake_word and "wake_ready_word" in dialog.messages else "wake_ready"
    return (dialog.messages.get(key, "").replace("{start_phrase}", start[0] if start else "")
            .replace("{wake_word}", wake_word))


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


@runtime_checkable
class HeldDecoder(Protocol):
    """A recognizer that can decode held to phrases and say how sure it is (Whisper)."""

    def held_to(self, audio: np.ndarray, phrases: Sequence[str], hint: str = "") -> tuple[str, float]:
        ...


def wake_of(audio: np.ndarray, recognizer: Recognizer, phrases: WakePhrases,
            matcher: IntentMatcher) -> WakeHeard | None:
    """What one stretch of speech heard while waiting means: a start, a call for help, or
    nothing. Free text first, with the ready message as context, so a phrase is never forced
    onto noise or other talk; text that sounds like a start phrase but is not one is decoded
    again held to the phrases (Whisper takes that only when it is fairly sure: NEAR,
    NEAR_LOW). A start phrase heard alone needs less confidence than one among other words
    (ALONE_CONFIDENCE); a call for help always needs MIN_CONFIDENCE."""
    u = recognizer.recognize(audio, None, phrases.hint)
    words = list(matcher.tokens(u.text))
    kind = phrases.kind_of(words)
    floor = ALONE_CONFIDENCE if kind == "start" and phrases.alone(words) else MIN_CONFIDENCE
    near = phrases.nearness(words) if kind is None and words else 0.0
    if near >= NEAR:
        u = recognizer.recognize(audio, phrases.texts, phrases.hint)
        words = list(matcher.tokens(u.text))
        kind = phrases.kind_of(words)
        floor = 0.0 if kind == "start" else MIN_CONFIDENCE  # held: the recognizer's own bar
    elif near >= NEAR_LOW and isinstance(recognizer, HeldDecoder):
        held, logprob = recognizer.held_to(audio, phrases.texts, phrases.hint)
        if held and logprob > NEAR_LOW_LOGPROB and phrases.kind_of(
                list(matcher.tokens(held))) == "start":
            return WakeHeard("start", held, round(u.confidence, 3))
    if kind is None or u.confidence < floor:
        if u.text:
            log.info("heard while waiting (not a start phrase): %r", u.text)
        return None
    sure = kind != "emergency" or (u.confidence >= phrases.sure_call
                                   and len(words) <= CALL_WORDS)
    return WakeHeard(cast(Literal["start", "emergency"], kind), u.text, round(u.confidence, 3),
                     sure=sure)


def wake_in(audio: np.ndarray | None, word: WakeWordHeard | None, recognizer: Recognizer,
            phrases: WakePhrases, matcher: IntentMatcher) -> WakeHeard | None:
    """What one stretch of listening means: a stretch of speech (wake_of), and the trained
    wake word if it was heard in it. Either one starts a session; a call for help in the
    stretch the wake word was heard in ("Alexa, help") is an emergency."""
    heard = wake_of(audio, recognizer, phrases, matcher) if audio is not None else None
    if word is not None and (heard is None or heard.kind != "emergency"):
        return WakeHeard("start", word.phrase, round(word.probability, 3), "wake word")
    return heard


def next_wake(source: AudioSource, endpointer: Endpointer, recognizer: Recognizer,
              phrases: WakePhrases, matcher: IntentMatcher) -> WakeHeard | None:
    """One stretch of listening (to a WakeWordTap when a trained wake word is on), and what it
    means (wake_in), or None."""
    segment = endpointer.listen(source, math.inf)
    word = source.take() if isinstance(source, WakeWordTap) else None
    return wake_in(segment.audio if segment is not None else None, word, recognizer, phrases,
                   matcher)


def wait_for_wake(source: AudioSource, endpointer: Endpointer, recognizer: Recognizer,
                  phrases: WakePhrases, matcher: IntentMatcher,
                  sink: Callable[[SessionEvent], None]) -> WakeHeard:
    """Listen until a start or emergency phrase (or the trained wake word) is heard. Raises
    AudioError when the microphone fails."""
    while True:
        if (heard := next_wake(source, endpointer, recognizer, phrases, matcher)) is not None:
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
    detector = wake_word_detector(settings.wake_word, announce,
                                  cutoff=settings.wake_word_cutoff)
    word = detector.phrase if detector is not None else ""
    phrases = WakePhrases.of(dialog, settings, word)
    matcher = IntentMatcher(dialog, settings.emergency_number)
    endpointer = Endpointer(settings)
    mic = open_microphone(settings, announce)
    listened: AudioSource = (WakeWordTap(mic, detector, WAKE_TAIL_S) if detector is not None
                             else mic)
    if ready := ready_message(dialog, settings, word):
        speaker = Pyttsx3Speaker(settings, stream=sys.stderr if json_out else io.StringIO())
        speaker.say(ready)
        speaker.close()
    done = 0
    try:
        while sessions is None or done < sessions:
            sink(Waiting(start_phrases(dialog, settings, word)))
            listened.flush()  # the trained wake word starts afresh too
            try:
                heard = wait_for_wake(listened, endpointer, recognizer, phrases, matcher, sink)
            except AudioError as exc:
                reopen(mic, str(exc), announce)
                continue
            first = (Intent(dialog.wake.emergency_intent, confidence=heard.confidence,
                            text=heard.text) if heard.kind == "emergency" else None)
            run_session(settings, text=False, json_out=json_out, first=first,
                        ask_first=not heard.sure, mic=mic)
            done += 1
            if shutdown.received():  # SIGTERM / SIGHUP during the session: it has closed politely
                break
    except KeyboardInterrupt:
        return 130
    finally:
        mic.close()
    return 0
