"""Spoken answers: an audio source, endpointing and a recognizer with the state's grammar."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import webrtcvad

from voice_skill.dialogue.intents import NO_MATCH, IntentMatcher
from voice_skill.errors import AudioError
from voice_skill.events import Utterance
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, AudioSource, WavSource, silence
from voice_skill.hearing.endpointing import START_WINDOW_S, Endpointer, Segment
from voice_skill.hearing.front_end import cleaned
from voice_skill.hearing.listening import Heard, Listener, TurnTiming, in_noise
from voice_skill.hearing.noise_subtraction import subtracted
from voice_skill.hearing.second_opinion import (
    LazyVerdict,
    Opinion,
    OpinionRules,
    second_opinion,
)
from voice_skill.hearing.turns import TurnJudge
from voice_skill.settings import Settings

if TYPE_CHECKING:  # the engines load their libraries on import: not needed to type-check
    from voice_skill.hearing.keyword_judge import KeywordJudge, Verdict
    from voice_skill.hearing.recognizers import Recognizer

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""while the microphone is gone, how often to try to open it again (seconds)"""
QUIET_AFTER_SPEECH_S = 0.4
"""once the skill has finished speaking, this much quiet ends listening over it (seconds)"""
LONGEST_AFTER_SPEECH_S = 2.0
"""... and this long ends it whatever is heard (seconds): a word begun as the skill finished
is heard to its end, but steady noise the detector calls voice (a tap, a dishwasher at 10 dB)
never left the quiet it waited for, and the session stood still after its first sentence"""
SAFETY_END_SILENCE_S = 0.25
"""quiet that ends a word heard over the skill when only safety words are listened for: they
are one to three words, to be acted on at once (seconds)"""
SAFETY_LEAD_S, SAFETY_TAIL_S = 0.3, 0.25
"""a safety word is decoded from the echo-cancelled sound this long before its start (a soft
"h") and after its end, ungated (seconds)"""
SNR_SURE_DB, SNR_NONE_DB = 10.0, -5.0
"""an answer heard with its speech this far above the stretch's quietest part (dB,
speech_to_noise_db) keeps its confidence; below, the confidence falls in proportion, to
nothing at SNR_NONE_DB. On the room benchmark's sample (real answers with real noise from
elsewhere in the room) wrong yes/no taken without confirming fell from 5.9 to 3.2 % at 10 dB
and from 3.2 to 0.9 % at 5 dB; right answers confirmed rose from 14 to 29 % and from 21 to
64 %; close-up answers were unchanged (5.1 % confirmed)"""

MIN_FLOOR_FRAMES = 20
"""frames that are not digital silence needed to measure a stretch's floor from them alone (a
shorter sound in silence is its own floor: as quiet as can be told)"""

RESCUE_STOP_WORDS = 3
"""a turn heard again without the room's noise is a stop when its words mean stop in at most
this many ("just stop"; not "don't stop", and not a repeated "goodbye then", which came of the
name "marvin" once)"""

CLEAR_MARGIN = 1.0
"""an unsure lone yes or no is taken when a recognizer that can tell (Whisper: answer_margin)
finds its word this much likelier (log-probability) than any other first word, heard without
the question; else it is asked again. Chosen on half the room benchmark's speakers (real "no",
"go" and other words, quiet room and noise at 10 / 5 dB): 1.0 lost the fewest real "no"s of
0.5-3.0 for the "go"s and other words it keeps out; applied to sure answers too it lost 1 in 10
real "no"s in a quiet room"""


