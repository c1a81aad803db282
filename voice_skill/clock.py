"""Time for the dialogue: wall time for a person, virtual time for tests and replays."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic source of seconds."""

    def now(self) -> float:
        """Seconds since an arbitrary start."""


class WallClock:
    """Real monotonic time."""

    def now(self) -> float:
        """Seconds of real monotonic time."""
        return time.monotonic()


class VirtualClock:
    """Time that moves only when told to, so a 15-minute ice timer passes at once."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        """The virtual time (seconds)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` (never back)."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards ({seconds} s)")
        self._now += seconds

    def advance_to(self, t: float) -> None:
        """Move time on to `t`, unless it is already later."""
        self._now = max(self._now, t)
