"""Every session leaves a record: append-only JSON lines, flushed per event, private to the user."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice_skill.console import json_line
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
            data["spoken"] = data.pop("spoken_by")
    return data


_NEW_FILE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
"""a file made now, by this open: never one that was there (planted, or left world-writable),
never the target of a symbolic link"""


def _new_file(log_dir: Path, name: str) -> tuple[Path, int | None]:
    """A new private file `<name>.jsonl` in `log_dir`; when that name is taken (in a folder
    shared with others, by anything at all), the same name with a random tail."""
    tails = ["", *(f"-{secrets.token_hex(4)}" for _ in range(8))]
    for tail in tails:
        path = log_dir / f"{name}{tail}.jsonl"
        try:
            fd = os.open(path, _NEW_FILE, 0o600)
        except FileExistsError:
            continue
        with contextlib.suppress(OSError):  # a file system without modes (FAT) keeps its own
            os.fchmod(fd, 0o600)  # the user's alone, whatever the umask
        return path, fd
    raise FileExistsError(errno.EEXIST, f"{len(tails)} names taken, such as {path.name}")


class SessionLog:
    """Appends events to a new file `<log_dir>/session-<start time>-<pid>.jsonl` (with a random
    tail when that name is taken), mode 600; no audio is ever stored.

    Best-effort: the log must never silence the guide. A write that fails (a full disk, a
    removed drive) is cut back to the last whole line, told once through `on_fail`, and the
    log stops; the session goes on.
    """

    def __init__(self, log_dir: Path, on_fail: Callable[[str], None] | None = None) -> None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.on_fail = on_fail
        self.failed: str | None = None
        """why the log stopped (None while it works)"""
        self.path, self._fd = _new_file(log_dir, f"session-{stamp}-{os.getpid()}")

    def write(self, event: SessionEvent) -> None:
        """Append one event, stamped with the local time, as one whole line (never raises)."""
        if self._fd is None:
            return
        stamped = {"time": dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
                   **record(event)}
        line = (json_line(stamped) + "\n").encode(
            "utf-8", errors="backslashreplace")  # a lone surrogate typed in must not stop it
        fd = self._fd
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
        except OSError as exc:
            self._fail(exc, None)
            return
        try:
            # one write() for the whole line: unbuffered, so nothing is held back for later
            written = os.write(fd, line)
        except OSError as exc:
            self._fail(exc, end)
            return
        if written != len(line):  # a short write: the disk filled up in the middle of the line
            self._fail(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), end)

    def _fail(self, exc: OSError, whole_up_to: int | None) -> None:
        """Cut the file back to its last whole line, close it, and say so once."""
        fd, self._fd = self._fd, None
        assert fd is not None
        if whole_up_to is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, whole_up_to)
        with contextlib.suppress(OSError):
            os.close(fd)
        self.failed = exc.strerror or str(exc)
        if self.on_fail is not None:
            self.on_fail(f"The session log {self.path} could not be written ({self.failed});"
                         " the guide goes on without it.")

    def close(self) -> None:
        """Close the log file (later writes are ignored)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
