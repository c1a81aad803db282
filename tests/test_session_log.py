"""The session log is best-effort: a full disk costs the log, never an instruction or a red flag.

Issue 16; docs/failure-modes.md."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulse_rig import PulseRig, rms
from test_tts import say_aloud
from typed_session import FIFTH_FLAG_YES, SKILL, TYPED_FIFTH_FLAG_YES, session, whole_lines

from voice_skill.events import Escalated, Notice, SessionEvent
from voice_skill.session_log import SessionLog


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 KB file system (tmpfs): root only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 4 KB tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k,mode=700", "tmpfs", str(disk)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> None:
    """Leave 0 bytes free."""
    with open(disk / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"x" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("free", ["4 KB", "0 bytes"])
def test_a_full_disk_loses_no_instruction_and_no_red_flag(tiny_disk: Path, free: str) -> None:
    if free == "0 bytes":
        fill(tiny_disk)
    reference_end, reference = session(FIFTH_FLAG_YES, [])
    notices: list[str] = []
    log = SessionLog(tiny_disk / "logs" if free == "4 KB" else tiny_disk, on_fail=notices.append)
    events: list[SessionEvent] = []
    end, said = session(FIFTH_FLAG_YES, [log.write, events.append])
    log.close()
    assert said.said == reference.said  # every instruction it would have spoken
    assert end.level == reference_end.level == "emergency"
    assert any(isinstance(e, Escalated) for e in events)
    assert len(notices) == 1 and "could not be written" in notices[0]
    lines = whole_lines(log.path)
    assert len(lines) < len(events)  # the disk did fill up
    assert all(line["event"] for line in lines)


_real_write = os.write


class ShortWrites:
    """os.write to the log as on a disk with `room` bytes left: a short write, then ENOSPC."""

    def __init__(self, log: SessionLog, room: int) -> None:
        self.fd, self.room = log._fd, room

    def __call__(self, fd: int, data: bytes) -> int:
        if fd != self.fd:
            return _real_write(fd, data)
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(self.room, len(data))
        self.room -= n
        return _real_write(fd, data[:n])


@pytest.mark.parametrize("room", [0, 1, 700, 4096])
def test_a_failed_log_write_is_one_notice_and_never_a_half_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    notices: list[str] = []
    log = SessionLog(tmp_path, on_fail=notices.append)
    monkeypatch.setattr(os, "write", ShortWrites(log, room))
    end, said = session(FIFTH_FLAG_YES, [log.write])
    assert end.level == "emergency"
    assert said.said == session(FIFTH_FLAG_YES, [])[1].said
    assert len(notices) == 1
    whole_lines(log.path)


def test_the_session_log_on_dev_full_is_one_notice(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    notices: list[str] = []
    log = SessionLog(tmp_path, on_fail=notices.append)
    full = os.open("/dev/full", os.O_WRONLY)
    os.close(log._fd)  # type: ignore[arg-type]
    log._fd = full
    end, _ = session(FIFTH_FLAG_YES, [log.write])
    assert end.level == "emergency" and len(notices) == 1 and "space" in notices[0].lower()


def test_a_typed_session_on_a_full_disk_runs_to_the_end(tiny_disk: Path) -> None:
    fill(tiny_disk)
    cfg = tiny_disk.parent / "config.toml"
    cfg.write_text(f'log_dir = "{tiny_disk}"\n')
    done = subprocess.run([*SKILL, "--config", str(cfg), "run", "--text", "--json"],
                          input="\n".join(TYPED_FIFTH_FLAG_YES) + "\n", capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    evs = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(e["event"] == "escalated" and e["level"] == "emergency" for e in evs)
    assert evs[-1]["event"] == "ended"
    assert sum(e["event"] == "notice" for e in evs) == 1


def test_no_notice_is_lost_when_the_log_fails_in_json_mode(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's one notice reaches the other sinks (the JSON stream), in order."""
    events: list[SessionEvent] = []
    log = SessionLog(tmp_path, on_fail=lambda m: events.append(Notice(m)))
    monkeypatch.setattr(os, "write", ShortWrites(log, 0))
    session(["yes"], [log.write, events.append])
    assert sum(isinstance(e, Notice) for e in events) == 1


@pytest.mark.audio
def test_speech_goes_on_when_the_temporary_folder_fills_up(
        tiny_disk: Path, pulse_rig: PulseRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each reply is written as a WAV before it is played: not on a disk that can fill up
    (this one has room for a folder, not for one reply)."""
    monkeypatch.setenv("TMPDIR", str(tiny_disk))
    heard, faults, printed, _ = say_aloud(pulse_rig)
    assert faults == [] and printed == ""
    assert rms(heard) > 300, "the speaker stayed silent"


def _next_log_names(log_dir: Path) -> list[Path]:
    """The names this process's next session log would take, this second and the next few."""
    import datetime as dt

    now = dt.datetime.now()
    return [log_dir / f"session-{(now + dt.timedelta(seconds=s)).strftime('%Y%m%d-%H%M%S')}"
                      f"-{os.getpid()}.jsonl" for s in range(4)]


@pytest.mark.parametrize("planted", ["symlink", "0666 file"])
def test_a_shared_log_folder_cannot_steer_the_log(tmp_path: Path, planted: str) -> None:
    """Another user of a shared log_dir plants a symlink named like the next session's log
    (the session was appended into its target), or a world-writable file of that name (the
    session was appended to it, readable and changeable by all). The log is always a new file
    of its own, mode 600; what was planted is left as it was."""
    log_dir = tmp_path / "shared"
    log_dir.mkdir(mode=0o1777)
    target = tmp_path / "victim.txt"
    target.write_text("the other user's file\n")
    names = _next_log_names(log_dir)
    for name in names:
        if planted == "symlink":
            name.symlink_to(target)
        else:
            name.write_text("")
            name.chmod(0o666)
    log = SessionLog(log_dir)
    session(["yes"], [log.write])
    log.close()
    assert target.read_text() == "the other user's file\n"
    assert all(name.read_text() == "" for name in names if planted == "0666 file")
    assert log.path not in names and not log.path.is_symlink()
    assert (os.stat(log.path).st_mode & 0o777) == 0o600
    assert whole_lines(log.path)[-1]["event"] == "ended"

