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


# ---- issue 23: a hook never outlives the session by much, nor the skill -----------------------


def _gone(pid: int, within_s: float = 10.0) -> bool:
    """Whether process `pid` is gone (or a zombie) within `within_s` (a bound, not a timing)."""
    end = time.monotonic() + within_s
    while running(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not running(pid)


def test_what_a_hook_left_running_under_setsid_is_stopped_too(tmp_path: Path) -> None:
    # it left the hook's process group: killing the group missed it, and it ran on
    pid_file = tmp_path / "child.pid"
    n = Notifier(hook(tmp_path, f"setsid sleep 60 &\necho $! > {pid_file}\necho sent\n"), 1.0)
    n.notify(Escalated("emergency", "x", "s"), "911")
    [result] = n.wait(5.0)
    assert result.ok and "left running was stopped" in result.detail, result.detail
    assert _gone(int(pid_file.read_text()))


def test_a_hook_still_running_when_the_session_ends_is_stopped_after_a_short_grace(
        tmp_path: Path) -> None:
    # notify_timeout_s = 300: the end of the session waited 302 s, deaf to SIGTERM and Ctrl-C
    pids = tmp_path / "pids"
    n = Notifier(hook(tmp_path, f"echo $$ >> {pids}\nsetsid sleep 300 &\necho $! >> {pids}\n"
                                "sleep 300\n"), 300.0)
    n.notify(Escalated("emergency", "x", "s"), "911")
    while len(pids.read_text().split() if pids.exists() else ()) < 2:
        time.sleep(0.05)
    t0 = time.monotonic()
    [result] = n.wait(302.0)  # what the session asks for: the hook's limit and a moment more
    assert time.monotonic() - t0 < 60  # far below the 300 s of the hook (a bound, not a timing)
    assert not result.ok and "still running when the session ended" in result.detail
    assert all(_gone(int(p)) for p in pids.read_text().split())


def test_a_hook_dies_with_the_skill_even_by_sigkill_and_its_children_at_the_next_start(
        tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    pid_file, child_file = tmp_path / "hook.pid", tmp_path / "child.pid"
    script = hook(tmp_path, f"sleep 300 &\necho $! > {child_file}\necho $$ > {pid_file}\n"
                            "exec sleep 300\n")[0]
    owner = subprocess.Popen([sys.executable, "-c",
                              "import time\n"
                              "from voice_skill.events import Escalated\n"
                              "from voice_skill.notify import Notifier\n"
                              f"Notifier(({script!r},), 300.0).notify("
                              "Escalated('emergency', 'x', 's'), '911')\n"
                              "time.sleep(300)\n"])
    pids: list[int] = []
    try:
        end = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.monotonic() < end and owner.poll() is None
            time.sleep(0.05)
        pids = [int(pid_file.read_text()), int(child_file.read_text())]
        assert all(running(p) for p in pids)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        assert _gone(pids[0])  # the hook, by the kernel (PR_SET_PDEATHSIG)
        Notifier(("true",), 1.0)  # the next session with a notify command: the rest
        assert _gone(pids[1])
    finally:
        owner.kill()
        owner.wait()
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
