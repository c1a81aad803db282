"""The trained wake-word models shipped with the skill (models/wake_words/): found, checked
against their SHA-256 sums, and their settings read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from voice_skill.errors import ModelError

_REPO_DIR = Path(__file__).resolve().parents[2] / "models" / "wake_words"
_PACKAGE = "voice_skill.models_manifest"
SUMS = "SHA256SUMS"


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
    if _REPO_DIR.is_dir():
        return _REPO_DIR
    return Path(str(resources.files(_PACKAGE) / "wake_words"))


def _checked(folder: Path, file: str, sums: dict[str, str]) -> bytes:
    path = folder / file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the wake-word file: {exc.strerror}") from None
    if file not in sums:
        raise ModelError(f"{path}: not listed in {folder / SUMS}")
    if hashlib.sha256(data).hexdigest() != sums[file]:
        raise ModelError(f"{path}: damaged (its SHA-256 is not the one in {SUMS})")
    return data


def load_wake_word(name: str, folder: Path | None = None, cutoff: float = 0.0) -> WakeWordModel:
    """The model `name` (alexa, hey_jarvis, ...), checked whole, with its own cutoff unless
    `cutoff` is given. Raises ModelError naming the file when it is missing, altered or its
    settings are unreadable."""
    folder = folder or models_dir()
    try:
        lines = (folder / SUMS).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"{folder / SUMS}: cannot read the wake-word checksums: "
                         f"{exc.strerror}") from None
    sums = {f.lstrip("*"): h.lower() for h, _, f in (ln.strip().partition("  ") for ln in lines)
            if f}
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
