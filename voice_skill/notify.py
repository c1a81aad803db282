"""Tell a configured contact about an escalation, without ever delaying the spoken instruction."""

from __future__ import annotations

import json
import queue
import subprocess
import threading

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
        import os

        env = {**os.environ, "VOICE_SKILL_LEVEL": payload["level"],
               "VOICE_SKILL_REASON": payload["reason"]}
        try:
            done = subprocess.run(
                self.command, input=json.dumps(payload), text=True, capture_output=True,
                timeout=self.timeout_s, env=env, check=False,
            )
        except subprocess.TimeoutExpired:
            self._results.put(Notified(False, f"{self.command[0]}: no answer after"
                                              f" {self.timeout_s:g} s, stopped"))
        except OSError as exc:
            self._results.put(Notified(False, f"{self.command[0]}: cannot run: {exc.strerror}"))
        else:
            detail = (done.stderr or done.stdout).strip()[-300:]
            self._results.put(Notified(done.returncode == 0,
                                       f"{self.command[0]} exited {done.returncode}"
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
