"""Every session leaves a record: append-only JSON lines, flushed per event, private to the user."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import IO, Any

from voice_skill.events import (
    Continued,
    Corrected,
    Escalated,
    InputClosed,
    Listening,
    Notice,
    Notified,
    NotSaid,
    RateChanged,
    Recognized,
    Reply,
    SessionEnded,
    SessionEvent,
    StateChanged,
    Timing,
    Unanswered,
    Understood,
    Waiting,
    WakeHeard,
)

EVENT_NAMES: dict[type, str] = {
    Reply: "said", StateChanged: "state", Escalated: "escalated", Notified: "notified",
    SessionEnded: "ended", RateChanged: "rate", Listening: "listening", Recognized: "heard",
    Understood: "intent", Unanswered: "no_input", Continued: "continuation",
    Corrected: "corrected", NotSaid: "not_said", InputClosed: "input_closed", Timing: "timing",
    Notice: "notice", Waiting: "waiting", WakeHeard: "wake",
}
"""the "event" name of each kind in the JSON lines (the command-line contract)"""


def record(event: SessionEvent) -> dict[str, Any]:
    """One event as a flat JSON-able dict: {"event": "said", ...}."""
    data: dict[str, Any] = {"event": EVENT_NAMES[type(event)]}
    if isinstance(event, Recognized):
        data |= {**dataclasses.asdict(event.utterance), "state": event.state}
        if event.over_speech:
            data["over_speech"] = True
    elif isinstance(event, Understood):
        data |= {**dataclasses.asdict(event.intent), "state": event.state}
    else:
        data |= dataclasses.asdict(event)
        if isinstance(event, Reply):
            data.pop("speech")
    return data


class SessionLog:
    """Appends events to `<log_dir>/session-<start time>-<pid>.jsonl`; no audio is ever stored."""

    def __init__(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.path = log_dir / f"session-{stamp}-{os.getpid()}.jsonl"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # the user's alone
        self._file: IO[str] | None = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, event: SessionEvent) -> None:
        """Append one event, stamped with the local time, and flush it to disk."""
        if self._file is None:
            return
        stamped = {"time": dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
                   **record(event)}
        self._file.write(json.dumps(stamped, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the log file (later writes are ignored)."""
        if self._file is not None:
            self._file.close()
            self._file = None
