"""Settings, defined once as a frozen dataclass; read from the user's config file and the CLI."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import platformdirs

from voice_skill.errors import TextFileError, VoiceSkillError
from voice_skill.textfile import read_text

APP_NAME = "voice-skill"

ENGINES = ("auto", "vosk", "whisper", "pocketsphinx")
"""speech recognizers (the Engine type); auto picks the measured best that loads: the bundled
Whisper tiny.en, then Vosk, then PocketSphinx"""

MAX_CONFIG_BYTES = 64 * 1024
"""a settings file is a few lines; anything bigger is not one"""

EMERGENCY_NUMBERS = ("911", "112", "999", "000", "111", "119", "110", "102", "108")
"""Common numbers; any other of 2-6 digits is accepted too, these are the documented ones."""
EMERGENCY_NUMBER_RULE = "2-6 digits 0-9 (ASCII), e.g. 911, 112, 999"
"""Only ASCII digits: the speech engine says "٩١١" or "９１１" as nothing ("Please call now")"""


def _range(low: float | None = None, high: float | None = None, *, open_low: bool = False,
           what: str = "") -> msgspec.Meta:
    """A checked range; its description is the "allowed" part of an error message."""
    lo = "" if low is None else f"{'over' if open_low else 'at least'} {low:g}"
    hi = "" if high is None else f"at most {high:g}"
    text = " and ".join(x for x in (lo, hi) if x) + (f" {what}" if what else "")
    if open_low:
        return msgspec.Meta(gt=low, le=high, description=text)
    return msgspec.Meta(ge=low, le=high, description=text)


def _seconds(low: float, high: float) -> msgspec.Meta:
    return _range(low, high, what="seconds")


Share = Annotated[float, _range(0, 1)]
Engine = Literal["auto", "vosk", "whisper", "pocketsphinx"]
WakeWord = Literal["", "alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"]
WAKE_WORDS = ("", "alexa", "hey_jarvis", "hey_mycroft", "okay_nabu")
"""the trained wake words of models/wake_words/ ("": none)"""


@dataclass(frozen=True)
class Settings:
    """Everything a session can be tuned by; units are in the names, each type and range checked."""

    emergency_number: Annotated[str, msgspec.Meta(
        pattern=r"^[0-9]{2,6}\Z", description=EMERGENCY_NUMBER_RULE)] = "911"
    """number the skill tells the person to call (911, 112, 999 ...)"""
    dialog_path: Path | None = None
    """dialogue file; None means the bundled back_spasm.yaml"""

    speech_rate_wpm: Annotated[int, _range(60, 400, what="words per minute")] = 140
    """speaking rate (words per minute); espeak-ng's default is 175, slower is calmer"""
    slower_factor: Annotated[float, msgspec.Meta(gt=0, lt=1, description="between 0 and 1")] = 0.8
    """each "slower" multiplies the rate by this"""
    min_rate_factor: Annotated[float, _range(0, 1, open_low=True)] = 0.5
    """"slower" never goes below this share of the starting rate"""
    voice: str | None = None
    """pyttsx3 voice id; None is the engine's default"""
    volume: Annotated[float, _range(0.05, 1, what="(0 would be silent)")] = 1.0
    """speech volume, 0.05..1"""
    tts_timeout_s: Annotated[float, _seconds(5, 300)] = 20.0
    """a reply the engine has not spoken by then counts as a hung engine (at least 5 s: a long
    sentence at the slowest rate takes that; below it every reply would count as hung)"""

    max_reprompts: Annotated[int, _range(0, 5)] = 2
    """re-asks after no input or no match before the safe default"""
    noisy_extra_reprompts: Annotated[int, _range(0, 3)] = 1
    """more re-asks of a red-flag question (and of its confirmation) once the person has been
    asked to speak up over loud noise: the chance to answer louder before the safe default"""
    low_confidence: Share = 0.55
    """below this, an answer to a red-flag question is confirmed"""
    emergency_repeat_s: Annotated[float, _seconds(15, 600)] = 60.0
    """how often the emergency instruction is repeated while the session lasts (at least 15 s:
    the instruction takes about 10 s to say, and 1e-300 fired every repeat at once and ended
    the emergency; at most 10 minutes, or the person is left alone with it)"""
    emergency_max_repeats: Annotated[int, _range(0, 100)] = 10
    """after this many repeats the session ends (the instruction has stood for ~10 minutes)"""
    max_pause_s: Annotated[float, _seconds(30, 3600)] = 1800.0
    """a pause longer than this ends the session politely, or on a red-flag question asks it
    again (at least 30 s: time to fetch the ice; at most an hour)"""
    timer_scale: Annotated[float, _range(0.01, 1)] = 1.0
    """the ice or heat time is multiplied by this: 0.05 makes 20 minutes one minute, for a trial
    (at least 0.01: 20 minutes become 12 s; less fires every cue of a timer at once)"""

    frame_ms: Literal[10, 20, 30] = 30
    """endpointing frame length (milliseconds): 10, 20 or 30 for the VAD"""
    vad: Literal["micro", "webrtc", "silero", "silero-only"] = "silero"
    """voice-activity detection: silero (webrtcvad starts the turn, Silero VAD ends it when the
    voice stops: in household noise the turn ends 0.65 s after the words instead of 1.15 s,
    room benchmark), micro (webrtcvad, overruled by micro-vad where it takes steady household
    noise for speech), webrtc (webrtcvad alone) or silero-only (Silero VAD starts and ends the
    turn: it missed a third of real no's at 5 dB)"""
    vad_aggressiveness: Annotated[int, _range(0, 3)] = 2
    """webrtcvad mode 0..3; higher rejects more noise as non-speech"""
    end_silence_s: Annotated[float, _seconds(0.1, 5)] = 0.8
    """trailing silence that ends an utterance; generous for a person speaking through pain
    (0.1 s is three frames: less cuts words at every gap; over 5 s a reply never comes)"""
    quick_end_silence_s: Annotated[float, _seconds(0.1, 2)] = 0.25
    """after this much silence what was heard is decoded; a complete answer ends the turn here
    (under 0.1 s it would decode between syllables)"""
    patient_end_silence_s: Annotated[float, _seconds(0.2, 5)] = 1.2
    """trailing silence that ends an utterance that is not yet an answer ("I'd say...")
    (bounded as end_silence_s)"""
    max_utterance_s: Annotated[float, _seconds(1, 60)] = 12.0
    """an utterance is cut here even if the person keeps talking (at least 1 s: "yes" fits;
    at most a minute of audio held for one decode)"""
    no_input_timeout_s: Annotated[float, _seconds(3, 120)] = 8.0
    """silence after a question before it counts as no input (at least 3 s: a person in pain
    needs that to start an answer, and 5e-324 took the first answer for silence, then looped;
    at most 2 minutes, or a re-ask never comes)"""
    barge_in: bool = False
    """hear the person while the skill speaks: an answer or "stop" cuts the skill short"""
    safety_words_over_speech: bool = True
    """hear "stop", "help" and calls for help while the skill speaks, even from a person
    quieter than its echo; nothing else said over the skill is acted on (barge_in hears every
    answer). A "stop" heard so is asked about before the session ends, an unsure "help" too.
    On by default: off, a "help" said while the guide talks was lost; on, no noisy whole
    session has been ended by it or sent to the emergency number (docs/benchmarks.md). It
    costs each reply 0.24 s more to its first sound (the output stream kept open)"""
    echo_cancel: Literal["skill", "server"] = "skill"
    """who takes the skill's own voice out of the microphone while it talks (barge_in,
    safety_words_over_speech): skill (its own: every reply on one output stream kept open, placed
    where it began on it, the echo's path fitted where it is short, then Speex) or server (the
    sound server's, e.g. PulseAudio's or PipeWire's module-echo-cancel with webrtc, set as the
    default microphone and speaker, README: it sees the real playback clock and left the echo
    66 dB down, but webrtc-audio-processing 0.3's suppressor also takes out a person under the
    echo, docs/benchmarks.md)"""
    input_device: str | None = None
    """microphone: a device name (or part of it) or index from `voice-skill devices`; None is
    the system default"""
    output_device: str | None = None
    """speaker: a device name (or part of it) or index from `voice-skill devices`; None is the
    system default"""
    start_phrases: tuple[str, ...] = ()
    """what starts a session when `voice-skill serve` waits (empty: the dialogue's `wake.start`)"""
    wake_word: WakeWord = ""
    """a trained wake word (models/wake_words/) that also starts a session when `voice-skill
    serve` waits, beside the start phrases; "" for the start phrases alone"""
    wake_word_cutoff: Share = 0.0
    """the trained wake word is heard when its averaged probability exceeds this; 0 takes the
    model's own (alexa 0.9). Lower hears more across a room and in noise, and fires more on
    other sound (docs/benchmarks.md)"""

    engine: Engine = "auto"
    """auto | vosk | whisper | pocketsphinx"""
    vosk_model_path: Path | None = None
    """explicit Vosk model folder (VOSK_MODEL_PATH overrides the config file)"""

    notify_command: tuple[str, ...] = ()
    """argv run (no shell) on an escalation, message on stdin; empty means off"""
    notify_timeout_s: Annotated[float, _seconds(1, 300)] = 10.0
    """the notify command is killed after this (at least 1 s: a program needs that to start; at
    most 5 minutes). A session that ends first gives it only a short grace (notify.py)"""

    log_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    """where session logs (JSON lines) are appended"""
    log_enabled: bool = True

    front_end_gain_dbfs: Annotated[int, _range(0, 31, what="dB below full scale (0: off)")] = 0
    """WebRTC automatic gain's target before hearing (0 off; Home Assistant's satellites use 5):
    a person 3 m away arrives 20 dB quieter than one at the bed's edge"""
    front_end_noise_suppression: Annotated[int, _range(0, 4, what="(0: off)")] = 0
    """WebRTC noise suppression before hearing, 0 (off) to 4 (strongest; satellites use 2):
    strong levels eat the soft ends of short words"""
    front_end_detector_only: bool = False
    """the cleaned sound goes to the voice-activity detector only and the recognizer hears the
    microphone as it is (noise suppression can hurt recognition more than it helps)"""
    keyword_judge: bool = True
    """a second opinion on one-word answers from a small keyword judge trained for yes, no and
    stop (models/keyword_judge/): a set-aside or near-miss yes/no it is sure of is confirmed
    instead of asked again, a red-flag "no" it hears as no answer ("go") is confirmed, and a
    "stop" it is very sure of where Whisper heard nothing is asked about, never acted on unasked"""

    @property
    def emergency_number_spoken(self) -> str:
        """Digits one by one, so the engine says "nine one one", not "nine hundred eleven"."""
        return " ".join(self.emergency_number)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, checked."""
        return checked({**_values(self), **changes}, "settings")


def config_path() -> Path:
    """The user's config file (TOML); it need not exist."""
    env = os.environ.get("VOICE_SKILL_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


_HINTS = {
    "notify_command": 'a list of words, e.g. ["/usr/local/bin/text-my-sister", "--urgent"] (no shell)',
    "log_dir": 'a folder from / or ~, e.g. "~/voice-skill-logs"',
}
"""what to write instead, for a setting people tend to get wrong"""


def _values(s: Settings) -> dict[str, Any]:
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


def _to_path(kind: type, value: Any) -> Any:
    """Paths are written as text in a config file."""
    if kind is Path and isinstance(value, (str, Path)):
        if not str(value).strip():  # Path("") is the working directory
            raise ValueError("an empty path")
        if "\0" in str(value):
            raise ValueError("a path holds a NUL character")
        try:
            return Path(value).expanduser()
        except RuntimeError:  # "~someone" with no such user
            raise ValueError(f"no user's home folder is {str(value).split('/')[0]}") from None
    raise TypeError(f"expected a path (text), got {type(value).__name__}")


def _allowed(name: str) -> str:
    """What a field accepts, in words: its type and its range or choices."""
    hints = typing.get_type_hints(Settings, include_extras=True)
    kind = hints.get(name)
    if name in _HINTS:
        return _HINTS[name]
    metas = [m for m in typing.get_args(kind) if isinstance(m, msgspec.Meta)]
    if metas and metas[0].description:
        return metas[0].description
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(str(c) if c != "" else "\"\" (none)" for c in typing.get_args(kind))
    base = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    return base.get(kind, str(kind).replace("typing.", "").replace("pathlib.", ""))  # type: ignore[arg-type]


def checked(values: dict[str, Any], where: str) -> Settings:
    """Settings from plain values, every field checked; the error names the field and the rule."""
    known = {f.name for f in dataclasses.fields(Settings)}
    for key in values:
        if key not in known:
            raise VoiceSkillError(f"{where}: unknown setting {key!r}"
                                  f" (known: {', '.join(sorted(known))})")
    try:
        settings = msgspec.convert(values, Settings, strict=True, dec_hook=_to_path)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `$.")
        name = at.rstrip("`").split("[")[0].split(".")[0]
        message = message.replace("`", "")
        said = ", got " in message or message[:1].islower()  # a type, or a reason of _to_path
        kind = f" ({message[:1].lower()}{message[1:]})" if said else ""
        raise _refused(where, name, values.get(name), kind, _allowed(name)) from None
    if problem := _problem(settings):
        name, why = problem
        raise _refused(where, name, values.get(name), f" ({why})", _allowed(name))
    return settings


def _refused(where: str, name: str, value: Any, why: str, allowed: str) -> VoiceSkillError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:60] + "..." + shown[-10:]  # one line
    return VoiceSkillError(f"{where}: setting {name} = {shown} is not allowed{why};"
                           f" allowed: {allowed}")


def _problem(s: Settings) -> tuple[str, str] | None:
    """What the types cannot say: a notify command that cannot run (found at the emergency,
    too late), a log folder that moves with the working directory, a NUL (no device, voice or
    program has one in its name: it raised where the text was finally used)."""
    for name, value in _values(s).items():
        words = value if isinstance(value, tuple) else (value,)
        if any(isinstance(w, str) and "\0" in w for w in words):
            return name, "a NUL character"
    if s.notify_command:
        program = s.notify_command[0]
        if not all(s.notify_command):
            return "notify_command", "an empty word"
        if os.sep in program:
            if not os.path.isfile(program):
                return "notify_command", f"{program!r} is not a file"
            if not os.access(program, os.X_OK):
                return "notify_command", f"{program!r} is not executable"
        elif shutil.which(program) is None:
            return "notify_command", f"{program!r} is not found on PATH"
    if not s.log_dir.is_absolute():
        return "log_dir", "a relative folder follows the working directory"
    return None


def validate(s: Settings) -> Settings:
    """The settings, checked again (after a change in code)."""
    return checked(_values(s), "settings")


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then the config file, then VOSK_MODEL_PATH, then the CLI overrides.

    An explicit `path` must exist; the default one may be missing (then only defaults apply).
    """
    explicit = path is not None
    path = path or config_path()
    values: dict[str, Any] = {}
    try:
        text = read_text(path, MAX_CONFIG_BYTES)
    except TextFileError as exc:
        if exc.reason != "file not found" or explicit:
            raise VoiceSkillError(str(exc) if exc.reason != "file not found"
                                  else f"{path}: settings file not found") from None
    else:
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise VoiceSkillError(f"{path}: not valid TOML: {exc}") from None
        except RecursionError:  # tomllib recurses on nested arrays and tables
            raise VoiceSkillError(f"{path}: not valid TOML: nested too deeply") from None
    if isinstance(values.get("emergency_number"), int):
        values["emergency_number"] = str(values["emergency_number"])  # 999 written as a number
    checked(values, str(path))  # the file on its own: its errors name the file
    if env_model := os.environ.get("VOSK_MODEL_PATH"):
        values["vosk_model_path"] = env_model
    cli = {k: v for k, v in overrides.items() if v is not None}
    return checked({**values, **cli}, "command line")
