"""The skill's own voice taken out of the microphone signal, so it can hear a person over it.

A real speaker is heard by the microphone. Speex's acoustic echo canceller (libspeexdsp, the
Debian/Raspberry Pi OS package libspeexdsp1, through ctypes) subtracts what the skill plays;
what is left is gated against the echo expected from the playback, so a residue of the skill's
voice is never taken for the person. Chosen by measurement against the other maintained
options (docs/benchmarks.md): WebRTC's AEC3 (livekit) removed more echo but damaged the
person's speech under it; the Cython speexdsp bindings need a compiler at install.

Where the sound server cancels the echo itself (`echo_cancel = "server"`: PulseAudio's or
PipeWire's module-echo-cancel with webrtc), the microphone already has the skill's voice taken
out, aligned by the server's own playback clock: no canceller runs here, and only the gate
against the server's usual residue stays (it leaks at moments, e.g. when a reply starts).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from voice_skill.errors import AudioError
from voice_skill.hearing.audio import PIPELINE_RATE_HZ

log = logging.getLogger(__name__)

TAIL_S = 0.256
"""echo the filter can model after the bulk delay: a room's reverberation (seconds)"""
DEFAULT_DELAY_S = 0.2
"""playback to capture delay assumed until it has been measured (seconds)"""
MAX_DELAY_S = 0.5
"""longest playback to capture delay looked for (seconds)"""
JITTER_S = 0.03
"""how far a reply's measured delay may be off (seconds)"""
MEASURE_S = 0.4
"""a reply's delay is measured on this much of its first sound (seconds)"""
HOLD_S = 1.2
"""the most the microphone is held back at the start of a reply to measure it (seconds)"""
PLACED_SLACK = 0
"""samples a reply's measured delay may differ from where its stream placed it before it is
placed anew: none (a separate microphone's clock drifts a sample or two between replies, and
a canceller that learned the echo to the sample lets a quiet person's gate through when it
is two off; through the rig every reply measured the same, to the sample)"""
DRIFT_S = 0.15
"""how far the echo may move within a reply, checked every second (seconds)"""
GATE_MARGIN_DB = 3.0
"""what is left must be within this of the echo the playback would make, to be the person"""
FLOOR_RMS = 60.0
"""below this level (int16) nothing is speech"""
MAX_ECHO_GAIN_DB = 12.0
"""the echo is never taken to be louder than this over what was played"""
QUIET_MARGIN_DB = 12.0
"""with `quiet_person`: what is left must stand this far above the canceller's usual residue"""
SERVER_MARGIN_DB = 20.0
"""the same for the sound server's residue: through the live rig it was 66 dB under the echo
at the median and 51 dB under it in the worst tenth of the frames, so a person 10 dB under
the echo stands 50 dB over it; a wider margin keeps its rare leaks out"""
RESIDUE_PERCENTILE = 50
"""the canceller's usual residue: this percentile of what it left, over the echo expected, in
the last RESIDUE_S of the skill talking (the person is rarely talking then). Through the
virtual devices the median was 20-25 dB under the echo and the 90th percentile only 4-10 dB
under it: the echo's delay moves by tens of milliseconds between and within replies there"""
RESIDUE_S = 6.0
"""seconds of the skill talking the residue is learned over"""
HANGOVER_S = 0.3
"""once the person is heard under the echo, the next this many seconds are let through too:
a word's quieter sounds (the "p" of "help") fall under the gate"""
KEPT_S = 8.0
"""seconds of the echo-cancelled sound kept ungated, for a second look at a word heard"""
PATH_TAPS = 64
"""samples of the echo path fitted before Speex (4 ms: the delay is measured to a sample or
two; Speex models the room's longer tail after it)"""
PATH_LEAD = 8
"""... of them before the measured delay"""
PATH_S = 6.0
"""seconds of the skill talking the echo path is fitted on, again after each second"""
PATH_RIDGE = 1e-5
"""regularisation of the fit, relative to the played sound's energy"""
PATH_MIN_DB = 30.0
"""the fit is used only when the echo it explains stands this far over what it leaves out
(within TAIL_S of the delay): in a room whose echo rings longer than the fit (PATH_TAPS), it
explains little, and what it changes each second Speex (which models the whole tail) would
have to learn again and again"""
UNHEARD_S = 2
"""seconds of the skill talking that the microphone does not hear at all (headphones, a
speaker in another room) before its echo is taken to be below FLOOR_RMS"""
_SET_SAMPLING_RATE = 24  # speex_echo.h: SPEEX_ECHO_SET_SAMPLING_RATE
_SET_DENOISE, _SET_ECHO_SUPPRESS, _SET_ECHO_SUPPRESS_ACTIVE, _SET_ECHO_STATE = 0, 20, 22, 24
"""speex_preprocess.h: the residual echo suppressor's requests"""
ECHO_SUPPRESS_DB = -40
"""the most the residual echo suppressor takes off what the canceller left (Speex's default)"""
ECHO_SUPPRESS_ACTIVE_DB = -15
"""... while the person talks over it (Speex's default)"""


