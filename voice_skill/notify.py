"""Tell a configured contact about an escalation, without ever delaying the spoken instruction.

A hook never outlives the session by much: it runs in a session of its own, its processes are
found by its process group and by a mark in their environment (which survives a `setsid` and
a double fork), and at the end of the session it gets a short grace, then is stopped with all
it started. If the skill itself is killed (SIGKILL), the hook is killed with it by the kernel
(PR_SET_PDEATHSIG); what the hook started in the background outlives it until the next session
with a notify command starts, which stops what carries the mark of a skill that is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

from voice_skill import shutdown
from voice_skill.events import Escalated, Notified

END_GRACE_S = 5.0
"""at the end of a session a hook still running gets at most this much more, then is stopped
(a stop signal or Ctrl-C ends the grace at once): the guide must not hang on its way out"""
MARK = "VOICE_SKILL_NOTIFY_ID"
"""set in each hook's environment (a fresh id per run): every process it starts inherits it,
in any session or group, so the hook's processes can all be found and stopped"""
POLL_S = 0.2
"""how often what a hook left running is looked for (a /proc scan: a few milliseconds)"""
PR_SET_PDEATHSIG = 1


class Notifier:
    """Runs the configured command (no shell, time-limited) in the background on an escalation.

    The escalation goes to the command's stdin as JSON and in VOICE_SKILL_LEVEL /
    VOICE_SKILL_REASON, so any script (a text message, a smart-home call) can use it.
    """

    def __init__(self, command: tuple[str, ...], timeout_s: float) -> None:
        self.command, self.timeout_s = command, timeout_s
        self._results: queue.Queue[Notified] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, str] = {}
        """hooks not yet done: process group -> mark"""
        self._ending = threading.Event()
        """the session has ended: hooks still running are being stopped"""
        self._lock = threading.Lock()
        if self.enabled:
            _stop_orphans()  # left by a skill that was killed (SIGKILL) in an earlier session

    @property
    def enabled(self) -> bool:
        """Whether a notify command is configured."""
        return bool(self.command)

    def notify(self, escalation: Escalated, emergency_number: str) -> None:
        """Run the notify command in the background for an emergency or urgent escalation."""
        if not self.enabled or escalation.level == "routine":
            return
        payload = {"level": escalation.level, "reason": escalation.reason,
                   "emergency_number": emergency_number}
        thread = threading.Thread(target=self._run, args=(payload,), daemon=True,
                                  name="voice-skill-notify")
        self._threads.append(thread)
        thread.start()

    def _run(self, payload: dict[str, str]) -> None:
        mark = f"{_owner(os.getpid())}.{uuid.uuid4().hex}"
        env = {**os.environ, "VOICE_SKILL_LEVEL": payload["level"],
               "VOICE_SKILL_REASON": payload["reason"], MARK: mark}
        name, limit = self.command[0], self.timeout_s
        started = time.monotonic()
        deadline = started + limit
        # Output to a file, not a pipe: a background child that keeps a pipe open would make
        # the hook look hung after it had exited. (A file nobody can create: no detail.)
        try:
            scratch: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (the with below)
        except OSError:
            scratch = open(os.devnull, "w+b")  # noqa: SIM115 (the with below)
        with scratch as out:
            with self._lock:  # started and known, or not started: never missed by wait()
                if self._ending.is_set():
                    self._results.put(Notified(False, f"{name}: not run: the session was"
                                                      " ended (a signal) before it started"))
                    return
                try:
                    # its own session: the hook and what it starts are one group, stopped
                    # together
                    proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=out,
                                            stderr=out, env=env, start_new_session=True,
                                            preexec_fn=_dies_with(os.getpid()))
                except (OSError, subprocess.SubprocessError) as exc:
                    why = exc.strerror if isinstance(exc, OSError) else str(exc)
                    self._results.put(Notified(False, f"{name}: cannot run: {why}"))
                    return
                self._running[proc.pid] = mark
            try:
                self._watch(proc, mark, out, payload, started, deadline)
            finally:
                self._running.pop(proc.pid, None)

    def _watch(self, proc: subprocess.Popen[bytes], mark: str, out: IO[bytes],
               payload: dict[str, str], started: float, deadline: float) -> None:
        """Feed the hook, wait for it within its limit, report how it went."""
        name, limit = self.command[0], self.timeout_s
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # a hook that does not read its input is fine
            proc.stdin.write(json.dumps(payload).encode())
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            code = proc.wait(limit)
        except subprocess.TimeoutExpired:
            _stop(proc.pid, mark)
            proc.wait()
            self._results.put(Notified(False, f"{name}: no answer after {limit:g} s,"
                                              " stopped (with anything it started)"))
            return
        if self._ending.is_set() and code < 0:
            _stop(proc.pid, mark)
            self._results.put(Notified(False, f"{name}: still running when the session ended,"
                                              f" stopped after {time.monotonic() - started:.0f}"
                                              " s (with anything it started)"))
            return
        # the hook has exited; what it left running in the background gets the rest of
        # the time limit (it may be the one sending the message), then is stopped
        left_behind = ""
        while (_alive(proc.pid, mark) and time.monotonic() < deadline
               and not self._ending.wait(POLL_S)):
            pass
        if _alive(proc.pid, mark):
            _stop(proc.pid, mark)
            left_behind = (f"; what it left running was stopped after {limit:g} s"
                           if not self._ending.is_set() else
                           "; what it left running was stopped when the session ended")
        out.seek(0)
        detail = out.read().decode("utf-8", "replace").strip()[-300:]
        self._results.put(Notified(code == 0, f"{name} exited {code}{left_behind}"
                                              + (f": {detail}" if detail else "")))

    def results(self) -> list[Notified]:
        """Outcomes that have arrived since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def wait(self, timeout_s: float) -> list[Notified]:
        """At the end of a session: hooks still running get `timeout_s`, at most END_GRACE_S,
        then are stopped with everything they started. SIGTERM, SIGHUP or Ctrl-C end the grace
        at once (the command then exits by them, as after any closing line)."""
        end = time.monotonic() + min(timeout_s, END_GRACE_S)
        interrupted = False
        try:
            with shutdown.waiting():  # nothing is said now: a signal may act at once
                # polled, not joined: a join that a signal interrupts takes the thread for
                # finished (Python 3.11's threading), and its report would be lost
                while (any(t.is_alive() for t in self._threads)
                       and time.monotonic() < end):
                    time.sleep(0.05)
        except shutdown.Terminated:
            pass  # kept as received: the command exits by it once the session is closed
        except KeyboardInterrupt:
            interrupted = True
        with self._lock:
            self._ending.set()
            running = list(self._running.items())
        for pgid, mark in running:
            _stop(pgid, mark)
        for t in self._threads:
            t.join(2.0)  # each reports within a moment of its hook being stopped
        if interrupted:
            shutdown.interrupt_later()
        return self.results()


def _dies_with(parent: int) -> Callable[[], None]:
    """What the hook's process runs before the program: the kernel kills it when the skill
    dies, even by SIGKILL (PR_SET_PDEATHSIG; Linux only: elsewhere nothing is set)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        prctl = None

    def before_exec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the skill died between the fork and the prctl
            os._exit(1)

    return before_exec


