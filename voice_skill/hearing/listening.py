"""What every front end gives the session: a listener, and what one listen heard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voice_skill.events import Utterance

NOISY_BELOW_DB = 15.0
"""speech less than this far above the room's noise (speech_to_noise_db) was heard through
loud noise. Real answers replayed across simulated rooms with household noise 10 dB under the
voice measure 5.9-13.5 dB (5th-95th percentile; 5 dB: 3.0-10.0); as recorded close up, in
people's own rooms, 95 % of real yes / no / stop are 15 dB or more above their background"""


def in_noise(u: Utterance) -> bool:
    """Whether an answer was heard through loud noise (its speech_to_noise_db was measured)."""
    return u.speech_to_noise_db is not None and u.speech_to_noise_db < NOISY_BELOW_DB


class EndOfInput(Exception):
    """The input is closed (end of typed input, Ctrl-D, or the scenario has no more turns)."""


class Listener(Protocol):
    """Where answers come from."""

    no_input_timeout_s: float | None
    """silence after which a question counts as unanswered; None: only an explicit empty answer"""

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        """Wait up to `timeout_s` (None: no limit) for the next answer. Raises EndOfInput.

        `phrases` is the state's grammar (None: free dictation); `hint` is the question the
        person was asked (a recognizer may use it as context).
        """
        ...


@dataclass(frozen=True)
class TurnTiming:
    """Where the wait after the person's last word went, for the session log's `timing`."""

    voice_ended_at: float
    """time.perf_counter() when the last frame the detector called voice was read"""
    quiet_s: float
    """the quiet (audio seconds) that ended the turn"""
    judge_wait_s: float = 0.0
    """wall time the endpointer stood waiting for the decode made at the pause"""
    pause_decodes: int = 0
    """decodes made at pauses, while the person could still go on"""
    decodes_after: int = 0
    """decodes (and clear-answer checks) made after the end"""


@dataclass(frozen=True)
class Heard:
    """What one listen() produced: an utterance, an explicit "nothing" (empty line), or a timeout."""

    utterance: Utterance | None = None
    empty: bool = False
    """the person explicitly gave no answer (an empty line)"""
    ended_at: float | None = None
    """time.perf_counter() when the end of speech was decided (for latency)"""
    unavailable: bool = False
    """the input device is down: silence here is not the person's silence"""
    over_speech: bool = False
    """said while the skill was speaking (barge-in)"""
    timing: TurnTiming | None = None
    """where the wait after the last word went (audio input only)"""
    continues: bool = False
    """the rest of the last answer, begun before its full end silence had passed; the
    utterance is the whole of it ("three ... seven")"""
