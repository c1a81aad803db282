"""The small frozen events the pipeline stages exchange, one direction of flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["emergency", "urgent", "routine"]
Outcome = Literal["completed", "stopped", "escalated"]


@dataclass(frozen=True)
class Utterance:
    """What the recognizer heard in one stretch of speech."""

    text: str
    confidence: float = 1.0
    """mean word confidence, 0..1"""
    audio_s: float = 0.0
    """length of the speech segment (seconds)"""
    decode_s: float = 0.0
    """wall time spent recognizing after the end of speech (seconds)"""
    speech_to_noise_db: float | None = None
    """how far the speech stood above the room's noise (dB); None: not measured (typed)"""


@dataclass(frozen=True)
class Intent:
    """What an utterance means in the current state: `yes`, `no`, `pain` (value 0-10) ..."""

    name: str
    value: int | None = None
    confidence: float = 1.0
    text: str = ""
    also: tuple[str, ...] = ()
    """other red-flag questions whose symptom the words state ("no, but my chest hurts")"""
    understood: bool = True
    """False for a no_match that was a sentence, heard but not understood: on a red flag it is
    asked about in plain words"""
    why: tuple[str, ...] = ()
    """on a red flag, how the reading decided, clause by clause ("rf_bladder stated (effect):
    'it just came out'"), so a wrong reading can be understood from the session log alone"""
    in_noise: bool = False
    """heard through loud noise: the person is asked, once, to answer louder"""


@dataclass(frozen=True)
class NoInput:
    """The person said nothing before the listening timeout."""


InputEvent = Intent | NoInput


@dataclass(frozen=True)
class Reply:
    """Something the skill says: `key` names the prompt in the dialogue file."""

    key: str
    text: str
    state: str
    expects_answer: bool = False
    speech: str = ""
    """what the speaker should say when it differs from `text` (digits read one by one)"""
    spoken_by: Literal["worker", "fallback", "printed"] = "printed"
    """how the words went out: spoken by the speech worker, spoken by espeak-ng called
    directly (the worker could not), or only shown (`spoken` in the JSON lines)"""

    @property
    def spoken(self) -> str:
        """What the speaker says: the spoken form when it differs from the text."""
        return self.speech or self.text


@dataclass(frozen=True)
class RateChanged:
    """The person asked the skill to speak more slowly."""

    rate_factor: float


@dataclass(frozen=True)
class StateChanged:
    """The dialogue moved from one state to another."""

    source: str
    dest: str


@dataclass(frozen=True)
class Escalated:
    """A red flag (or an emergency command) raised an escalation."""

    level: Level
    reason: str
    state: str


@dataclass(frozen=True)
class Notified:
    """The contact-notify hook ran (or failed: `ok` is False and `detail` says why)."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class SessionEnded:
    """The session is over."""

    outcome: Outcome
    level: Level | None
    summary: dict[str, object] = field(default_factory=dict)


Output = Reply | RateChanged | StateChanged | Escalated | Notified | SessionEnded


# ---- what a session reports to its sinks (the log, --json, the console, a replay's checks)


@dataclass(frozen=True)
class Listening:
    """The skill has finished speaking and waits for an answer: a cue for testers and tools."""

    state: str


@dataclass(frozen=True)
class Recognized:
    """Speech heard in a state, as the recognizer wrote it."""

    utterance: Utterance
    state: str
    over_speech: bool = False
    """said while the skill was speaking (barge-in)"""


@dataclass(frozen=True)
class Understood:
    """What the words heard mean in the state they were answered in."""

    intent: Intent
    state: str


@dataclass(frozen=True)
class Unanswered:
    """A question went unanswered: silence to the no-input limit, or an empty answer."""

    state: str


@dataclass(frozen=True)
class Continued:
    """More of an answer already taken ("yes ... yes"): it stands."""

    text: str
    state: str


@dataclass(frozen=True)
class Corrected:
    """The person went on after a quick end and changed the answer ("three ... seven")."""

    text: str
    state: str


@dataclass(frozen=True)
class NotSaid:
    """A reply left unsaid because the person spoke over the skill."""

    key: str
    state: str


@dataclass(frozen=True)
class InputClosed:
    """The input ended (`end`), the person pressed Ctrl-C (`interrupted`), or SIGTERM / SIGHUP
    asked the skill to stop (`signal`: `systemctl stop`, a closed terminal)."""

    why: Literal["end", "interrupted", "signal"]


@dataclass(frozen=True)
class Timing:
    """Where the time went from the end of the person's speech to the reply's first audio."""

    end_silence_s: float
    recognize_s: float
    dialogue_s: float
    tts_first_audio_s: float | None
    voice_ended_at: float | None = None
    """time.perf_counter() (CLOCK_MONOTONIC) when the last frame the detector called voice was
    read: after it, the endpointer waited for quiet"""
    ended_at: float | None = None
    """time.perf_counter() when the end of the turn was decided"""
    first_audio_at: float | None = None
    """time.perf_counter() when the reply's first audio started"""
    quiet_s: float | None = None
    """the quiet (audio seconds) that ended the turn: the quick, full or patient end silence"""
    judge_wait_s: float | None = None
    """wall time the endpointer stood waiting for the decode made at the pause"""
    pause_decodes: int = 0
    """decodes made at pauses, while the person could still go on"""
    decodes_after: int = 0
    """decodes (and clear-answer checks) made after the end: 0 when the pause's decode held"""


@dataclass(frozen=True)
class Notice:
    """A plain-words notice about an engine or device ("The microphone stopped working ...")."""

    text: str


@dataclass(frozen=True)
class Waiting:
    """`voice-skill serve` waits for a start phrase."""

    start_phrases: tuple[str, ...]


@dataclass(frozen=True)
class WakeHeard:
    """A waiting speaker heard a start phrase (`start`) or a call for help (`emergency`)."""

    kind: Literal["start", "emergency"]
    text: str
    confidence: float
    by: Literal["phrase", "wake word"] = "phrase"
    """what heard it: Whisper (a start phrase or a call for help) or the trained wake word"""
    sure: bool = True
    """False for a call for help heard unsurely or inside a stretch of someone's talk: the
    session asks about it before it gives the emergency instruction"""


SessionEvent = (Output | Listening | Recognized | Understood | Unanswered | Continued | Corrected
                | NotSaid | InputClosed | Timing | Notice | Waiting | WakeHeard)
"""everything a session tells its sinks; only the log and --json turn it into JSON"""
