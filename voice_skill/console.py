"""Printing that never stops the guide: no encoding error, no broken pipe, no closed stream.

A terminal that cannot show a character gets an escape for it (`\\U0001f600`), JSON lines
stay valid JSON in any encoding, and a reader that went away (`| head -3`) is ignored from
then on: what is printed is for the reader, what is spoken is for the person.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import select
import sys
import threading
from typing import Any, TextIO

_gone: set[int] = set()
"""file descriptors whose reader went away (written to /dev/null from then on)"""


def harden() -> None:
    """stdout and stderr escape what their encoding cannot show, rather than raise."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, OSError):  # a closed or odd stream: left as is
                stream.reconfigure(errors="backslashreplace")


def _utf(stream: TextIO | None) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""characters JSON allows raw in a string that line readers (str.splitlines, JavaScript)
take as line ends; every other one JSON escapes already"""


def json_line(obj: Any, ensure_ascii: bool = False) -> str:
    """`obj` as JSON on one line for every line reader: U+0085, U+2028 and U+2029 escaped."""
    return json.dumps(obj, ensure_ascii=ensure_ascii, default=str).translate(_LINE_BREAKS)


def json_text(obj: Any, stream: TextIO | None = None) -> str:
    """One JSON line for `stream` (stdout): non-ASCII as itself where it can be shown,
    else as \\u escapes (still valid JSON)."""
    return json_line(obj, ensure_ascii=not _utf(stream or sys.stdout))


def write_line(text: str, stream: TextIO | None = None) -> bool:
    """Print one line and flush it; False (never an exception) when nobody can read it.

    A stream with a file descriptor gets the line's bytes written straight to it, whole:
    a descriptor left non-blocking (O_NONBLOCK, set by a parent's event loop) with a slow
    reader waits for the reader, as a blocking one does, and never drops a line (Python's
    own text layer loses what did not fit). Lines from several threads never interleave.
    """
    out = stream if stream is not None else sys.stdout
    if out is None:  # started with the stream closed
        return False
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):  # io.StringIO, a closed stream
        fd = -1
    try:
        with _write_lock:
            if fd < 0:
                out.write(text + "\n")
                out.flush()
            else:
                _flush_pending(out, fd)  # what was printed before goes first
                encoding = getattr(out, "encoding", None) or "utf-8"
                _write_all(fd, (text + "\n").encode(encoding, errors="backslashreplace"))
    except (BrokenPipeError, ConnectionResetError):
        discard(out)
        return False
    except (OSError, ValueError):  # closed, or a device error: the session goes on
        return False
    return True


_write_lock = threading.Lock()


def _wait_writable(fd: int) -> None:
    """Wait until a non-blocking `fd` can take more (its reader has read some)."""
    select.select([], [fd], [fd])


def _flush_pending(out: TextIO, fd: int) -> None:
    """Flush what print() left in `out`'s buffer, waiting for a slow reader."""
    while True:
        try:
            out.flush()
            return
        except BlockingIOError:
            _wait_writable(fd)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`; a full non-blocking pipe is waited on, never dropped."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            _wait_writable(fd)


def gone(stream: TextIO | None = None) -> bool:
    """Whether the reader of `stream` (stdout) went away."""
    out = stream if stream is not None else sys.stdout
    try:
        return out is None or out.fileno() in _gone
    except (OSError, ValueError):
        return True


def discard(stream: TextIO) -> None:
    """Send the rest of a stream whose reader went away to /dev/null, so that neither later
    prints nor the flush at exit raise BrokenPipeError."""
    with contextlib.suppress(OSError, ValueError):
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
        _gone.add(fd)
