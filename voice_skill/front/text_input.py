"""Typed answers: a terminal or a script on stdin, one answer per line."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from voice_skill.console import write_line
from voice_skill.dialogue.intents import MAX_INPUT_CHARS
from voice_skill.events import Utterance
from voice_skill.hearing.listening import EndOfInput, Heard

MAX_LINE_BYTES = 4096
"""the most of one typed line kept: a spoken answer is a few words (the matcher reads 500
characters); the rest of a longer line is dropped as it is read"""
ENDLESS_LINE_BYTES = 256 * 2**20
"""a "line" this long with no line end is no typed answer (stdin is /dev/zero, or a binary
file): the input ends there, in bounded time and memory"""


class TextListener:
    """Reads answers line by line without blocking the dialogue's timers.

    Reads the file descriptor directly: Python's own buffering would hide a second typed
    line from select() and stall the session. Each byte is looked at once (a long line costs
    its length, not its length squared), and at most MAX_LINE_BYTES of a line are kept.
    """

    no_input_timeout_s: float | None = None  # at a keyboard only an empty line means "nothing"
    continues = False
    """a typed line is a whole answer, never the rest of the last one"""

    def __init__(self, stream: TextIO | None, prompt: TextIO | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        try:
            self._fd = stream.fileno() if stream is not None else -1
        except (OSError, ValueError):  # a closed stdin (`<&-`) is the end of input, not a crash
            self._fd = -1
        typing = self._fd >= 0 and os.isatty(self._fd)
        self._prompt = prompt if prompt is not None and typing else None
        self._notice = notice or (lambda message: write_line(message, sys.stderr))
        self._lines: deque[bytes] = deque()
        """whole lines read and not yet heard"""
        self._part = bytearray()
        """the start of the line being read (at most MAX_LINE_BYTES)"""
        self._dropped = 0
        """bytes of the line being read dropped past MAX_LINE_BYTES"""
        self._told = False
        self._eof = self._fd < 0

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        """The next typed line, or an empty answer / timeout; EndOfInput at the end of input."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self._prompt and not self._lines:
            with contextlib.suppress(OSError, ValueError):  # an unread prompt stops nothing
                self._prompt.write("> ")
                self._prompt.flush()
        while not self._lines and not self._eof:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                return Heard()  # a timer is due
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:  # a non-blocking stdin with nothing after all: wait again
                continue
            except OSError:  # the terminal is gone (EIO after a hang-up): the end of input
                chunk = b""
            if chunk:
                self._take(chunk)
            else:
                self._eof = True
                if self._part or self._dropped:  # a last line without its line end
                    self._end_line()
        if not self._lines:
            raise EndOfInput
        raw = self._lines.popleft()
        text = raw.decode("utf-8", errors="replace")[:MAX_INPUT_CHARS].strip()
        if not text:
            return Heard(empty=True)
        return Heard(Utterance(text=text, confidence=1.0))

    def _take(self, chunk: bytes) -> None:
        """Split what was read into lines, keeping at most MAX_LINE_BYTES of each."""
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            stop = len(chunk) if end < 0 else end
            room = MAX_LINE_BYTES - len(self._part)
            if room > 0:
                self._part += chunk[start:min(stop, start + room)]
            self._dropped += max(0, stop - start - max(room, 0))
            if end < 0:
                break
            self._end_line()
            start = end + 1
        if self._dropped >= ENDLESS_LINE_BYTES:
            self._notice(f"The input has no line end in its first {ENDLESS_LINE_BYTES // 2**20}"
                         " MiB: it is not typed answers. That is the end of the input.")
            self._part.clear()
            self._dropped = 0
            self._eof = True

    def _end_line(self) -> None:
        if self._dropped and not self._told:
            self._told = True
            self._notice(f"A typed line of {len(self._part) + self._dropped:,} bytes was cut"
                         f" to its first {MAX_LINE_BYTES:,}: an answer is a few words.")
        self._lines.append(bytes(self._part))
        self._part.clear()
        self._dropped = 0
