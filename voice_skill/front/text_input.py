"""Typed answers: a terminal or a script on stdin, one answer per line."""

from __future__ import annotations

import contextlib
import os
import select
import time
from typing import TextIO

from voice_skill.dialogue.intents import MAX_INPUT_CHARS
from voice_skill.events import Utterance
from voice_skill.hearing.listening import EndOfInput, Heard


class TextListener:
    """Reads answers line by line without blocking the dialogue's timers.

    Reads the file descriptor directly: Python's own buffering would hide a second typed
    line from select() and stall the session.
    """

    no_input_timeout_s: float | None = None  # at a keyboard only an empty line means "nothing"
    continues = False
    """a typed line is a whole answer, never the rest of the last one"""

    def __init__(self, stream: TextIO | None, prompt: TextIO | None = None) -> None:
        try:
            self._fd = stream.fileno() if stream is not None else -1
        except (OSError, ValueError):  # a closed stdin (`<&-`) is the end of input, not a crash
            self._fd = -1
        typing = self._fd >= 0 and os.isatty(self._fd)
        self._prompt = prompt if prompt is not None and typing else None
        self._buf = b""
        self._eof = self._fd < 0

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        """The next typed line, or an empty answer / timeout; EndOfInput at the end of input."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self._prompt and b"\n" not in self._buf:
            with contextlib.suppress(OSError, ValueError):  # an unread prompt stops nothing
                self._prompt.write("> ")
                self._prompt.flush()
        while b"\n" not in self._buf and not self._eof:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                return Heard()  # a timer is due
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:  # the terminal is gone (EIO after a hang-up): the end of input
                chunk = b""
            if chunk:
                self._buf += chunk
            else:
                self._eof = True
        if b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
        elif self._buf:
            raw, self._buf = self._buf, b""
        else:
            raise EndOfInput
        text = raw.decode("utf-8", errors="replace")[:MAX_INPUT_CHARS].strip()
        if not text:
            return Heard(empty=True)
        return Heard(Utterance(text=text, confidence=1.0))
