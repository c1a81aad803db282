"""Every session leaves a record: append-only JSON lines, flushed per event, private to the user."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import IO, Any

from voice_skill.events import (
    Escalated,
    Intent,
    Notified,
    Output,
    RateChanged,
    Reply,
    SessionEnded,
    StateChanged,
    Utterance,
)


def record(item: Output | Intent | Utterance) -> dict[str, Any]:
    """One event as a flat JSON-able dict: {"event": "said", ...}."""
    kind = {
        Reply: "said", StateChanged: "state", Escalated: "escalated", Notified: "notified",
        SessionEnded: "ended", RateChanged: "rate", Intent: "intent", Utterance: "heard",
    }[type(item)]
    data = dataclasses.asdict(item)
    if isinstance(item, Reply):
        data.pop("speech")
    return {"event": kind, **data}


class SessionLog:
    """Appends events to `<log_dir>/session-<start time>-<pid>.jsonl`; no audio is ever stored."""

    def __init__(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.path = log_dir / f"session-{stamp}-{os.getpid()}.jsonl"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # the user's alone
        self._file: IO[str] | None = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            return
        stamped = {"time": dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
                   **entry}
        self._file.write(json.dumps(stamped, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
