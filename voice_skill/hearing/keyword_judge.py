"""A second opinion on a one-word answer: which of yes / no / stop / something else was said.

Whisper tiny.en cannot make out one syllable 1-3 m away in noise ("go" and "no" score alike).
This judge was trained for exactly these words: Google's speech-embedding model (made for
keyword spotting; run here as openWakeWord ships it, `ai-edge-litert` for both networks) turns
the loudest ~1.2 s of the answer into a few 96-number embeddings, and a small head (numpy, one
hidden layer) trained on real recordings in simulated rooms and noise gives each class a
probability. The feature steps are openWakeWord's: the audio at int16 scale in float32, 32
log-mel bands every 10 ms scaled by x/10 + 2, one embedding per 76 mel frames (775 ms) every
8 frames (80 ms).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_skill.errors import ModelError
from voice_skill.hearing.litert import interpreter, loaded_or_off
from voice_skill.models.keyword_judge import KeywordJudgeModel, load_keyword_judge

log = logging.getLogger(__name__)

MEL_WINDOW = 76
"""mel frames (10 ms each) per embedding"""
MEL_STEP = 8
"""mel frames between embeddings (80 ms)"""
HOP_SAMPLES = 160
"""samples per mel frame (10 ms at 16 kHz)"""
CHUNK_SAMPLES = 1280
"""the mel network is run on 80 ms at a time, as in openWakeWord's stream ..."""
CHUNK_INPUT = 1760
"""... with 30 ms of the chunk before it (its 25 ms window): 8 frames per run. Run on a whole
clip it would give other values for quiet frames (its log floor is set by the loudest frame
of each run), so it is fed exactly as the embedding was trained with"""
ENERGY_SPAN = 40
"""10 ms frames over which the loudest part is found (400 ms: a syllable and its vowel)"""


@dataclass(frozen=True)
class Verdict:
    """The judge's probabilities for one answer, by class ("yes", "no", "stop", "other")."""

    probabilities: dict[str, float]

    @property
    def best(self) -> str:
        return max(self.probabilities, key=lambda k: self.probabilities[k])

    def __getitem__(self, word: str) -> float:
        return self.probabilities.get(word, 0.0)


def loudest_start(audio: np.ndarray, span: int) -> int:
    """The first sample of the `span` samples centred on the loudest 400 ms of `audio`."""
    x = audio.astype(np.float64)
    n = len(x) // HOP_SAMPLES
    if n == 0 or len(x) <= span:
        return 0
    power = np.mean(x[: n * HOP_SAMPLES].reshape(n, HOP_SAMPLES) ** 2, axis=1)
    width = min(ENERGY_SPAN, n)
    smooth = np.convolve(power, np.ones(width), mode="valid")
    centre = (int(np.argmax(smooth)) + width // 2) * HOP_SAMPLES
    return int(min(max(centre - span // 2, 0), len(x) - span))


class KeywordJudge:
    """The judge: `embeddings` (the features) and `verdict` (the head on them)."""

    def __init__(self, model: KeywordJudgeModel) -> None:
        head = model.head
        self.classes = [str(c) for c in head["classes"]]
        self.window = int(head["window"])
        self._mean, self._scale = head["mean"].astype(np.float32), head["scale"].astype(np.float32)
        self._w1, self._b1 = head["w1"].astype(np.float32), head["b1"].astype(np.float32)
        self._w2, self._b2 = head["w2"].astype(np.float32), head["b2"].astype(np.float32)
        if self._w1.shape[0] != self.window * 96 or self._w2.shape[1] != len(self.classes):
            raise ModelError("the keyword judge's answer head does not fit its embeddings")
        self._mel = interpreter(model.mel)
        self._emb = interpreter(model.embedding)
        self._mel.resize_tensor_input(self._mel.get_input_details()[0]["index"], [1, CHUNK_INPUT])
        self._mel.allocate_tensors()
        self._emb.resize_tensor_input(self._emb.get_input_details()[0]["index"],
                                      [self.window, MEL_WINDOW, 32, 1])
        self._emb.allocate_tensors()

    @property
    def span_samples(self) -> int:
        """The sound one verdict hears: `window` embeddings, 80 ms apart (1.2 s for 6)."""
        return self._chunks * CHUNK_SAMPLES + CHUNK_INPUT - CHUNK_SAMPLES

    @property
    def _chunks(self) -> int:
        frames = MEL_WINDOW + MEL_STEP * (self.window - 1)
        return -(-frames // MEL_STEP)

    def _mels(self, x: np.ndarray) -> np.ndarray:
        """(frames, 32): 8 mel frames per 80 ms chunk of `x`, scaled as openWakeWord does."""
        inp = self._mel.get_input_details()[0]["index"]
        out = self._mel.get_output_details()[0]["index"]
        frames = []
        for start in range(0, len(x) - CHUNK_INPUT + 1, CHUNK_SAMPLES):
            self._mel.set_tensor(inp, x[np.newaxis, start: start + CHUNK_INPUT])
            self._mel.invoke()
            frames.append(np.asarray(self._mel.get_tensor(out)).reshape(-1, 32))
        return np.concatenate(frames) / 10.0 + 2.0

    def embeddings(self, audio: np.ndarray) -> np.ndarray:
        """(window, 96): the embeddings of the loudest `span_samples` of 16 kHz int16 audio
        (zero-padded at both ends when shorter)."""
        span = self.span_samples
        x = np.asarray(audio, dtype=np.float32)
        if len(x) < span:
            pad = span - len(x)
            x = np.concatenate([np.zeros(pad // 2, np.float32), x,
                                np.zeros(pad - pad // 2, np.float32)])
        start = loudest_start(x, span)
        mels = self._mels(np.ascontiguousarray(x[start: start + span]))
        batch = np.stack([mels[k * MEL_STEP: k * MEL_STEP + MEL_WINDOW]
                          for k in range(self.window)])[..., np.newaxis].astype(np.float32)
        inp = self._emb.get_input_details()[0]["index"]
        self._emb.set_tensor(inp, np.ascontiguousarray(batch))
        self._emb.invoke()
        out = self._emb.get_tensor(self._emb.get_output_details()[0]["index"])
        return np.asarray(out, np.float32).reshape(self.window, 96)

    def head(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities for rows of flattened embeddings (n, window * 96)."""
        z = (features - self._mean) / self._scale
        h = np.maximum(z @ self._w1 + self._b1, 0.0)
        logits = h @ self._w2 + self._b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def verdict(self, audio: np.ndarray) -> Verdict:
        """What the judge hears in one answer."""
        p = self.head(self.embeddings(audio).reshape(1, -1))[0]
        return Verdict({c: float(v) for c, v in zip(self.classes, p, strict=True)})


def keyword_judge(announce: Callable[[str], None], folder: Path | None = None
                  ) -> KeywordJudge | None:
    """The judge, or None (said in one line) when its files or libraries cannot be used: the
    skill then hears short answers with Whisper alone, as before."""
    return loaded_or_off(lambda: KeywordJudge(load_keyword_judge(folder)), announce,
                         "The keyword judge is off", "Short answers are heard by Whisper alone.")
