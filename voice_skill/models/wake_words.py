"""The trained wake-word models shipped with the skill (models/wake_words/): found, checked
against their SHA-256 sums, and their settings read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from voice_skill.errors import ModelError
from voice_skill.models.checked_files import checked, read_sums, shipped_dir


@dataclass(frozen=True)
class WakeWordModel:
    """One microWakeWord model: its network and how its output is read."""

    name: str
    """the setting's value, e.g. "alexa" """
    phrase: str
    """what a person says, e.g. "Alexa", "Hey Jarvis" """
    model: bytes
    """the .tflite file's contents"""
    cutoff: float
    """the averaged probability must exceed this"""
    window: int
    """how many outputs (one per 30 ms) are averaged"""


def models_dir() -> Path:
    """The checkout's models/wake_words, or the installed package's copy."""
    return shipped_dir("wake_words")


_checked = partial(checked, what="wake-word")


def load_wake_word(name: str, folder: Path | None = None, cutoff: float = 0.0) -> WakeWordModel:
    """The model `name` (alexa, hey_jarvis, ...), checked whole, with its own cutoff unless
    `cutoff` is given. Raises ModelError naming the file when it is missing, altered or its
    settings are unreadable."""
    folder = folder or models_dir()
    sums = read_sums(folder, "wake-word")
    try:
        config = json.loads(_checked(folder, f"{name}.json", sums))
        micro = config["micro"]
        model = WakeWordModel(name, str(config["wake_word"]),
                              _checked(folder, str(config["model"]), sums),
                              cutoff or float(micro["probability_cutoff"]),
                              int(micro["sliding_window_size"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{folder / (name + '.json')}: unreadable wake-word settings "
                         f"({type(exc).__name__}: {exc})") from None
    if not 0 < model.cutoff < 1 or model.window < 1:
        raise ModelError(f"{folder / (name + '.json')}: cutoff or window out of range")
    return model
