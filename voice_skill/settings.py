"""Settings, defined once as a frozen dataclass; read from the user's config file and the CLI."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from voice_skill.errors import VoiceSkillError

APP_NAME = "voice-skill"

ENGINES = ("auto", "vosk", "whisper", "pocketsphinx")
"""speech recognizers; auto picks the best installed one, in this order"""

EMERGENCY_NUMBERS = ("911", "112", "999", "000", "111", "119", "110", "102", "108")
"""Common numbers; any other of 2-6 digits is accepted too, these are the documented ones."""


@dataclass(frozen=True)
class Settings:
    """Everything a session can be tuned by; units are in the names."""

    emergency_number: str = "911"
    """number the skill tells the person to call (911, 112, 999 ...)"""
    dialog_path: Path | None = None
    """dialogue file; None means the bundled back_spasm.yaml"""

    speech_rate_wpm: int = 140
    """speaking rate (words per minute); espeak-ng's default is 175, slower is calmer"""
    slower_factor: float = 0.8
    """each "slower" multiplies the rate by this"""
    min_rate_factor: float = 0.5
    """"slower" never goes below this share of the starting rate"""
    voice: str | None = None
    """pyttsx3 voice id; None is the engine's default"""
    volume: float = 1.0
    """0..1"""
    tts_timeout_s: float = 20.0
    """a reply the engine has not spoken by then counts as a hung engine"""

    max_reprompts: int = 2
    """re-asks after no input or no match before the safe default"""
    low_confidence: float = 0.55
    """below this, an answer to a red-flag question is confirmed"""
    emergency_repeat_s: float = 60.0
    """how often the emergency instruction is repeated while the session lasts"""
    emergency_max_repeats: int = 10
    """after this many repeats the session ends (the instruction has stood for ~10 minutes)"""
    max_pause_s: float = 1800.0
    """a pause longer than this ends the session politely"""

    sample_rate_hz: int = 16000
    """rate of the audio the recognizers get"""
    frame_ms: int = 30
    """endpointing frame length (milliseconds): 10, 20 or 30 for the VAD"""
    vad_aggressiveness: int = 2
    """webrtcvad mode 0..3; higher rejects more noise as non-speech"""
    end_silence_s: float = 0.8
    """trailing silence that ends an utterance; generous for a person speaking through pain"""
    quick_end_silence_s: float = 0.25
    """after this much silence what was heard is decoded; a complete answer ends the turn here"""
    patient_end_silence_s: float = 1.2
    """trailing silence that ends an utterance that is not yet an answer ("I'd say...")"""
    max_utterance_s: float = 12.0
    """an utterance is cut here even if the person keeps talking"""
    no_input_timeout_s: float = 8.0
    """silence after a question before it counts as no input"""
    barge_in: bool = False
    """hear the person while the skill speaks: an answer or "stop" cuts the skill short"""
    input_device: str | None = None
    """sounddevice input device name or index; None is the system default"""

    engine: str = "auto"
    """auto | vosk | whisper | pocketsphinx"""
    vosk_model_path: Path | None = None
    """explicit Vosk model folder (VOSK_MODEL_PATH overrides the config file)"""

    notify_command: tuple[str, ...] = ()
    """argv run (no shell) on an escalation, message on stdin; empty means off"""
    notify_timeout_s: float = 10.0
    """the notify command is killed after this"""

    log_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    """where session logs (JSON lines) are appended"""
    log_enabled: bool = True

    @property
    def emergency_number_spoken(self) -> str:
        """Digits one by one, so the engine says "nine one one", not "nine hundred eleven"."""
        return " ".join(self.emergency_number)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated."""
        return validate(dataclasses.replace(self, **changes))


def config_path() -> Path:
    """The user's config file (TOML); it need not exist."""
    env = os.environ.get("VOICE_SKILL_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def validate(s: Settings) -> Settings:
    """Reject settings that would make the skill unsafe or unusable, naming the field."""
    if not re.fullmatch(r"\d{2,6}", s.emergency_number):
        raise VoiceSkillError(
            f"emergency_number must be 2-6 digits (e.g. {', '.join(EMERGENCY_NUMBERS[:3])}),"
            f" got {s.emergency_number!r}"
        )
    if s.engine not in ENGINES:
        raise VoiceSkillError(f"engine must be one of {', '.join(ENGINES)}, got {s.engine!r}")
    if s.frame_ms not in (10, 20, 30):
        raise VoiceSkillError(f"frame_ms must be 10, 20 or 30, got {s.frame_ms}")
    if not 0 < s.slower_factor < 1:
        raise VoiceSkillError(f"slower_factor must be between 0 and 1, got {s.slower_factor}")
    if s.max_reprompts < 0:
        raise VoiceSkillError(f"max_reprompts must be 0 or more, got {s.max_reprompts}")
    return s


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then the config file (if any), then VOSK_MODEL_PATH, then the CLI overrides."""
    path = path or config_path()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise VoiceSkillError(f"{path}: not valid TOML: {exc}") from exc
    known = {f.name: f for f in dataclasses.fields(Settings)}
    for key in values:
        if key not in known:
            raise VoiceSkillError(f"{path}: unknown setting {key!r}")
    if env_model := os.environ.get("VOSK_MODEL_PATH"):
        values["vosk_model_path"] = env_model
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("dialog_path", "vosk_model_path", "log_dir"):
        if isinstance(values.get(key), str):
            values[key] = Path(values[key]).expanduser()
    if "notify_command" in values:
        values["notify_command"] = tuple(values["notify_command"])
    if "emergency_number" in values:
        values["emergency_number"] = str(values["emergency_number"])
    try:
        return validate(Settings(**values))
    except TypeError as exc:
        raise VoiceSkillError(f"{path}: {exc}") from exc
