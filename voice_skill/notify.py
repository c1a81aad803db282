"""Tell a configured contact about an escalation, without ever delaying the spoken instruction."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from voice_skill.events import Escalated, Notified


class Notifier:
    """Runs the configured command (no shell, time-limited) in the background on an escalation.

    The escalation goes to the command's stdin as JSON and in VOICE_SKILL_LEVEL /
    VOICE_SKILL_REASON, so any script (a text message, a smart-home call) can use it.
    """

    def __init__(self, command: tuple[str, ...], timeout_s: float) -> None:
        self.command, self.timeout_s = command, timeout_s
        self._results: queue.Queue[Notified] = queue.Queue()
        self._threads: list[threading.Thread] = []

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
        env = {**os.environ, "VOICE_SKILL_LEVEL": payload["level"],
               "VOICE_SKILL_REASON": payload["reason"]}
        name, limit = self.command[0], self.timeout_s
        deadline = time.monotonic() + limit
        # Output to a file, not a pipe: a background child that keeps a pipe open would make
        # the hook look hung after it had exited. (A file nobody can create: no detail.)
        try:
            scratch: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (the with below)
        except OSError:
            scratch = open(os.devnull, "w+b")  # noqa: SIM115 (the with below)
        with scratch as out:
            try:
                # its own session: the hook and whatever it starts are one group, stopped together
                proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=out,
                                        stderr=out, env=env, start_new_session=True)
            except OSError as exc:
                self._results.put(Notified(False, f"{name}: cannot run: {exc.strerror}"))
                return
            assert proc.stdin is not None
            with contextlib.suppress(OSError):  # a hook that does not read its input is fine
                proc.stdin.write(json.dumps(payload).encode())
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                code = proc.wait(limit)
            except subprocess.TimeoutExpired:
                _stop_group(proc.pid)
                proc.wait()
                self._results.put(Notified(False, f"{name}: no answer after {limit:g} s,"
                                                  " stopped (with anything it started)"))
                return
            # the hook has exited; what it left running in the background gets the rest of
            # the time limit (it may be the one sending the message), then is stopped
            left_behind = ""
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _group_alive(proc.pid):
                _stop_group(proc.pid)
                left_behind = (f"; what it left running was stopped after {limit:g} s")
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
        """At the end of a session: give running notifications a moment to finish."""
        for t in self._threads:
            t.join(timeout_s)
        return self.results()


def _group_alive(pgid: int) -> bool:
    """Whether any process of the hook's group still runs (a zombie does not: where PID 1
    does not reap orphans, as in some containers, one would otherwise count for ever)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # it exists, though not ours to signal
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _stop_group(pgid: int) -> None:
    """SIGTERM to the hook's whole group, SIGKILL to what is left a second later."""
    for sig, wait_s in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 0.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        end = time.monotonic() + wait_s
        while _group_alive(pgid) and time.monotonic() < end:
            time.sleep(0.05)