def _members(pgid: int, mark: str) -> set[int]:
    """The hook's processes still running: its process group, and any process carrying its
    mark (one that left the group with setsid). Zombies do not count (where PID 1 does not reap
    orphans, as in some containers, one would otherwise count for ever)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return set()
        except PermissionError:  # it exists, though not ours to signal
            pass
        return {pgid}
    needle, uid, found = f"{MARK}={mark}\0".encode(), os.getuid(), set()
    for entry in proc.glob("[0-9]*"):
        try:
            if entry.stat().st_uid != uid:
                continue  # not ours: not the hook's
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if len(fields) < 3 or fields[0] in ("Z", "X"):
                continue
            if fields[2] == str(pgid) or needle in (entry / "environ").read_bytes():
                found.add(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not readable
    return found


def _owner(pid: int) -> str:
    """A process named for good: its pid and its start time (a pid is reused, the pair not)."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "0"
    return f"{pid}.{start}"


def _stop_orphans() -> None:
    """SIGKILL what a hook left running when the skill that ran it is gone (killed by
    SIGKILL: nothing stopped them then). Only our own processes carrying the mark."""
    proc, uid, prefix = Path("/proc"), os.getuid(), f"{MARK}=".encode()
    for entry in proc.glob("[0-9]*"):
        try:
            if entry.stat().st_uid != uid:
                continue
            env = (entry / "environ").read_bytes().split(b"\0")
            mark = next((e[len(prefix):].decode() for e in env if e.startswith(prefix)), None)
            if mark is None or mark.count(".") != 2:
                continue
            pid, start, _ = mark.split(".")
            if _owner(int(pid)) != f"{pid}.{start}":
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError, UnicodeDecodeError):
            continue  # gone meanwhile, not readable, or not ours to signal


def _alive(pgid: int, mark: str) -> bool:
    return bool(_members(pgid, mark))


def _stop(pgid: int, mark: str) -> None:
    """SIGTERM to all of the hook's processes, SIGKILL to what is left a second later."""
    for sig, wait_s in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 0.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        for pid in _members(pgid, mark):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        end = time.monotonic() + wait_s
        while _alive(pgid, mark) and time.monotonic() < end:
            time.sleep(0.05)