def _library() -> Any:
    """libspeexdsp, with the four functions used typed; a clear error when it is missing."""
    name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise AudioError(f"echo cancellation needs libspeexdsp (install libspeexdsp1): {exc}") from exc
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    short_p = ctypes.POINTER(ctypes.c_int16)
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p, short_p, short_p, short_p]
    lib.speex_echo_cancellation.restype = None
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_echo_state_reset.argtypes = [ctypes.c_void_p]
    lib.speex_echo_state_reset.restype = None
    lib.speex_echo_state_destroy.restype = None
    lib.speex_preprocess_state_init.restype = ctypes.c_void_p
    lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_preprocess_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_preprocess_run.argtypes = [ctypes.c_void_p, short_p]
    lib.speex_preprocess_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_preprocess_state_destroy.restype = None
    return lib


class SpeexEcho:
    """One Speex echo canceller: a microphone frame and the played frame in, the person out."""

    def __init__(self, frame_samples: int, tail_s: float = TAIL_S) -> None:
        self._lib = _library()
        self.frame_samples = frame_samples
        self._state = self._lib.speex_echo_state_init(frame_samples,
                                                     round(tail_s * PIPELINE_RATE_HZ))
        rate = ctypes.c_int(PIPELINE_RATE_HZ)
        self._lib.speex_echo_ctl(self._state, _SET_SAMPLING_RATE, ctypes.byref(rate))
        self._out = np.zeros(frame_samples, np.int16)
        self._post = None
        """Speex's residual echo suppressor, when asked for (suppress_residue)"""

    def suppress_residue(self) -> None:
        """Also take out what the canceller leaves of the echo (the residue), bin by bin, with
        Speex's preprocessor tied to the canceller (its noise suppression off): a person under
        the echo then stands clear of it, at the cost of some of their own sound."""
        lib = self._lib
        self._post = lib.speex_preprocess_state_init(self.frame_samples, PIPELINE_RATE_HZ)
        for request, value in ((_SET_DENOISE, 0), (_SET_ECHO_SUPPRESS, ECHO_SUPPRESS_DB),
                               (_SET_ECHO_SUPPRESS_ACTIVE, ECHO_SUPPRESS_ACTIVE_DB)):
            v = ctypes.c_int(value)
            lib.speex_preprocess_ctl(self._post, request, ctypes.byref(v))
        lib.speex_preprocess_ctl(self._post, _SET_ECHO_STATE, ctypes.c_void_p(self._state))

    def cancel(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        """The microphone frame with the echo of `played` taken out."""
        p = ctypes.POINTER(ctypes.c_int16)
        mic = np.ascontiguousarray(mic, np.int16)
        played = np.ascontiguousarray(played, np.int16)
        self._lib.speex_echo_cancellation(self._state, mic.ctypes.data_as(p),
                                          played.ctypes.data_as(p), self._out.ctypes.data_as(p))
        if self._post:
            self._lib.speex_preprocess_run(self._post, self._out.ctypes.data_as(p))
        return self._out.copy()

    def reset(self) -> None:
        """Forget the echo learned so far (what it is given to cancel has changed)."""
        self._lib.speex_echo_state_reset(self._state)

    def close(self) -> None:
        """Free the canceller (and its residue suppressor)."""
        if self._post:
            self._lib.speex_preprocess_state_destroy(self._post)
            self._post = None
        if self._state:
            self._lib.speex_echo_state_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


class EchoPath:
    """The echo's path from the played sound to the microphone as one short filter, fitted by
    least squares on the last PATH_S seconds of the skill talking (refitted each second) and
    subtracted before Speex, where it takes the echo at least PATH_MIN_DB down. Why: with the
    replies on one output stream a short, steady path stays the same from reply to reply, and
    through the live rig this fit left the echo 65 dB down at the median (39 dB in the worst
    tenth of the frames), fitted on a third of a session and tried on the rest; Speex, whose
    filter keeps adapting, left 22 dB (16) on the same sound. In a room that rings longer than
    the fit it is not used, and Speex alone models the whole echo. A person talking meanwhile
    does not bend the fit: their voice is not correlated with the played sound."""

    def __init__(self, frame_samples: int) -> None:
        self._frames: collections.deque[tuple[np.ndarray, np.ndarray]] = collections.deque(
            maxlen=round(PATH_S * PIPELINE_RATE_HZ / frame_samples))
        self._every = PIPELINE_RATE_HZ // frame_samples
        self._since = 0
        self.taps: np.ndarray | None = None
        """the fitted path (PATH_TAPS, the first PATH_LEAD before the delay), when in use"""

    def echo(self, played: np.ndarray) -> np.ndarray:
        """The echo the fitted path makes of `played`: a frame's played sound with
        PATH_TAPS - 1 - PATH_LEAD samples before it and PATH_LEAD after."""
        n = len(played) - PATH_TAPS + 1
        if self.taps is None:
            return np.zeros(n)
        return np.convolve(played.astype(np.float64), self.taps, "valid")

    def learn(self, mic: np.ndarray, played: np.ndarray) -> bool:
        """One frame of the microphone and of the played sound aligned with it; whether the
        path was taken into use, or out of it (what is left for Speex has changed)."""
        self._frames.append((mic.astype(np.float64), played.astype(np.float64)))
        self._since += 1
        if self._since < self._every:
            return False
        self._since = 0
        was = self.taps is not None
        self.taps = self._fit()
        return was != (self.taps is not None)

    def forget(self) -> bool:
        """The echo moved (or the microphone's clock started again): what was learned goes;
        whether the path was in use."""
        self._frames.clear()
        was, self.taps = self.taps is not None, None
        return was

    def _fit(self) -> np.ndarray | None:
        """The path fitted on the frames kept, or None when it would not take the echo
        PATH_MIN_DB down (or next to nothing was played)."""
        y = np.concatenate([m for m, _ in self._frames])
        x = np.concatenate([p for _, p in self._frames])
        if float(np.dot(x, x)) < len(x) * FLOOR_RMS ** 2 / 100:
            return None  # next to nothing played: nothing to fit on
        size = 1 << (len(x) + PATH_TAPS).bit_length()
        spec_x = np.fft.rfft(x, size)
        auto = np.fft.irfft(np.abs(spec_x) ** 2, size)[:PATH_TAPS]
        # cross[l] = sum over t of y[t] x[t + l]; tap k weighs x[t + PATH_LEAD - k]
        cross = np.fft.irfft(np.conj(np.fft.rfft(y, size)) * spec_x, size)
        wanted = cross[(PATH_LEAD - np.arange(PATH_TAPS)) % size]
        lags = np.abs(np.subtract.outer(np.arange(PATH_TAPS), np.arange(PATH_TAPS)))
        gram = auto[lags] + np.eye(PATH_TAPS) * PATH_RIDGE * auto[0]
        taps = np.linalg.solve(gram, wanted)
        # How much of the echo the fit explains, judged on the played sound's correlation with
        # the microphone over the whole reach of a room's echo, not on what is left: a person
        # or a noise there is not correlated with the played sound, an echo past the fit is.
        span = min(round(TAIL_S * PIPELINE_RATE_HZ), size // 2)
        reach = np.r_[0:span, size - span:size]
        shape = np.zeros(size)
        shape[(PATH_LEAD - np.arange(PATH_TAPS)) % size] = taps
        expected = np.fft.irfft(np.fft.rfft(shape) * np.abs(spec_x) ** 2, size)[reach]
        missed = cross[reach] - expected
        down_db = 10 * np.log10(max(float(np.dot(expected, expected)), 1e-9)
                                / max(float(np.dot(missed, missed)), 1e-9))
        log.debug("echo path fitted: it explains the echo %.0f dB over the rest", down_db)
        return taps if down_db >= PATH_MIN_DB else None


class _Clip:
    """One reply as played: where it started on the microphone's clock (when the canceller was
    told, or where its stream places it), and its echo's delay from there."""

    __slots__ = ("audio", "checked", "lag", "onset", "start", "stream")

    def __init__(self, start: int, audio: np.ndarray,
                 stream: tuple[str, int] | None = None) -> None:
        self.start, self.audio = start, audio
        loud = np.flatnonzero(np.abs(audio) > FLOOR_RMS)
        self.onset = int(loud[0]) if len(loud) else len(audio)
        """its first sound (samples in): espeak-ng starts with a little silence"""
        self.lag: int | None = None
        """samples from `start` to its echo at the microphone: placed by its stream, or once
        measured"""
        self.stream = stream
        """the output stream's clock and where on it (16 kHz samples) the reply began, when it
        plays on the stream kept open between replies"""
        self.checked = False
        """whether its delay has been measured on its first sound (or could not be)"""

    def echo_start(self, lag: int) -> int:
        """Where its echo begins on the microphone's clock (`lag` until its own is measured)."""
        return self.start + (lag if self.lag is None else self.lag)


class Playback:
    """What the skill played and when, on the microphone's sample clock (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clips: list[_Clip] = []
        self._anchor: tuple[str, int, int, int] | None = None
        """the output stream's clock, a position on it, and where a reply begun there was
        taken to start on the microphone's clock and with what delay (the last measured)"""

    def add(self, audio: np.ndarray, at_sample: int,
            stream: tuple[str, int] | None = None) -> None:
        """`audio` (16 kHz int16) started playing when the microphone was at `at_sample`; with
        `stream`, it began there on the output stream kept open between replies (16 kHz
        samples), and is placed as far from the last measured reply on that stream (until its
        own measure, `EchoCancelledSource._align`, finds its echo elsewhere)."""
        clip = _Clip(at_sample, np.asarray(audio, np.int16), stream)
        with self._lock:
            # clips that ended long ago can no longer echo
            self._clips = [c for c in self._clips
                           if c.start + len(c.audio) + MAX_DELAY_S * PIPELINE_RATE_HZ * 4
                           > at_sample]
            anchor = self._anchor
            if stream is not None and anchor is not None and anchor[0] == stream[0]:
                clip.start, clip.lag = anchor[2] + stream[1] - anchor[1], anchor[3]
            self._clips.append(clip)

    def measured(self, clip: _Clip, lag: int, start: int | None = None) -> None:
        """`clip`'s echo was found `lag` samples after its start (moved to `start`, when
        given): the replies after it on the same output stream come by the same delay."""
        with self._lock:
            clip.lag = lag
            if start is not None:
                clip.start = start
            if clip.stream is not None:
                self._anchor = (clip.stream[0], clip.stream[1], clip.start, lag)

    def heard(self, start: int, n: int, lag: int) -> np.ndarray:
        """The echo's source as the microphone hears it over [start, start + n) of its clock:
        each clip shifted by its own measured delay, or by `lag` until it has one (zeros where
        silent)."""
        out = np.zeros(n, np.int16)
        with self._lock:
            clips = list(self._clips)
        for c in clips:
            s = c.echo_start(lag)
            lo, hi = max(start, s), min(start + n, s + len(c.audio))
            if lo < hi:
                out[lo - start: hi - start] = c.audio[lo - s: hi - s]
        return out

    def cut(self, at_sample: int) -> None:
        """The reply playing when the microphone was at `at_sample` was cut short there: the
        rest of it never plays, so no echo of it is expected (else the gate silenced a person
        talking after the cut, and then learned that the echo is quiet)."""
        slack = round(JITTER_S * PIPELINE_RATE_HZ)
        with self._lock:
            for c in self._clips:
                if c.start <= at_sample < c.start + len(c.audio):
                    c.audio = c.audio[: at_sample - c.start + slack]

    def clear(self) -> None:
        """Forget every clip (the microphone's clock they are on has started again)."""
        with self._lock:
            self._clips = []
            self._anchor = None

    def active(self, start: int, n: int) -> bool:
        """Whether anything played in [start, start + n)."""
        with self._lock:
            return any(c.start < start + n and start < c.start + len(c.audio)
                       for c in self._clips)

    def unchecked(self, before: int) -> _Clip | None:
        """The first clip started before `before` whose echo's delay is not measured yet."""
        with self._lock:
            return next((c for c in self._clips if not c.checked and c.start < before), None)

    def playing_at(self, at: int, lag: int) -> _Clip | None:
        """The clip the microphone hears at `at` (the last one begun by then)."""
        with self._lock:
            begun = [c for c in self._clips if c.echo_start(lag) <= at]
        return begun[-1] if begun else None


def _between(frames: Iterable[tuple[int, np.ndarray]], start: int, end: int) -> np.ndarray | None:
    """Samples [start, end) of the microphone's clock from frames timed on it (shorter when
    they end before `end`); None when they do not reach back to `start`."""
    parts = [(at, f) for at, f in frames if at + len(f) > start and at < end]
    if not parts or parts[0][0] > start:
        return None
    first = parts[0][0]
    return np.concatenate([f for _, f in parts])[start - first: end - first]


def _lag(mic: np.ndarray, ref: np.ndarray, most: int) -> int | None:
    """Samples by which `ref` comes later in `mic`, 0 to `most`, by GCC-PHAT (sharp peaks,
    whatever the voice's spectrum); None without a clear peak (echo too weak, or speech over
    it fooled the measure)."""
    mic, ref = mic.astype(np.float64), ref.astype(np.float64)
    size = 1 << (len(ref) + len(mic)).bit_length()
    spec = np.fft.rfft(mic, size) * np.conj(np.fft.rfft(ref, size))
    corr = np.fft.irfft(spec / (np.abs(spec) + 1e-9), size)[: most + 1]
    lag = int(np.argmax(corr))
    return lag if corr[lag] > 6 * np.std(corr) else None


class EchoCancelledSource:
    """A microphone source whose frames have the skill's own voice taken out (and gated).

    A canceller fed a reference off by tens of milliseconds cancels almost nothing (2-4 dB).
    Each reply's delay is measured on its first sound, with the microphone held back meanwhile
    (at most HOLD_S; the frames then come out late, never lost). A reply on the speaker's kept
    output stream is placed where it began on it, to a fraction of a sample, as the last
    measured one was, unless its measure finds its echo elsewhere (the microphone lost samples,
    or runs on a clock of its own). Every second the delay is checked again (an underrun moves
    it within a reply). The echo's path fitted on the recent playback (EchoPath) is taken out
    first, where it explains the echo, then Speex."""

    def __init__(self, mic: Any, playback: Playback, quiet_person: bool = False,
                 server: bool = False) -> None:
        self.mic, self.playback = mic, playback
        self.server = server
        """the microphone is the sound server's echo-cancelled source: nothing is cancelled
        here, and what comes in while the skill talks passes the residue gate or is silenced"""
        self.quiet_person = quiet_person or server
        """also let through a person quieter than the echo, when what the canceller leaves
        stands out of its usual residue (the safety words: only they are acted on then)"""
        self._residue: list[float] = []  # what the canceller left over the echo expected (dB)
        self._hangover = 0  # frames still let through after the person was heard
        self.frame_samples: int = mic.frame_samples
        self._position: Callable[[], int] = mic.captured_samples
        self._read_position: Callable[[], int] = lambda: int(mic.read_samples)
        self._echo = None if server else SpeexEcho(self.frame_samples)
        self._path = EchoPath(self.frame_samples)
        if self._echo and quiet_person:
            self._echo.suppress_residue()
        self._kept: collections.deque[tuple[int, np.ndarray]] = collections.deque(
            maxlen=round(KEPT_S * PIPELINE_RATE_HZ / self.frame_samples))
        self._raw: collections.deque[tuple[int, np.ndarray]] = collections.deque(
            maxlen=round(max(MEASURE_S + MAX_DELAY_S + HOLD_S, KEPT_S) * PIPELINE_RATE_HZ
                         / self.frame_samples) + 1)
        """the microphone's recent frames as they came: a reply's delay is measured on them,
        and how loud the room is around an answer (raw_audio)"""
        self._held: list[tuple[int, np.ndarray]] = []  # waiting for a reply's delay
        self._ready: collections.deque[np.ndarray] = collections.deque()  # to hand on
        self.delay = 0 if server else round(DEFAULT_DELAY_S * PIPELINE_RATE_HZ)
        """the last measured playback-to-capture delay (samples): a reply's until it has its own"""
        self.measured = server
        """whether the delay and the echo's loudness have been measured yet"""
        self._gain2 = 1.0  # echo energy per played energy: the median of the recent gains
        self._gains: list[float] = []  # one per second measured
        self._second: list[tuple[int, np.ndarray]] = []  # this second's frames, to check it
        self._moved: int | None = None  # how far the last second found the echo moved
        self._unheard_s = 0  # seconds in a row of the skill talking, unheard by the microphone
        self.gated = 0
        """frames taken for the skill's own voice and silenced"""

    @property
    def read_samples(self) -> int:
        """Samples handed on so far (the microphone's, less those held back)."""
        pending = sum(len(f) for _, f in self._held) + sum(len(f) for f in self._ready)
        return self._read_position() - pending

    def now(self) -> int:
        """The microphone's sample clock: samples captured so far."""
        return int(self._position())

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame, with the echo removed; the skill's own voice alone reads as silence."""
        while not self._ready:
            frame: np.ndarray | None = self.mic.read(timeout_s)
            if frame is None:  # stalled, or the end: what was held goes on as it is
                self._release()
                break
            self._take(frame, self._read_position() - len(frame))
        return self._ready.popleft() if self._ready else None

    def _take(self, frame: np.ndarray, at: int) -> None:
        """One microphone frame in: handed on, or held until the reply's delay is known."""
        n = len(frame)
        self._raw.append((at, frame))
        reach = round((MAX_DELAY_S + TAIL_S) * PIPELINE_RATE_HZ)
        if not self._held and not self.playback.active(at - reach, n + reach):
            self._kept.append((at, frame))
            self._ready.append(frame)
            return
        if self._echo is None:  # the server cancelled it: only its residue is gated
            self._kept.append((at, frame))
            self._ready.append(self._gated(frame, frame, at))
            return
        self._held.append((at, frame))
        while (clip := self.playback.unchecked(at + n)) is not None:
            if self._align(clip, at + n):
                continue
            if at + n - self._held[0][0] < HOLD_S * PIPELINE_RATE_HZ:
                return  # its first sound is not all heard yet: hold on
            log.info("echo delay of a reply not measured in %.1f s: the last one used", HOLD_S)
            clip.lag, clip.checked = self.delay if clip.lag is None else clip.lag, True
        self._release()

    def _release(self) -> None:
        """Cancel the echo out of the held frames and hand them on."""
        for at, frame in self._held:
            assert self._echo is not None  # only the skill's own canceller holds frames back
            self._check_second(at, frame)
            before = PATH_TAPS - 1 - PATH_LEAD
            wide = self.playback.heard(at - before, len(frame) + PATH_TAPS - 1, self.delay)
            played = wide[before: before + len(frame)]
            rest = np.clip(frame - self._path.echo(wide), -32768, 32767).astype(np.int16)
            if self._path.learn(frame, played):
                self._restart()  # it had learned the echo the path now takes, or leaves
            clean = self._echo.cancel(rest, played)
            self._kept.append((at, clean))
            self._ready.append(self._gated(frame, clean, at))
        self._held = []

    def _gated(self, raw: np.ndarray, clean: np.ndarray, at: int) -> np.ndarray:
        """`clean`, or silence when it is only the skill's own voice."""
        if self._echo is None:
            if self._quiet_person(raw, at):
                return raw
        elif self.measured and not (self._own_voice(raw, clean, at)
                                    and not self._quiet_person(clean, at)):
            return clean
        # until the echo has been measured, all that is heard while speaking is the echo
        self.gated += 1
        return np.zeros(len(raw), np.int16)

    def _align(self, clip: _Clip, heard_to: int) -> bool:
        """Measure `clip`'s delay on its first sound, once the microphone has heard all the
        delays that sound could arrive with; False until then. A clip its stream placed is
        measured too, and placed again where its echo came from if that is elsewhere: the
        microphone may have lost samples (an overrun), or run on a clock of its own (a USB
        microphone beside the board's speaker drifts by a few samples a minute)."""
        rate = PIPELINE_RATE_HZ
        placed = clip.lag
        sound = clip.audio[clip.onset: clip.onset + round(MEASURE_S * rate)]
        lo = clip.start + clip.onset
        hi = lo + len(sound) + round(MAX_DELAY_S * rate)
        if heard_to < hi and len(sound) >= MEASURE_S * rate / 2:
            return False
        clip.checked = True
        early = 0 if placed is None else round(MAX_DELAY_S * rate / 2)  # it may come sooner too
        mic = (self.raw_audio(lo - early, hi) if len(sound) >= MEASURE_S * rate / 2
               else None)
        found = None if mic is None else _lag(mic, sound, round(MAX_DELAY_S * rate) + early)
        if mic is None or found is None:  # too little of it, or no clear echo: as the last one
            clip.lag = self.delay if placed is None else placed
            return True
        lag, mic = found - early, mic[early:]
        if placed is not None and abs(lag - placed) <= PLACED_SLACK:
            lag = placed  # the measure's own jitter: the stream's place is the finer one
        elif placed is not None:
            log.info("a reply's echo came %+.1f ms from where its stream placed it: placed anew",
                     1000 * (lag - placed) / rate)
            if abs(lag - placed) > PATH_LEAD and self._path.forget():
                self._restart()  # a small move is the fitted path's to follow, a large one not
            # moved, not given another delay: a delay stays within 0..MAX_DELAY_S
            self.playback.measured(clip, placed, clip.start + lag - placed)
            return True
        self.playback.measured(clip, lag)
        self.delay = lag
        echo = mic[lag: lag + len(sound)].astype(np.float64)
        played2 = float(np.mean(sound.astype(np.float64) ** 2))
        if float(np.mean(echo ** 2)) >= FLOOR_RMS ** 2 and played2 >= FLOOR_RMS ** 2:
            if not self.measured:
                log.info("echo measured: delay %.0f ms", 1000 * lag / rate)
            self._learn_gain(min(float(np.mean(echo ** 2)) / played2,
                                 10 ** (MAX_ECHO_GAIN_DB / 10)))
        return True

    def _restart(self) -> None:
        """Speex learns the echo afresh (what it is given to cancel has changed): until it has,
        what it leaves is no usual residue, so the quiet person's gate learns that anew too
        (meanwhile only a person louder than the echo comes through)."""
        if self._echo is not None:
            self._echo.reset()
        self._residue = []

    def raw_audio(self, start: int, end: int) -> np.ndarray | None:
        """The microphone's own samples [start, end), before the echo is taken out and the
        gate (a reply's delay is measured on them, and the room's noise around an answer: the
        gate silences the tail of the skill's voice, in which an answer begins); None when not
        all kept."""
        audio = _between(self._raw, start, end)
        return audio if audio is not None and len(audio) == end - start else None

    def _own_voice(self, raw: np.ndarray, clean: np.ndarray, at: int) -> bool:
        """Whether what is left is no more than the echo the playback would leave behind."""
        raw2 = float(np.mean(raw.astype(np.float64) ** 2))
        out2 = float(np.mean(clean.astype(np.float64) ** 2))
        expected = self._gain2 * self._loudest_played(at, len(raw))
        # The person is there when the microphone is louder than the echo alone would make it,
        # and what the canceller leaves is not just its residue: both, since the canceller
        # needs seconds to converge and a person may be quieter than the skill.
        margin = 10 ** (GATE_MARGIN_DB / 10)
        louder = raw2 > expected * margin
        left = out2 > expected / margin
        return not (louder and left and out2 > FLOOR_RMS ** 2)

    def cancelled_audio(self, start: int, end: int) -> np.ndarray | None:
        """The echo-cancelled sound of samples [start, end) of the microphone clock, ungated
        (the gate lets a word through in pieces; a recognizer hears it better whole); None
        when that much is no longer kept."""
        return _between(list(self._kept), start, end)

    def _quiet_person(self, clean: np.ndarray, at: int) -> bool:
        """With `quiet_person`: whether what the canceller left stands QUIET_MARGIN_DB above
        its usual residue (learned as it goes), or follows such a frame within HANGOVER_S.
        A person 10 dB under the echo is 10-20 dB over a residue 25-45 dB under it."""
        if not self.quiet_person:
            return False
        expected = self._gain2 * self._loudest_played(at, len(clean))
        out2 = float(np.mean(clean.astype(np.float64) ** 2))
        if expected < FLOOR_RMS ** 2:
            return self._hangover_left() or out2 > FLOOR_RMS ** 2
        ratio_db = 10 * np.log10(max(out2, 1.0) / expected)
        keep = round(RESIDUE_S * PIPELINE_RATE_HZ / len(clean))
        self._residue = [*self._residue[-(keep - 1):], ratio_db]
        if len(self._residue) < keep // 4:
            return False  # not learned yet
        usual = float(np.percentile(self._residue, RESIDUE_PERCENTILE))
        margin = SERVER_MARGIN_DB if self.server else QUIET_MARGIN_DB
        if out2 > FLOOR_RMS ** 2 and ratio_db > usual + margin:
            self._hangover = round(HANGOVER_S * PIPELINE_RATE_HZ / len(clean))
            return True
        return self._hangover_left()

    def _hangover_left(self) -> bool:
        if self._hangover > 0:
            self._hangover -= 1
            return True
        return False

    def _loudest_played(self, at: int, n: int) -> float:
        """Energy of the loudest 10 ms the playback could be echoing in this frame: the room
        rings for TAIL_S, and the delay is known to a few milliseconds."""
        tail, slack = round(TAIL_S * PIPELINE_RATE_HZ), round(JITTER_S * PIPELINE_RATE_HZ)
        if self.server:  # the delay is the server's business: any of the recent playback
            tail = round((MAX_DELAY_S + TAIL_S) * PIPELINE_RATE_HZ)
        played = self.playback.heard(at - tail - slack, tail + n + 2 * slack, self.delay)
        block = PIPELINE_RATE_HZ // 100
        usable = len(played) // block * block
        if usable == 0:
            return 0.0
        energies = np.mean(played[:usable].astype(np.float64).reshape(-1, block) ** 2, axis=1)
        return float(energies.max())

    def _check_second(self, at: int, frame: np.ndarray) -> None:
        """Each second of playback: whether the echo still comes when its reply's delay says
        (an underrun moves it; then the reply's delay is corrected), and how loud it is."""
        if self._second and self._second[-1][0] + len(self._second[-1][1]) != at:
            self._second = []  # frames between replies were not checked: a second is unbroken
        self._second.append((at, frame))
        if len(self._second) < PIPELINE_RATE_HZ // len(frame):
            return
        start = self._second[0][0]
        mic = np.concatenate([f for _, f in self._second]).astype(np.float64)
        self._second = []
        drift = round(DRIFT_S * PIPELINE_RATE_HZ)
        ref = self.playback.heard(start - drift, len(mic) + 2 * drift, self.delay)
        ref2, mic2 = float(np.mean(ref.astype(np.float64) ** 2)), float(np.mean(mic ** 2))
        if ref2 < FLOOR_RMS ** 2:
            return
        if mic2 < FLOOR_RMS ** 2:
            self._unheard(ref2)
            return
        self._unheard_s = 0
        # mic[i] echoes ref[i + drift - off]: off is how much later than expected it came
        lag = _lag(ref, mic, 2 * drift)
        clip = self.playback.playing_at(start, self.delay)
        off = drift - lag if lag is not None and 0 < lag < 2 * drift else None  # not an edge
        if (off is None or clip is None or clip.lag is None
                or abs(off) <= JITTER_S * PIPELINE_RATE_HZ / 10
                or not 0 <= clip.lag + off <= MAX_DELAY_S * PIPELINE_RATE_HZ):
            self._moved = None
        elif self._moved is not None and abs(self._moved - off) <= PIPELINE_RATE_HZ // 500:
            # moved only when two seconds in a row agree: a person talking over it (louder
            # than the echo) once made one second's peak 150 ms off
            log.info("echo delay moved by %.0f ms within a reply", 1000 * off / PIPELINE_RATE_HZ)
            self.playback.measured(clip, clip.lag + off)
            self.delay = clip.lag
            self._moved = None
        else:
            self._moved = off
        aligned = self.playback.heard(start, len(mic), self.delay).astype(np.float64)
        played2 = float(np.mean(aligned ** 2))
        if played2 < FLOOR_RMS ** 2:
            return  # the skill was all but silent where its echo would be: nothing to learn
        # the loudest the echo can be: a person talking meanwhile only makes it louder.
        # Capped: a second of the person over a quiet playback once made the gate deaf
        self._learn_gain(min(mic2 / played2, 10 ** (MAX_ECHO_GAIN_DB / 10)))

    def _unheard(self, played2: float) -> None:
        """A second of the skill talking with the microphone quiet: after UNHEARD_S of them, the
        echo is measured as no louder than the floor, so a person over it can be heard."""
        self._unheard_s += 1
        if self._unheard_s < UNHEARD_S:
            return
        if not self.measured:
            log.info("echo measured: not heard in %d s of the skill talking", self._unheard_s)
        self._learn_gain(FLOOR_RMS ** 2 / played2)

    def _learn_gain(self, gain2: float) -> None:
        """One second's measure of the echo's loudness. The median of the last five: a second
        of the person answering as the skill ends (loud, and by chance correlated) once made
        the gate deaf to everything said over the skill for the rest of a session."""
        self._gains = [*self._gains[-4:], gain2]
        self._gain2 = float(np.median(self._gains))
        self.measured = True

    def flush(self) -> None:
        """Discard what the microphone caught so far (and what was held back of it)."""
        self._held, self._second = [], []
        self._ready.clear()
        self.mic.flush()

    def reopen(self) -> None:
        """Open the microphone again (after an unplug): its clock starts again, so nothing
        held or measured on the old one is kept (the delay and the echo's loudness are)."""
        self._held, self._second, self._moved = [], [], None
        self._ready.clear()
        self._raw.clear()
        self._path.forget()
        self._kept.clear()
        self.playback.clear()
        self.mic.reopen()

    def close(self) -> None:
        """Release the microphone and the canceller."""
        if self._echo:
            self._echo.close()
        self.mic.close()


def cancel_echo(mic: Any, speaker: Any, quiet_person: bool = False,
                server: bool = False) -> EchoCancelledSource:
    """The microphone with the speaker's replies cancelled out of it, wired to the speaker;
    with `server`, the microphone is already the sound server's echo-cancelled source."""
    from voice_skill.hearing.audio import to_pipeline_format

    playback = Playback()

    def played(audio: np.ndarray, rate_hz: int, where: tuple[str, int] | None) -> None:
        at = mic.captured_samples()
        if where is None:
            playback.add(to_pipeline_format(audio, rate_hz), at)
            return
        # Converted from the last frame of the stream that falls on a 16 kHz sample, so that
        # every reply keeps the stream's own sub-sample phase: converted from its first frame,
        # each had its own, and the echo's path differed from one reply to the next.
        clock, frame = where
        step = rate_hz // math.gcd(rate_hz, PIPELINE_RATE_HZ)
        pad = frame % step
        audio = np.concatenate([np.zeros(pad, audio.dtype), audio])
        playback.add(to_pipeline_format(audio, rate_hz), at,
                     (clock, (frame - pad) * PIPELINE_RATE_HZ // rate_hz))

    speaker.on_playback = played
    speaker.on_stop = lambda: playback.cut(mic.captured_samples())
    return EchoCancelledSource(mic, playback, quiet_person, server)
