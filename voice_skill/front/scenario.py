"""Recorded-audio scenarios: the YAML format, loaded into frozen turns with expectations."""

from __future__ import annotations

import errno
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_skill.dialogue.dialog import Dialog
from voice_skill.errors import ScenarioError, VoiceSkillError
from voice_skill.settings import checked
from voice_skill.yamlfile import LineDict, YamlFileError, load_yaml

OUTCOMES = ("completed", "stopped", "escalated")
LEVELS = ("emergency", "urgent", "routine", "none")
MAX_SILENCE_S = 3 * 3600.0
"""a silent turn is at most this long (a 20-minute ice timer needs 1,200 s)"""
PAIN_VALUES = range(0, 11)
MAX_TURNS = 500
"""the longest scenario here has 26 turns; each silent one may run a timer for hours"""


@dataclass(frozen=True)
class Expect:
    """What should be true of one turn (every field optional)."""

    state: str | None = None
    """the state the skill was in when it heard this turn"""
    intent: str | None = None
    value: int | None = None
    reply: tuple[str, ...] = ()
    """dialogue keys ("states.rf_bladder.ask") or text fragments the skill says in answer"""
    escalation: str | None = None


@dataclass(frozen=True)
class Turn:
    """What the person does: says a recording, or stays silent for some seconds."""

    line: int
    audio: Path | None = None
    silence_s: float = 0.0
    expect: Expect = Expect()

    @property
    def label(self) -> str:
        """A short name for the turn in reports: its file name or the silence."""
        return self.audio.name if self.audio else f"{self.silence_s:g} s of silence"


@dataclass(frozen=True)
class Scenario:
    """A scenario file: turns, end expectations, and the engine it needs."""

    path: Path
    description: str
    turns: tuple[Turn, ...]
    outcome: str | None
    level: str | None
    said: tuple[str, ...]
    engine: str | None
    """vosk | whisper | pocketsphinx | None (whatever --engine / auto picks)"""
    settings: dict[str, Any]


def load_scenario(path: Path, dialog: Dialog, no_input_timeout_s: float) -> Scenario:
    """Load and check a scenario; a ScenarioError names the file and line."""
    try:
        raw = load_yaml(path)
    except YamlFileError as exc:
        raise ScenarioError(str(exc)) from None

    def fail(line: int, message: str) -> ScenarioError:
        return ScenarioError(f"{path}:{line}: {message}")

    if not isinstance(raw, LineDict):
        raise fail(1, "a scenario is a mapping with `turns:` (see docs/scenarios.md)")
    unknown = set(raw) - {"description", "engine", "settings", "turns", "end"}
    if unknown:
        key = sorted(unknown)[0]
        raise fail(raw.line_of(key), f"unknown field {key!r}")
    engine = raw.get("engine")
    if engine not in (None, "vosk", "whisper", "pocketsphinx"):
        raise fail(raw.line_of("engine"), "engine must be vosk, whisper or pocketsphinx")
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise fail(raw.line_of("settings"), "settings must be a mapping")
    try:  # checked now, so a bad one names this file, not the replay that would crash on it
        checked(dict(settings), f"{path}:{raw.line_of('settings')}: settings")
    except VoiceSkillError as exc:
        raise ScenarioError(str(exc)) from None
    raw_turns = raw.get("turns")
    if not isinstance(raw_turns, list) or not 0 < len(raw_turns) <= MAX_TURNS:
        raise fail(raw.line_of("turns"), f"turns must be a list of 1 to {MAX_TURNS} turns")

    turns = []
    for i, t in enumerate(raw_turns, 1):
        line = t.line if isinstance(t, LineDict) else raw.line_of("turns")
        if not isinstance(t, LineDict):
            raise fail(line, f"turn {i}: must be a mapping with `say:` or `silence:`")
        bad = set(t) - {"say", "silence", "wait", "expect"}
        if bad or ("say" in t) == ("silence" in t or "wait" in t):
            raise fail(line, f"turn {i}: needs exactly one of `say: FILE.wav` or `silence: SECONDS`"
                             + (f" (unknown: {', '.join(sorted(bad))})" if bad else ""))
        audio = None
        silence_s = 0.0
        if "say" in t:
            audio = _audio(path, t["say"], fail, t.line_of("say"), i)
        else:
            value = t.get("silence", t.get("wait"))
            value = no_input_timeout_s if value is None else value
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not 0 < value <= MAX_SILENCE_S):  # not NaN either
                raise fail(line, f"turn {i}: silence must be a number of seconds, over 0 and at"
                                 f" most {MAX_SILENCE_S:,.0f}")
            silence_s = float(value)
        turns.append(Turn(line, audio, silence_s, _expect(t.get("expect"), dialog, fail, line, i)))

    end = raw.get("end") or LineDict()
    if not isinstance(end, LineDict):
        raise fail(raw.line_of("end"), "end must be a mapping")
    bad_end = sorted(set(end) - {"outcome", "level", "said"})
    if bad_end:
        raise fail(end.line_of(bad_end[0]), f"end: unknown field {bad_end[0]!r}")
    if end.get("outcome") not in (None, *OUTCOMES):
        raise fail(end.line_of("outcome"), f"outcome must be one of {', '.join(OUTCOMES)}")
    level = end.get("level")
    if level is not None and level not in LEVELS:
        raise fail(end.line_of("level"), f"level must be one of {', '.join(LEVELS)}")
    said = end.get("said") or []
    _check_keys(said if isinstance(said, list) else [said], dialog, fail, end.line_of("said"))
    return Scenario(path, str(raw.get("description", "")), tuple(turns), end.get("outcome"),
                    None if level is None else str(level),
                    tuple(str(s) for s in (said if isinstance(said, list) else [said])),
                    engine, dict(settings))


