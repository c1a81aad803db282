"""The keyword judge's files (models/keyword_judge/): Google's speech-embedding front end (two
.tflite files, as openWakeWord ships them) and the small head trained on top of it for the
skill's one-word answers, each checked against its SHA-256 sum before use."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from voice_skill.errors import ModelError
from voice_skill.models.checked_files import checked, read_sums, shipped_dir

MEL_FILE = "melspectrogram.tflite"
EMBEDDING_FILE = "embedding_model.tflite"
HEAD_FILE = "answer_head.npz"
HEAD_KEYS = ("classes", "mean", "scale", "w1", "b1", "w2", "b2", "window")


@dataclass(frozen=True)
class KeywordJudgeModel:
    """The three checked files: two networks to run, and the head's weights."""

    mel: bytes
    """audio (int16 scale, float32) -> 32 log-mel bands every 10 ms"""
    embedding: bytes
    """76 mel frames (775 ms) -> one 96-number embedding"""
    head: dict[str, np.ndarray]
    """the answer head: standardization, a hidden layer and the class layer"""


def models_dir() -> Path:
    """The checkout's models/keyword_judge, or the installed package's copy."""
    return shipped_dir("keyword_judge")


_checked = partial(checked, what="keyword judge's")


def load_keyword_judge(folder: Path | None = None) -> KeywordJudgeModel:
    """The judge's files, each checked whole. Raises ModelError naming the file when one is
    missing, altered or unreadable."""
    folder = folder or models_dir()
    sums = read_sums(folder, "keyword judge's")
    mel = _checked(folder, MEL_FILE, sums)
    embedding = _checked(folder, EMBEDDING_FILE, sums)
    raw = _checked(folder, HEAD_FILE, sums)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            head = {k: np.asarray(f[k]) for k in HEAD_KEYS}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{folder / HEAD_FILE}: unreadable answer head "
                         f"({type(exc).__name__}: {exc})") from None
    return KeywordJudgeModel(mel, embedding, head)