def speech_to_noise_db(audio: np.ndarray) -> float:
    """How far the speech in a stretch stands above its quietest part (dB): the mean power of
    the 10 ms frames within 20 dB of the loudest over that of the quietest tenth. A stretch of
    speech holds some quiet (the endpointer's lead-in and tail), so the quietest tenth is the
    room's noise. Frames of digital silence are no room: the echo canceller's gate silences
    the echo's tail, which begins the stretch after the skill has spoken, and counted as the
    floor it made every answer in a noisy room look 17-100 dB clear (live, 10 dB sessions)."""
    x = audio.astype(np.float64) / 32768.0
    win = PIPELINE_RATE_HZ // 100
    n = len(x) // win
    if n < 2:
        return 0.0
    power = np.mean(x[: n * win].reshape(n, win) ** 2, axis=1)
    loud = power[power >= power.max() / 100.0]
    heard = power[power > 0.0]
    floor = float(np.percentile(heard if len(heard) >= MIN_FLOOR_FRAMES else power, 10))
    return float(10 * np.log10(max(float(loud.mean()), 1e-12) / max(floor, 1e-12)))


def sound_factor(snr_db: float) -> float:
    """The share of a recognizer's confidence an answer keeps at this speech-to-noise ratio."""
    return min(max((snr_db - SNR_NONE_DB) / (SNR_SURE_DB - SNR_NONE_DB), 0.0), 1.0)