def _expect(raw: Any, dialog: Dialog, fail: Any, line: int, i: int) -> Expect:
    if raw is None:
        return Expect()
    if not isinstance(raw, LineDict):
        raise fail(line, f"turn {i}: expect must be a mapping")
    bad = set(raw) - {"state", "intent", "value", "reply", "escalation"}
    if bad:
        raise fail(raw.line_of(sorted(bad)[0]), f"turn {i}: unknown expectation {sorted(bad)[0]!r}")
    state = raw.get("state")
    if state is not None and (not isinstance(state, str) or state not in dialog.states):
        raise fail(raw.line_of("state"), f"turn {i}: unknown state {state!r}")
    intent = raw.get("intent")
    known = {*dialog.intents, "no_match"}
    if intent is not None and (not isinstance(intent, str) or intent not in known):
        raise fail(raw.line_of("intent"), f"turn {i}: unknown intent {intent!r}")
    reply = raw.get("reply") or []
    reply = reply if isinstance(reply, list) else [reply]
    _check_keys(reply, dialog, fail, raw.line_of("reply"))
    escalation = raw.get("escalation")
    if escalation is not None and escalation not in LEVELS:
        raise fail(raw.line_of("escalation"), f"turn {i}: escalation must be one of {LEVELS}")
    value = raw.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value not in PAIN_VALUES):
        raise fail(raw.line_of("value"), f"turn {i}: value must be a pain score, a whole number"
                                         " from 0 to 10")
    return Expect(state, intent, value, tuple(str(r) for r in reply), escalation)


def _audio(path: Path, say: Any, fail: Any, line: int, i: int) -> Path:
    """The recording a turn says, relative to the scenario: a regular file that exists."""
    if not isinstance(say, str) or not say.strip() or "\0" in say:
        raise fail(line, f"turn {i}: say must name a WAV file")
    name = say if len(say) <= 80 else say[:60] + "..."  # in the message
    try:
        audio = (path.parent / say).resolve()
        mode = audio.stat().st_mode
    except FileNotFoundError:
        raise fail(line, f"turn {i}: audio file not found: {name}") from None
    except RuntimeError:  # a loop of symbolic links (Python 3.11's resolve)
        raise fail(line, f"turn {i}: audio file {name} is a loop of symbolic links") from None
    except OSError as exc:  # the loop again (stat), a name too long, no permission
        why = "is a loop of symbolic links" if exc.errno == errno.ELOOP else \
            f"cannot be used: {exc.strerror}"
        raise fail(line, f"turn {i}: audio file {name} {why}") from None
    if not stat.S_ISREG(mode):
        raise fail(line, f"turn {i}: audio file {name} is not a regular file")
    return audio


def _check_keys(items: list[Any], dialog: Dialog, fail: Any, line: int) -> None:
    """A reply expectation that looks like a key must name a real prompt."""
    for item in items:
        text = str(item)
        parts = text.split(".")
        if parts[0] == "messages" and len(parts) == 2 and parts[1] not in dialog.messages:
            raise fail(line, f"unknown message key {text!r}")
        if parts[0] == "states" and len(parts) >= 3 and parts[1] not in dialog.states:
            raise fail(line, f"unknown state in key {text!r}")
