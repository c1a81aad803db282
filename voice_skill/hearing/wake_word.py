"""A trained wake word heard in a stream: microWakeWord's features and streaming model.

The same steps as pymicro-wakeword 2.5.0's `MicroWakeWord` (which has no aarch64 wheel), on
libraries that do: `pymicro-features` turns each 10 ms into 40 log-mel features, every 3 of
them (30 ms) are quantized and run through the model by `ai-edge-litert`, and the wake word is
heard when the mean of the last `window` outputs exceeds the model's cutoff. On 16 real
recordings it gives the same probabilities as pymicro-wakeword, to the last digit. It costs
about 0.1 ms per 30 ms of sound here.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.hearing.audio import PIPELINE_RATE_HZ, AudioSource
from voice_skill.hearing.litert import interpreter, loaded_or_off
from voice_skill.models.wake_words import WakeWordModel, load_wake_word

log = logging.getLogger(__name__)

STEP_N = 160
"""the front end takes 10 ms at a time (16 kHz)"""


@dataclass(frozen=True)
class WakeWordHeard:
    """The wake word, and how surely (the averaged probability that crossed the cutoff)."""

    phrase: str
    probability: float


class WakeWordDetector:
    """One wake word, listened for in a stream of 16 kHz int16 samples of any length."""

    def __init__(self, model: WakeWordModel) -> None:
        self.model = model
        self.phrase = model.phrase
        self._fresh()

    def _fresh(self) -> None:
        """A new front end and interpreter: the model keeps its state between calls, and a
        new interpreter is the sure way to clear it (pymicro-wakeword reloads too)."""
        from pymicro_features import MicroFrontend

        self._net = interpreter(self.model.model)
        self._net.allocate_tensors()
        inp, out = self._net.get_input_details()[0], self._net.get_output_details()[0]
        self._in, self._out = inp["index"], out["index"]
        self._in_scale, self._in_zero = inp["quantization"]
        self._out_scale, self._out_zero = out["quantization"]
        self._in_type = inp["dtype"]
        self._stride = int(inp["shape"][1])
        self._front: Any = MicroFrontend()
        self._pending = b""
        self._features: list[np.ndarray] = []
        self._outputs: deque[float] = deque(maxlen=self.model.window)

    def reset(self) -> None:
        """Forget what was heard (after a session, or a gap in the sound)."""
        self._fresh()

    def hear(self, samples: np.ndarray) -> WakeWordHeard | None:
        """Feed sound; the wake word if it was heard in it (at its first crossing)."""
        self._pending += np.ascontiguousarray(samples, np.int16).tobytes()
        used = 0
        while used + 2 * STEP_N <= len(self._pending):
            result = self._front.process_samples(self._pending[used: used + 2 * STEP_N])
            used += 2 * result.samples_read
            if not result.features:
                continue
            self._features.append(np.array(result.features).reshape((1, 1, -1)))
            if len(self._features) < self._stride:
                continue
            p = self._run()
            if p is not None and p > self.model.cutoff:
                # heard afresh from here: one word fires once (its outputs stay high a while)
                self._fresh()
                return WakeWordHeard(self.phrase, p)
        self._pending = self._pending[used:]
        return None

    def _run(self) -> float | None:
        """The model on the last `stride` feature windows; the mean of the last outputs."""
        x = np.round(np.concatenate(self._features, axis=1) / self._in_scale + self._in_zero)
        self._features.clear()
        self._net.set_tensor(self._in, x.astype(self._in_type))
        self._net.invoke()
        y = (self._net.get_tensor(self._out).astype(np.float32) - self._out_zero) * self._out_scale
        self._outputs.append(float(y.item()))
        if len(self._outputs) < self._outputs.maxlen:  # type: ignore[operator]
            return None
        return statistics.mean(self._outputs)


def wake_word_detector(name: str, announce: Callable[[str], None], folder: Path | None = None,
                       cutoff: float = 0.0) -> WakeWordDetector | None:
    """The detector the `wake_word` setting names; None (said in one line) when it is off or
    its model or libraries cannot be used, so the speaker waits on its start phrases alone."""
    if not name:
        return None
    return loaded_or_off(lambda: WakeWordDetector(load_wake_word(name, folder, cutoff)),
                         announce, f"The wake word {name!r} is off",
                         "Waiting for the start phrases only.")


class WakeWordTap:
    """A source that lets the wake-word detector hear every frame read through it. Once the
    wake word is heard, the stream reads on for at most `tail_s` (so the endpointer can end
    the stretch of speech it is in: "Alexa, call an ambulance" is still a call for help),
    then reports its end (None) to the one listening."""

    def __init__(self, source: AudioSource, detector: WakeWordDetector, tail_s: float) -> None:
        self.source = source
        self.frame_samples = source.frame_samples
        self.detector = detector
        self.tail_s = tail_s
        self.heard: WakeWordHeard | None = None
        self._tail_left = 0.0

    def __getattr__(self, name: str) -> Any:  # raw (front_end_detector_only), position_s ...
        return getattr(self.source, name)

    def read(self, timeout_s: float) -> np.ndarray | None:
        if self.heard is not None and self._tail_left <= 0:
            return None
        frame = self.source.read(timeout_s)
        if frame is None:
            return None
        if self.heard is not None:
            self._tail_left -= len(frame) / PIPELINE_RATE_HZ
        elif (heard := self.detector.hear(frame)) is not None:
            log.info("wake word heard: %s (%.3f)", heard.phrase, heard.probability)
            self.heard, self._tail_left = heard, self.tail_s
        return frame

    def take(self) -> WakeWordHeard | None:
        """The wake word heard since the last take, if any; the stream reads on again."""
        heard, self.heard = self.heard, None
        return heard

    def flush(self) -> None:
        self.source.flush()
        self.detector.reset()
        self.heard = None

    def close(self) -> None:
        self.source.close()
