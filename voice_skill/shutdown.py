"""SIGTERM and SIGHUP (`systemctl stop`, a closed terminal) end a session with its closing line.

A signal is never allowed to cut the guide off mid-sentence or mid-decision: while a session
runs, it is held until the session is waiting for the person (or the reply being spoken has
ended), then the session ends as "stop" would, with the safety line or, in an emergency, the
emergency closing line, and an `ended` event. The command then exits by the same signal.
Ctrl-C (SIGINT) is held the same way, then is the KeyboardInterrupt it always was.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """A stop signal arrived: end politely. BaseException, so no `except Exception` eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


_received: int | None = None
_holding = 0
"""sessions running: while > 0 a signal waits for a point where ending is safe"""
_waiting = False
"""the session waits for the person (listening): a signal may end it at once"""


_interrupted = False
"""Ctrl-C arrived while a session could not be interrupted"""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    global _received, _interrupted
    if signum == signal.SIGINT:
        if _holding == 0 or _waiting:
            raise KeyboardInterrupt
        _interrupted = True
        return
    first = _received is None
    _received = _received or signum
    if first and (_holding == 0 or _waiting):
        raise Terminated(signum)
    # a second signal while the closing line is said changes nothing: it is being said


def install() -> None:
    """Turn SIGTERM and SIGHUP into a polite end, and hold Ctrl-C while a reply is said (the
    main thread only, as Python requires)."""
    for sig in (*SIGNALS, signal.SIGINT):
        if signal.getsignal(sig) != signal.SIG_IGN:  # `nohup`, a background job: still ignored
            signal.signal(sig, _on_signal)


def received() -> int | None:
    """The stop signal that arrived, if one did."""
    return _received


def check() -> None:
    """Raise Terminated (or KeyboardInterrupt) if a signal is waiting: a safe point to end."""
    global _interrupted
    if _received is not None:
        raise Terminated(_received)
    if _interrupted:
        _interrupted = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def holding() -> Iterator[None]:
    """A session runs: hold signals until `waiting()` or `check()`."""
    global _holding, _interrupted
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
    if _holding == 0 and _interrupted:  # Ctrl-C during the closing line: now it counts
        _interrupted = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """The session waits for the person: a stop signal may end the wait at once."""
    global _waiting
    outer, _waiting = _waiting, True
    try:
        check()  # after the flag is up, so a signal in between is not missed
        yield
    finally:
        _waiting = outer


def interrupt_later() -> None:
    """Ctrl-C was caught where it could not end things (stopping a notify hook): it counts when
    the session's hold ends, or now outside a session."""
    global _interrupted
    if _holding == 0:
        raise KeyboardInterrupt
    _interrupted = True


def exit_by_signal() -> None:
    """After the closing line: exit by the signal that asked, so systemd and shells see it."""
    if _received is None:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    signal.signal(_received, signal.SIG_DFL)
    os.kill(os.getpid(), _received)


def reset() -> None:
    """Forget a received signal (tests that run several sessions in one process)."""
    global _received, _interrupted
    _received, _interrupted = None, False
