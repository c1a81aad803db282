"""The far-field front end: WebRTC's automatic gain and noise suppression on the microphone's
stream, before the voice-activity detector and the recognizer (or before the detector only).

WebRTC's audio processing (the `webrtc-noise-gain` wheel, Apache-2.0, x86_64 and aarch64) takes
10 ms at a time and keeps its noise estimate and gain from frame to frame: one FrontEnd follows
one microphone for the whole session. Home Assistant's voice satellites run it at a target of
5 dBFS and suppression level 2. What it does to hearing here is in docs/benchmarks.md (room
section); settings.front_end_gain_dbfs and settings.front_end_noise_suppression turn it on.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from voice_skill.hearing.audio import PIPELINE_RATE_HZ, AudioSource
from voice_skill.settings import Settings

log = logging.getLogger(__name__)

STEP_N = PIPELINE_RATE_HZ // 100
"""WebRTC's audio processing takes 10 ms at a time (160 samples at 16 kHz)"""

_failed: list[str] = []


class FrontEnd:
    """Automatic gain (target `gain_dbfs` below full scale, 0: none) and noise suppression
    (level 0-4, 0: none) over a stream of int16 frames whose length is a multiple of 10 ms."""

    def __init__(self, gain_dbfs: int, noise_suppression: int) -> None:
        from webrtc_noise_gain import AudioProcessor

        self.gain_dbfs, self.noise_suppression = gain_dbfs, noise_suppression
        self._processor: Any = AudioProcessor(gain_dbfs, noise_suppression)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The frame cleaned (same length, int16). A partial 10 ms at the end passes as it is."""
        data = np.ascontiguousarray(frame, dtype=np.int16)
        out = data.copy()
        whole = len(data) - len(data) % STEP_N
        for i in range(0, whole, STEP_N):
            cleaned = self._processor.Process10ms(data[i: i + STEP_N].tobytes()).audio
            out[i: i + STEP_N] = np.frombuffer(cleaned, np.int16)
        return out

    def process_all(self, audio: np.ndarray) -> np.ndarray:
        """A whole recording, as the stream would have been cleaned 10 ms at a time."""
        return self.process(audio)


def front_end_for(settings: Settings) -> FrontEnd | None:
    """The front end the settings ask for; None when it is off or its library will not load
    (then the stream is heard as it is, with one warning)."""
    if not (settings.front_end_gain_dbfs or settings.front_end_noise_suppression):
        return None
    try:
        return FrontEnd(settings.front_end_gain_dbfs, settings.front_end_noise_suppression)
    except ImportError as exc:
        if not _failed:
            _failed.append(str(exc))
            log.warning("the noise front end did not load (%s); hearing the microphone as it is",
                        exc)
        return None


class CleanedSource:
    """An audio source whose frames pass through a FrontEnd. The raw frame read last is kept
    (`raw`), for a recognizer that hears the raw audio while the detector hears the cleaned."""

    def __init__(self, source: AudioSource, front_end: FrontEnd) -> None:
        self.source, self.front_end = source, front_end
        self.frame_samples = source.frame_samples
        self.raw: np.ndarray | None = None

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame, cleaned; None as the source says."""
        frame = self.source.read(timeout_s)
        self.raw = frame
        return None if frame is None else self.front_end.process(frame)

    def flush(self) -> None:
        """The source's flush; the front end keeps its noise estimate (the room is the same)."""
        self.source.flush()

    def close(self) -> None:
        self.source.close()

    def __getattr__(self, name: str) -> Any:
        # position_s, read_samples, reopen ...: the wrapped source's
        return getattr(self.source, name)


def cleaned(source: AudioSource, settings: Settings) -> AudioSource:
    """The source through the front end the settings ask for (the source itself when off)."""
    front_end = front_end_for(settings)
    return source if front_end is None else CleanedSource(source, front_end)