class AudioListener:
    """Listens for one utterance per call; says once, in plain words, when the microphone fails.

    While the microphone is gone the session goes on: timers still fire, and answers can be
    typed when a `fallback` listener (a terminal) is given. It retries the device meanwhile.
    """

    def __init__(self, source: AudioSource, endpointer: Endpointer, recognizer: Recognizer,
                 no_input_timeout_s: float, announce: Callable[[str], None],
                 fallback: Listener | None = None, judge: TurnJudge | None = None,
                 barge_in: bool = False, safety_over_speech: bool = False,
                 keyword_judge: KeywordJudge | None = None,
                 opinion_rules: OpinionRules | None = None) -> None:
        self.source, self.endpointer, self.recognizer = source, endpointer, recognizer
        self.keyword_judge = keyword_judge
        """a second opinion on one-word answers (None: Whisper alone)"""
        self.opinion_rules = opinion_rules or OpinionRules()
        self.last_opinion: SecondOpinion | None = None
        """the judge's say on the last answer it heard (for the benchmark and the log)"""
        self.judge_every_answer = False
        """run the judge on every answer, not only where a rule asks (benchmarks)"""
        self.barge_in = barge_in
        """hear the person while the skill speaks (the source must cancel the skill's echo)"""
        self.safety_over_speech = safety_over_speech
        """without barge_in: hear only the safety words while the skill speaks"""
        self._listened_over = False  # the last speech was listened over: nothing to flush
        self.judge = judge
        """decides the end of a turn by what was said; None: a fixed end silence"""
        if judge is not None:  # the answers _still_heard_without_question checks
            judge.unsure = self._unsure
        self.no_input_timeout_s: float | None = no_input_timeout_s
        self.announce, self.fallback = announce, fallback
        self._broken: str | None = None
        self._next_retry = 0.0
        self._last: _Spoken | None = None  # the last stretch of speech heard, for its rest
        self._decodes = 0  # decodes after the end of the turn being heard
        self.last_cleaned: str | None = None
        """what the last turn that answered nothing said without the room's noise (None: not
        heard again; for the benchmark)"""

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        """The next stretch of speech, decoded with the state's phrases (None: free dictation)."""
        if self._broken and not self._retry():
            return self._without_microphone(state, phrases, timeout_s)
        if not (self.barge_in or self._listened_over):
            self.source.flush()  # whatever the microphone caught while the skill spoke
        self._listened_over = False
        judge = self.judge if phrases is not None else None  # free dictation: a fixed end
        at = self.position_s()
        if judge is not None and phrases is not None:
            judge.start(state, phrases, hint)
        try:
            segment = self.endpointer.listen(self.source,
                                             math.inf if timeout_s is None else timeout_s,
                                             judge.end_silence_s if judge else None)
        except AudioError as exc:
            self._lost(str(exc))
            return self._without_microphone(state, phrases, timeout_s)
        if segment is None:
            return Heard()
        return self.hear(segment, at, _Turn(state, phrases, hint))

    def hear(self, segment: Segment, at_s: float, turn: _Turn, over_speech: bool = False) -> Heard:
        """Decode one stretch of speech that began `at_s` into the stream; speech that began
        before the last turn could have ended by the full end silence is the rest of that
        turn ("three ... seven" after a quick end): decoded with it, as it, and marked so,
        unless that loses what it alone says."""
        t0 = time.perf_counter()
        self._decodes = 0
        self.last_cleaned = None
        start, end = at_s + segment.start_s, at_s + segment.end_s
        last = self._last
        # The start of speech is placed once most of a window is voiced, so a soft onset
        # begins up to a window earlier than it says: the fixed end silence would count it.
        joins_within = self.endpointer.settings.end_silence_s + START_WINDOW_S
        if last is not None and 0 <= start - last.end_s < joins_within:
            gap = np.zeros(round((start - last.end_s) * PIPELINE_RATE_HZ), np.int16)
            audio = np.concatenate([last.audio, gap, segment.audio])
            utterance = self._recognize(audio, last.turn.phrases, last.turn.hint)
            # the rest alone, heard as an answer to the same question, so both decodes choose
            # among the same words
            alone = self._recognize(segment.audio, last.turn.phrases, last.turn.hint)
            continues = not self._dropped(alone.text, utterance.text, last.turn.state)
            if continues:
                self._last = _Spoken(audio, end, last.turn)
            else:  # "yes ... stop" decoded whole as "yes": what was just said is its own answer
                utterance = self._decode(segment.audio, turn)
                self._last = _Spoken(segment.audio, end, turn)
        else:
            utterance = self._decode(segment.audio, turn)
            self._last = _Spoken(segment.audio, end, turn)
            continues = False
        # Whatever the engine's certainty, an answer heard through loud noise is not sure: so a
        # misheard answer in a noisy room is confirmed, not trusted.
        snr_db = speech_to_noise_db(self._as_the_room_had_it(segment, at_s, over_speech))
        utterance = dataclasses.replace(utterance, speech_to_noise_db=round(snr_db, 1),
                                        confidence=utterance.confidence * sound_factor(snr_db))
        heard = utterance
        if not continues and not self._still_heard_without_question(utterance, segment.audio, turn):
            utterance = dataclasses.replace(utterance, text="", confidence=0.0)  # asked again
        if not continues:
            utterance = self._second_opinion(heard, utterance, segment.audio, turn)
            if not over_speech:  # (over the skill's speech: its own words' echo)
                utterance = self._stop_under_noise(utterance, segment, turn)
        # decode_s is the time spent after the end was decided (a reused decode costs none)
        utterance = dataclasses.replace(utterance, decode_s=time.perf_counter() - t0)
        timing = TurnTiming(segment.voice_ended_at, segment.quiet_s, segment.judge_wait_s,
                            segment.pauses_judged, self._decodes)
        return Heard(utterance, ended_at=segment.ended_at, over_speech=over_speech,
                     continues=continues, timing=timing)

    def _as_the_room_had_it(self, segment: Segment, at_s: float, over_speech: bool) -> np.ndarray:
        """A stretch as the microphone heard it, its lead-in and tail of quiet included (the
        room's noise is measured there), for how loud the room was: before the echo canceller
        and its gate, which silence the tail of the skill's voice an answer begins in (live at
        10 dB, answers measured 12-56 dB over the noise through them). Over the skill's speech
        the raw sound is its voice: the stretch as heard, then."""
        raw_of = None if over_speech else getattr(self.source, "raw_audio", None)
        if raw_of is None or segment.audio_start_s is None:
            return segment.audio
        start = round((at_s + segment.audio_start_s) * PIPELINE_RATE_HZ)
        raw = raw_of(start, start + len(segment.audio))
        return raw if raw is not None and len(raw) == len(segment.audio) else segment.audio

    def hear_over(self, state: str, phrases: tuple[str, ...], hint: str, say: Callable[[], None],
                  stop: Callable[[], None], acts_on: Callable[[Heard], bool | None],
                  safety: tuple[str, ...] = ()) -> Heard | None:
        """Say something while listening (barge-in); None when barge-in is off or nobody spoke.
        Without barge_in but with safety_over_speech, only the `safety` phrases are listened
        for (decoded held to them), and `acts_on` is asked about those alone."""
        if self._broken or not (self.barge_in or (self.safety_over_speech and safety)):
            self._listened_over = False  # said unheard (the emergency instruction): flushed
            say()
            return None
        self._listened_over = True
        return hear_over(self, state, phrases, hint, say, stop, acts_on,
                         None if self.barge_in else safety)

    def hear_safety(self, segment: Segment, at_s: float, safety: tuple[str, ...]) -> Heard:
        """A stretch heard over the skill, decoded held to the safety phrases from the
        echo-cancelled sound around it, whole (the gate let it through in pieces)."""
        audio = segment.audio
        whole = getattr(self.source, "cancelled_audio", None)
        if whole is not None:
            kept = whole(round((at_s + segment.start_s - SAFETY_LEAD_S) * PIPELINE_RATE_HZ),
                         round((at_s + segment.end_s + SAFETY_TAIL_S) * PIPELINE_RATE_HZ))
            if kept is not None and len(kept):
                audio = kept
        utterance = self.recognizer.recognize(audio, safety, "")
        return Heard(utterance, ended_at=segment.ended_at, over_speech=True)

    def _unsure(self, u: Utterance, audio: np.ndarray) -> bool:
        """Whether an answer heard in `audio` is below the confidence that is taken as it is."""
        confidence = u.confidence * sound_factor(speech_to_noise_db(audio))
        return confidence < self.endpointer.settings.low_confidence

    def _still_heard_without_question(self, u: Utterance, audio: np.ndarray, turn: _Turn) -> bool:
        """Whether an unsure one-word yes or no is heard as the same answer without the
        question. The question ("... say yes or no") makes a recognizer expect its answers: in
        a noisy room a real "go" was heard as "no" a quarter of the time; without the question
        it is heard as "go", "good" or nothing. A real answer is heard again as itself (or,
        if not, is asked again: that costs a re-ask, never a yes made a no)."""
        if (self.judge is None or turn.phrases is None or not turn.hint or not u.text
                or u.confidence >= self.endpointer.settings.low_confidence):
            return True
        matcher = self.judge.matcher
        meant = matcher.match(u.text, turn.state).name
        if meant not in ("yes", "no") or len(matcher.tokens(u.text)) != 1:
            return True
        word = matcher.tokens(u.text)[0]
        margin = self.judge.margin(audio, word)  # scored at the pause, while the turn ended
        margin_of = getattr(self.recognizer, "answer_margin", None)
        if margin is None and margin_of is not None:
            self._decodes += 1
            margin = margin_of(audio, word)
        if margin is not None:  # Whisper: how clearly the word wins, without the question
            clear = float(margin) >= CLEAR_MARGIN
            if not clear:
                log.info("unsure %r (%.2f) wins by %.2f only: asked again", u.text,
                         u.confidence, margin)
            return clear
        alone = self._recognize(audio, turn.phrases, "")
        same = matcher.match(alone.text, turn.state).name == meant
        if not same:
            log.info("unsure %r (%.2f) heard as %r without the question: asked again", u.text,
                     u.confidence, alone.text)
        return same

    def _second_opinion(self, heard: Utterance, taken: Utterance, audio: np.ndarray,
                        turn: _Turn) -> Utterance:
        """The keyword judge's say on a short answer (or none heard): see second_opinion."""
        self.last_opinion = None
        if self.keyword_judge is None or self.judge is None or turn.phrases is None:
            return taken
        matcher = self.judge.matcher
        words = matcher.tokens(heard.text)
        rules = self.opinion_rules
        if len(words) > max(1, rules.stop_words) and not self.judge_every_answer:
            return taken
        t0 = time.perf_counter()
        judge = self.keyword_judge
        verdict = LazyVerdict(lambda: judge.verdict(audio))
        red_flag = matcher.dialog.states[turn.state].red_flag is not None
        heard_meaning = matcher.match(heard.text, turn.state).name if heard.text else ""
        taken_meaning = matcher.match(taken.text, turn.state).name if taken.text else ""
        yes_no = "yes" in matcher.dialog.accepted_intents(turn.state)
        opinion = second_opinion(words, heard_meaning, taken_meaning, red_flag, verdict, rules,
                                 yes_no)
        if self.judge_every_answer:
            verdict.get()
        self.last_opinion = SecondOpinion(heard, taken, words, heard_meaning, taken_meaning,
                                          red_flag, yes_no, verdict.ran, opinion,
                                          time.perf_counter() - t0)
        if opinion.answer is None:
            return taken
        log.info("heard %r, taken as %r: the keyword judge makes it %r (%s)", heard.text,
                 taken.text, opinion.answer, opinion.why)
        return with_opinion(taken, opinion, self.endpointer.settings.low_confidence)

    def _stop_under_noise(self, u: Utterance, segment: Segment, turn: _Turn) -> Utterance:
        """A turn heard through loud noise that answers nothing is heard again with the room's
        noise (as it sounds in the turn's quietest parts) taken out; a "stop" heard then is an
        unsure stop, asked about before it ends anything. On the held-out half of the room
        benchmark's speakers, beside the keyword judge's stop rule: "stop" at 10 dB 77.8 ->
        82.5 %, at 5 dB 57.1 -> 69.8 %; nothing else made a stop at 10 dB, at 5 dB one "go"
        and one "no" of 236 (docs/benchmarks.md). It costs one more decode, on such turns only.
        Never on a red flag, as the judge's stop: a "yes" there must not become a stop; nor in
        the emergency, nor on a question of the session's own ("Did you say stop?", heard with
        other phrases than the state's), where a stop is an answer; and only beside the keyword
        judge (Whisper's path), as it was measured."""
        if (self.judge is None or self.keyword_judge is None or turn.phrases is None
                or not in_noise(u)):
            return u
        matcher = self.judge.matcher
        state = matcher.dialog.states[turn.state]
        if ((u.text and matcher.match(u.text, turn.state).name != NO_MATCH)
                or turn.phrases != matcher.grammar(turn.state) or state.kind == "escalation"):
            return u
        if state.red_flag is not None and not self.judge_every_answer:
            return u
        again = self._recognize(subtracted(segment.audio), turn.phrases, turn.hint)
        self.last_cleaned = again.text
        if state.red_flag is not None or not says_stop(matcher, again.text, turn.state):
            return u
        log.info("heard %r; without the room's noise %r: an unsure stop", u.text, again.text)
        return with_opinion(u, UNSURE_STOP, self.endpointer.settings.low_confidence)

    def _decode(self, audio: np.ndarray, turn: _Turn) -> Utterance:
        """One turn's speech as text: the turn judge's decode at its last pause if it still holds."""
        if self.judge is not None and turn.phrases is not None:
            u = self.judge.utterance(audio)
            self._decodes += self.judge.decoded_again
            return u
        return self._recognize(audio, turn.phrases, turn.hint)

    def _recognize(self, audio: np.ndarray, phrases: tuple[str, ...] | None, hint: str) -> Utterance:
        """The recognizer's decode, counted (the turn's timing says how many came after its end)."""
        self._decodes += 1
        return self.recognizer.recognize(audio, phrases, hint)

    def _dropped(self, alone: str, joined: str, state: str) -> bool:
        """Whether decoding a turn with its rest lost an answer the rest alone was heard to say
        ("yes ... stop" heard whole as "yes"); words that answer nothing ("seven" misheard
        alone as "sarah") are no such loss."""
        if self.judge is None:
            said, whole = _plain_words(alone), _plain_words(joined)
        else:
            matcher = self.judge.matcher
            if matcher.match(alone, state).name == NO_MATCH:
                return False
            said, whole = matcher.tokens(alone), matcher.tokens(joined)
        return bool(said) and not set(said) <= set(whole)

    def position_s(self) -> float:
        """Where the microphone stream is: seconds of audio read (or flushed) so far."""
        return stream_position_s(self.source)

    def _lost(self, why: str) -> None:
        self._broken = why
        self._next_retry = time.monotonic() + RETRY_S
        extra = " You can type your answers meanwhile." if self.fallback else ""
        self.announce(f"The microphone stopped working: {why}. I will keep trying.{extra}")

    def _retry(self) -> bool:
        if time.monotonic() < self._next_retry:
            return False
        reopen = getattr(self.source, "reopen", None)
        try:
            if reopen is None:
                return False
            reopen()
        except AudioError as exc:
            log.info("microphone still unavailable: %s", exc)
            self._next_retry = time.monotonic() + RETRY_S
            return False
        self.announce("The microphone is working again.")
        self._broken = None
        return True

    def _without_microphone(self, state: str, phrases: tuple[str, ...] | None,
                            timeout_s: float | None) -> Heard:
        wait = RETRY_S if timeout_s is None else min(timeout_s, RETRY_S)
        if self.fallback is not None:
            return self.fallback.listen(state, phrases, wait)
        time.sleep(wait)
        return Heard(unavailable=True)


