"""What every front end gives the session: a listener, and what one listen heard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voice_skill.events import Utterance


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
    continues: bool = False
    """the rest of the last answer, begun before its full end silence had passed; the
    utterance is the whole of it ("three ... seven")"""
