"""One output stream kept open for every reply, with silence between them.

Why not a stream per reply: each new stream starts after a delay of its own (93-169 ms apart
through the live rig, eight replies in a row) and with its own sub-sample phase in the rate
conversions, so the echo canceller had to find and learn the echo afresh at every reply and
left a person under it unheard. On one stream the echo of every reply comes exactly where the
first one's did (the same delay to the sample over twelve replies, measured), and the
canceller keeps what it learned from one reply to the next. The cost: the stream's buffer of
silence is ahead of each reply (0.2 s more to its first sound), so it is kept open only where
the canceller listens over the skill's speech; otherwise each reply has a stream of its own.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import numpy as np

_STREAMS = itertools.count(1)


class ContinuousPlayer:
    """Plays one reply at a time on a stream that can stay open; `play` says where it began."""

    def __init__(self, rate_hz: int, device: Any, latency_s: float) -> None:
        import sounddevice as sd

        self.rate_hz = rate_hz
        self._lock = threading.Lock()
        self._audio: np.ndarray | None = None
        self._next = 0  # the reply's next sample to hand on
        self._frames = 0  # frames handed to the device since the stream opened
        self._start: int | None = None
        self._started, self._finished = threading.Event(), threading.Event()
        self.sounds_in_s = 0.0
        """how long after the last reply's first sample was handed on it sounded (the device's
        buffer ahead of it; 0 where the device does not tell)"""
        self._underflows = 0
        self._id = f"{os.getpid()}.{next(_STREAMS)}"
        self._stream = sd.OutputStream(samplerate=rate_hz, channels=1, dtype="int16",
                                       device=device, latency=latency_s, callback=self._fill)

    def start(self) -> None:
        """Start the stream (silence until a reply), if it is not running yet."""
        if not self._stream.active:
            self._stream.start()

    @property
    def clock(self) -> str:
        """Names the stream's timeline: it changes when the device missed frames (an
        underflow moves every later reply's echo), so a reply on a new one is measured anew."""
        return f"{self._id}.{self._underflows}"

    def _fill(self, out: np.ndarray, frames: int, times: Any, status: Any) -> None:
        """PortAudio's callback: the reply's next samples, or silence."""
        out.fill(0)
        with self._lock:
            if status.output_underflow:
                self._underflows += 1
            audio = self._audio
            if audio is not None:
                if self._start is None:
                    self._start = self._frames
                    self.sounds_in_s = max(0.0, times.outputBufferDacTime - times.currentTime)
                    self._started.set()
                n = min(frames, len(audio) - self._next)
                out[:n, 0] = audio[self._next: self._next + n]
                self._next += n
                if self._next >= len(audio):
                    self._audio = None
                    self._finished.set()
            self._frames += frames

    def play(self, audio: np.ndarray, timeout_s: float) -> tuple[str, int] | None:
        """Start `audio` (int16 mono at rate_hz); once its first sample went to the device, the
        stream's clock and the frame it began at; None when the device took nothing in time."""
        with self._lock:
            self._audio, self._next, self._start = audio, 0, None
            self._started.clear()
            self._finished.clear()
        self.start()  # a stream not started yet begins with the reply, not with silence
        if not self._started.wait(timeout_s):
            self.cut()
            return None
        with self._lock:
            assert self._start is not None
            return self.clock, self._start

    def done(self, timeout_s: float) -> bool:
        """Whether the reply's last sample has been handed to the device, waiting up to
        `timeout_s` for it (it sounds `latency_s` later)."""
        return self._finished.wait(timeout_s)

    @property
    def latency_s(self) -> float:
        """How long a sample handed to the device takes to sound."""
        return float(self._stream.latency)

    def cut(self) -> None:
        """Stop the reply now; what the device has buffered (its latency) still sounds."""
        with self._lock:
            self._audio = None
        self._finished.set()

    @property
    def active(self) -> bool:
        """Whether the stream is still running (a device that went away stops it)."""
        return bool(self._stream.active)

    def close(self) -> None:
        """Stop and close the stream."""
        self.cut()
        self._stream.abort()
        self._stream.close()
