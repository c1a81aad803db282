"""Read a small text file the user points at, refusing anything that is not a regular file.

A FIFO or a device given as --dialog, --config or a scenario would block the read for ever
(or never end), so the kind of file is checked before it is opened, and again on the open
descriptor (the path may have changed in between); a size limit keeps a huge file out.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from voice_skill.errors import TextFileError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str:
    kind = next((name for test, name in _KINDS if test(mode)), None)
    return f"is {kind}: only a regular file can be read" if kind else "is not a regular file"


def read_text(path: Path, max_bytes: int) -> str:
    """The UTF-8 text of `path`; a TextFileError says why it cannot be, in a few words."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise TextFileError(path, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise TextFileError(path, _not_regular(info.st_mode))
        # O_NONBLOCK: should the path have become a FIFO since, the open does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise TextFileError(path, "file not found") from None
    except ValueError:  # an embedded NUL: no such file can exist
        raise TextFileError(path, "file not found (the name holds a NUL character)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TextFileError(path, "is a loop of symbolic links") from None
        raise TextFileError(path, f"cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise TextFileError(path, _not_regular(info.st_mode))
        if info.st_size > max_bytes:
            raise TextFileError(path, f"is {info.st_size:,} bytes: at most {max_bytes:,} allowed")
        try:
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise TextFileError(path, f"cannot be read: {exc.strerror}") from None
    if len(data) > max_bytes:  # grew since the check
        raise TextFileError(path, f"is over {max_bytes:,} bytes: at most {max_bytes:,} allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TextFileError(path, "not a text file (not UTF-8)") from None