@dataclass(frozen=True)
class SecondOpinion:
    """The keyword judge on one answer: what Whisper heard and the skill took, the judge's
    verdict, what the rules made of them, and what the judge cost (seconds)."""

    heard: Utterance
    taken: Utterance
    words: list[str]
    heard_meaning: str
    taken_meaning: str
    red_flag: bool
    yes_no: bool
    verdict: Verdict | None
    """None: no rule needed the judge (a sure answer), so it was not run"""
    opinion: Opinion
    cost_s: float


UNSURE_STOP = Opinion("stop", confirm=True, why="heard again without the room's noise")
"""what a second hearing that says stop makes of a turn: a stop to be asked about"""


def says_stop(matcher: IntentMatcher, text: str, state: str) -> bool:
    """Whether a turn heard again without the room's noise says stop in `state`, in at most
    RESCUE_STOP_WORDS words."""
    return (len(matcher.tokens(text)) <= RESCUE_STOP_WORDS
            and matcher.match(text, state).name == "stop")


def with_opinion(taken: Utterance, opinion: Opinion, low_confidence: float) -> Utterance:
    """The answer as the second opinion leaves it: unchanged, asked again (""), or the judge's
    word, sure as the judge is (below `low_confidence` when it must be confirmed)."""
    if opinion.answer is None:
        return taken
    if not opinion.answer:
        return dataclasses.replace(taken, text="", confidence=0.0)
    sure = 0.99 if not opinion.confirm else 0.9 * low_confidence
    return dataclasses.replace(taken, text=opinion.answer, confidence=sure)


