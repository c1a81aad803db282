"""Time for the dialogue: wall time for a person, virtual time for tests and replays."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic source of seconds."""

    def now(self) -> float: ...


class WallClock:
    """Real monotonic time."""

    def now(self) -> float:
        return time.monotonic()


class VirtualClock:
    """Time that moves only when told to, so a 15-minute ice timer passes at once."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"time cannot go backwards ({seconds} s)")
        self._now += seconds

    def advance_to(self, t: float) -> None:
        self._now = max(self._now, t)
