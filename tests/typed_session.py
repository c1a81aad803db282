"""Typed sessions for the fail-safe tests: in-process on a virtual clock, or the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.events import SessionEnded, SessionEvent, Utterance
from voice_skill.hearing.listening import EndOfInput, Heard
from voice_skill.session import Session
from voice_skill.settings import Settings
from voice_skill.speaking.tts import NullSpeaker

SKILL = [sys.executable, "-m", "voice_skill"]
# "yes" to the opening, "no" to the first four red flags, then "yes" to the fifth (chest pain,
# an emergency): the tester's full disk died at the fourth and lost this "yes"
FIFTH_FLAG_YES = ["yes", "no", "no", "no", "no", "yes"]
TYPED_FIFTH_FLAG_YES = FIFTH_FLAG_YES[1:]
"""the same to `voice-skill run --text`, which asks no hearing check"""


class Typed:
    """Typed answers in-process, on a virtual clock: one line per listen, then the end."""

    no_input_timeout_s: float | None = None

    def __init__(self, lines: list[str], clock: VirtualClock) -> None:
        self.lines, self.clock = list(lines), clock

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        if not self.lines:
            raise EndOfInput
        self.clock.advance(2.0)
        return Heard(Utterance(self.lines.pop(0)))


def session(lines: list[str], sinks: list[Callable[[SessionEvent], None]],
            speaker: NullSpeaker | None = None) -> tuple[SessionEnded, NullSpeaker]:
    """A whole typed session in-process: how it ended, and what it said."""
    clock = VirtualClock()
    said = speaker or NullSpeaker()
    run = Session(load_dialog(), Settings(), clock, Typed(lines, clock), said, sinks)
    return run.run(), said


def whole_lines(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"a half-written line: {data[-80:]!r}"
    return [json.loads(line) for line in data.splitlines()]



def until(proc: subprocess.Popen[bytes], kind: str) -> list[dict[str, object]]:
    assert proc.stdout is not None
    seen = []
    while line := proc.stdout.readline():
        seen.append(json.loads(line))
        if seen[-1]["event"] == kind:
            return seen
    raise AssertionError(f"no {kind!r} event; stderr: {proc.stderr.read() if proc.stderr else ''}")
