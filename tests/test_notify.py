"""The notify hook runs in its own process group: what it leaves running is stopped, and said.

Issue 16; docs/failure-modes.md."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest

from voice_skill.events import Escalated
from voice_skill.notify import Notifier


def hook(tmp_path: Path, body: str) -> tuple[str, ...]:
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return (str(script),)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_hook_that_forks_and_exits_is_reported_truthfully_and_its_child_stopped(
        tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    n = Notifier(hook(tmp_path, f"sleep 60 &\necho $! > {pid_file}\necho sent\n"), 1.0)
    t0 = time.monotonic()
    n.notify(Escalated("emergency", "weak or numb legs", "rf_legs"), "911")
    [result] = n.wait(5.0)
    assert time.monotonic() - t0 < 4.0
    assert result.ok, result.detail
    assert "exited 0" in result.detail and "left running was stopped" in result.detail
    assert "no answer" not in result.detail and "sent" in result.detail
    assert not running(int(pid_file.read_text()))


def test_a_hook_whose_child_finishes_in_time_is_simply_done(tmp_path: Path) -> None:
    n = Notifier(hook(tmp_path, "(sleep 0.2; echo late) &\necho sent\n"), 3.0)
    n.notify(Escalated("urgent", "a fever", "rf_fever"), "911")
    [result] = n.wait(6.0)
    assert result.ok and result.detail.startswith(f"{n.command[0]} exited 0")
    assert "stopped" not in result.detail


def test_a_hung_hook_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    n = Notifier(hook(tmp_path, f"sleep 60 &\necho $! > {pid_file}\nsleep 60\n"), 0.5)
    n.notify(Escalated("emergency", "x", "s"), "911")
    [result] = n.wait(5.0)
    assert not result.ok and "no answer after 0.5 s" in result.detail
    assert not running(int(pid_file.read_text()))


def test_the_hook_runs_when_no_file_can_be_made_for_its_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk: the hook still runs (its output is not kept)."""
    import tempfile

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    n = Notifier(hook(tmp_path, "echo sent\n"), 2.0)
    n.notify(Escalated("emergency", "x", "s"), "911")
    [result] = n.wait(5.0)
    assert result.ok and result.detail == f"{n.command[0]} exited 0"
