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
import sys
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


def json_text(obj: Any, stream: TextIO | None = None) -> str:
    """One JSON line for `stream` (stdout): non-ASCII as itself where it can be shown,
    else as \\u escapes (still valid JSON)."""
    return json.dumps(obj, ensure_ascii=not _utf(stream or sys.stdout), default=str)


def write_line(text: str, stream: TextIO | None = None) -> bool:
    """Print one line and flush it; False (never an exception) when nobody can read it."""
    out = stream if stream is not None else sys.stdout
    if out is None:  # started with the stream closed
        return False
    try:
        out.write(text + "\n")
        out.flush()
    except (BrokenPipeError, ConnectionResetError):
        discard(out)
        return False
    except (OSError, ValueError):  # closed, or a device error: the session goes on
        return False
    return True


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
