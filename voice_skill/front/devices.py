"""Microphones and speakers by name: what is there, and a sound check through both."""

from __future__ import annotations

import difflib
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_skill.hearing.audio import (
    PIPELINE_RATE_HZ,
    MicrophoneSource,
    check_device,
    device_table,
    list_devices,
)
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer
    from voice_skill.speaking.tts import Speaker

HEARD_ABOVE_DB = 10.0
"""the microphone heard the speaker when it was this much louder during the phrase than before"""
QUIET_BEFORE_S = 0.6
"""room sound recorded before the phrase, for the comparison (seconds)"""
CLEAR_ABOVE = 0.6
"""the words came back clearly when this share of the phrase's letters did. Whisper tiny.en
hears the synthetic voice through a loopback as "... first 8 guys in sound check 1 2 3" or
"... guidance soundcheck ...": 0.8-0.9; a word-for-word check failed 1 run in 12"""
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class SoundCheck:
    """What the microphone picked up while the speaker played a phrase."""

    heard: bool
    level_db: float
    """loudness while the phrase played (dB below full scale)"""
    room_db: float
    """loudness before it (dB below full scale)"""
    words: str
    """what the recognizer made of it ("" when nothing)"""
    phrase: str = ""
    """what the speaker played"""

    @property
    def clarity(self) -> float:
        """How much of the phrase came back, 0 to 1: its letters matched in order, with
        digits read as words ("1 2 3" is "one two three") and spaces ignored ("soundcheck")."""
        said, heard = _letters(self.phrase), _letters(self.words)
        if not said or not heard:
            return 0.0
        blocks = difflib.SequenceMatcher(None, said, heard, autojunk=False).get_matching_blocks()
        return sum(b.size for b in blocks) / len(said)


def _letters(text: str) -> str:
    """The text's letters only, lower case, each digit spelled out."""
    spelled = "".join(_DIGITS[int(c)] if c.isdigit() else c for c in text.lower())
    return "".join(c for c in spelled if c.isalpha())


def sound_check(settings: Settings, speaker: Speaker, phrase: str,
                recognizer: Recognizer | None = None) -> SoundCheck:
    """Play `phrase` through the speaker while recording the microphone; was it heard?"""
    check_device(settings.input_device, "input")
    check_device(settings.output_device, "output")
    mic = MicrophoneSource(settings)
    frames: list[np.ndarray] = []
    marks: dict[str, int] = {}
    done = threading.Event()

    def record() -> None:
        while not done.is_set():
            frame = mic.read(0.5)
            if frame is not None:
                frames.append(frame)

    recorder = threading.Thread(target=record, name="voice-skill-sound-check", daemon=True)
    try:
        recorder.start()
        time.sleep(QUIET_BEFORE_S)
        marks["start"] = len(frames)
        speaker.say(phrase)
        time.sleep(0.3)  # the tail of the phrase through the device's buffers
    finally:
        done.set()
        recorder.join(5)
        mic.close()
    audio = np.concatenate(frames) if frames else np.zeros(0, np.int16)
    split = marks.get("start", 0) * mic.frame_samples
    room, played = audio[:split], audio[split:]
    level, quiet = _db(played), _db(room)
    words = ""
    if recognizer is not None and len(played) > PIPELINE_RATE_HZ // 4:
        words = recognizer.recognize(played, None).text
    return SoundCheck(level - quiet >= HEARD_ABOVE_DB, round(level, 1), round(quiet, 1), words,
                      phrase)


def _db(audio: np.ndarray) -> float:
    """Root-mean-square level in dB below full scale (-100 for silence)."""
    if not len(audio):
        return -100.0
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) / 32768.0
    return 20 * math.log10(rms) if rms > 1e-5 else -100.0


def devices_command(settings: Settings, check: bool, announce: Any = print) -> int:
    """`voice-skill devices [--check]`: list the devices; with --check, a sound check."""
    devices = list_devices()
    announce(device_table(devices))
    if not any(d.inputs or d.outputs for d in devices):
        announce("No sound devices here. Plug in a USB microphone and speaker; on a Raspberry Pi "
                 "check that `arecord -l` and `aplay -l` list them and that you are in the audio "
                 "group (`id -nG`).")
    if not check:
        return 0
    from voice_skill.dialogue.dialog import load_dialog
    from voice_skill.errors import VoiceSkillError
    from voice_skill.hearing.recognizers import recognizer_for
    from voice_skill.speaking.tts import Pyttsx3Speaker

    dialog = load_dialog(settings.dialog_path)
    phrase = dialog.messages.get("sound_check")
    if phrase is None:
        raise VoiceSkillError(f"{dialog.path}: messages.sound_check is missing (the phrase the "
                              "sound check plays)")
    speaker = Pyttsx3Speaker(settings)
    try:
        result = sound_check(settings, speaker, phrase, recognizer_for(settings))
    finally:
        speaker.close()
    mic = settings.input_device or "the default microphone"
    out = settings.output_device or "the default speaker"
    if result.heard:
        clear = ("" if result.clarity >= CLEAR_ABOVE else "; the words did not come back "
                 "clearly: bring the microphone nearer the speaker, or lower the noise")
        announce(f"Sound check: {mic} heard {out} ({result.level_db:.0f} dBFS while it spoke, "
                 f"{result.room_db:.0f} dBFS before); recognized: {result.words or '(no words)'} "
                 f"({result.clarity:.0%} of the phrase){clear}")
        return 0
    announce(f"Sound check: {mic} did not hear {out} ({result.level_db:.0f} dBFS while it spoke, "
             f"{result.room_db:.0f} dBFS before). Is the speaker on and loud enough, and the "
             "microphone near it? Choose others with --input-device / --output-device.")
    return 1