@dataclass(frozen=True)
class _Turn:
    """What a listen was for: the state's grammar and the question asked."""

    state: str
    phrases: tuple[str, ...] | None
    hint: str


@dataclass(frozen=True)
class _Spoken:
    """The last stretch of speech heard: its audio, where it ended in the stream, its turn."""

    audio: np.ndarray
    end_s: float
    turn: _Turn


class _WhileSpeaking:
    """The microphone while the skill speaks: ends once the speech is over and all is quiet."""

    def __init__(self, source: AudioSource, spoken: threading.Event, vad_mode: int) -> None:
        self.source, self.spoken = source, spoken
        self.frame_samples = source.frame_samples
        self._vad = webrtcvad.Vad(vad_mode)
        self._quiet_n = 0
        self._after_n = 0  # frames read since the speech was over

    @property
    def read_samples(self) -> int:
        """Samples read from the microphone so far."""
        return round(stream_position_s(self.source) * PIPELINE_RATE_HZ)

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame, or None once the skill is done and nobody is speaking (or a word
        begun at its end has had time to end)."""
        if self.spoken.is_set() and (
                self._quiet_n * self.frame_samples >= QUIET_AFTER_SPEECH_S * PIPELINE_RATE_HZ
                or self._after_n * self.frame_samples >= LONGEST_AFTER_SPEECH_S * PIPELINE_RATE_HZ):
            return None
        frame = self.source.read(timeout_s)
        if frame is None:
            return None
        if self.spoken.is_set():
            self._after_n += 1
        voiced = self._vad.is_speech(np.ascontiguousarray(frame).tobytes(), PIPELINE_RATE_HZ)
        self._quiet_n = 0 if voiced else self._quiet_n + 1
        return frame

    def flush(self) -> None:
        """Nothing is discarded while the skill speaks: that is the point."""

    def close(self) -> None:
        """The microphone stays open."""


def hear_over(listener: AudioListener, state: str, phrases: tuple[str, ...], hint: str,
              say: Callable[[], None], stop: Callable[[], None],
              acts_on: Callable[[Heard], bool | None],
              safety: tuple[str, ...] | None = None) -> Heard | None:
    """Speak (`say`) while listening; what the session `acts_on` stops the speech.

    Returns what the person said over the skill, or None when the skill said it all and
    nobody spoke. Words heard that are not acted on do not stop the skill; unless they were
    empty, they are returned once it has finished, so they are answered, never dropped.
    With `safety` (the safety phrases) only those are listened for: anything else heard over
    the skill is left, and each stretch ends after a short quiet, to be acted on at once.
    """
    spoken = threading.Event()

    def speak() -> None:
        try:
            say()
        finally:
            spoken.set()

    talker = threading.Thread(target=speak, name="voice-skill-say", daemon=True)
    talker.start()
    source = _WhileSpeaking(listener.source, spoken, listener.endpointer.settings.vad_aggressiveness)
    judge = None if safety is not None else listener.judge
    if judge is not None:
        judge.start(state, phrases, hint)
    end_silence = ((lambda _: SAFETY_END_SILENCE_S) if safety is not None
                   else judge.end_silence_s if judge else None)
    unclear: Heard | None = None
    try:
        while True:
            at = listener.position_s()
            segment = listener.endpointer.listen(source, math.inf, end_silence)
            if segment is None:
                return unclear
            heard = (listener.hear_safety(segment, at, safety) if safety is not None
                     else listener.hear(segment, at, _Turn(state, phrases, hint), over_speech=True))
            u = heard.utterance
            assert u is not None
            log.info("heard over the skill's speech: %r (%.2f)", u.text, u.confidence)
            verdict = acts_on(heard)
            if verdict:
                stop()
                return heard
            if verdict is False and u.text.strip() and safety is None:
                unclear = heard  # words, but not an answer here: answered after the speech
    except AudioError as exc:
        listener._lost(str(exc))
        return None
    finally:
        talker.join()


def _plain_words(text: str) -> list[str]:
    """Lower-case words without punctuation: "Seven." is "seven"."""
    return [w.strip(".,!?;:'\"") for w in text.lower().split()]


def stream_position_s(source: object) -> float:
    """Seconds of audio a source has delivered (or discarded) so far; 0 if it cannot tell."""
    samples = getattr(source, "read_samples", None)
    if samples is not None:
        return float(samples) / PIPELINE_RATE_HZ
    return float(getattr(source, "position_s", 0.0))


def hear_recording(audio: np.ndarray, settings: Settings, recognizer: Recognizer, state: str,
                   phrases: tuple[str, ...] | None, hint: str = "",
                   judge: TurnJudge | None = None, after: np.ndarray | None = None,
                   endpointer: Endpointer | None = None,
                   listener: Callable[..., AudioListener] | None = None) -> Heard:
    """One recorded answer heard as the microphone hears it: followed by the quiet that ends a
    turn (or by `after`: the room's noise going on), endpointed, decoded with the state's
    phrases (None: free dictation)."""
    if after is None:
        after = silence(max(settings.end_silence_s, settings.patient_end_silence_s) + 0.3)
    source = cleaned(WavSource(np.concatenate([audio, after]), settings), settings)
    make = listener or AudioListener
    return make(source, endpointer or Endpointer(settings), recognizer, math.inf,
                announce=lambda _: None,
                judge=judge if phrases is not None else None).listen(state, phrases, None, hint)
