"""Closed, ASCII-only or broken standard streams never stop the guide.

Issue 16; docs/failure-modes.md."""

from __future__ import annotations

import array
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typed_session import FIFTH_FLAG_YES, SKILL, session, whole_lines


def test_a_closed_stdin_is_the_end_of_input(tmp_path: Path) -> None:
    done = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", *SKILL, "run", "--text",
                           "--no-log"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "call 911 straight away" in done.stdout


def test_an_ascii_only_terminal_gets_escapes_never_an_encoding_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    env |= {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    answers = "yes \N{GRINNING FACE}\nno \N{GRINNING FACE} \udcff\n".encode("utf-8", "surrogatepass")
    for json_out in (["--json"], []):
        done = subprocess.run([*SKILL, "run", "--text", "--no-log", *json_out], input=answers,
                              env=env, capture_output=True, timeout=60, check=False)
        stderr = done.stderr.decode("ascii", "replace")
        assert done.returncode == 0 and "Traceback" not in stderr, stderr
        done.stdout.decode("ascii")  # what an ASCII terminal can show
        if json_out:
            evs = [json.loads(line) for line in done.stdout.splitlines()]
            assert evs[-1]["event"] == "ended"
            assert next(e for e in evs if e["event"] == "heard")["text"] == "yes \N{GRINNING FACE}"


def test_a_reader_that_goes_away_ends_a_typed_session_quietly(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'log_dir = "{tmp_path / "logs"}"\n')
    proc = subprocess.Popen([*SKILL, "--config", str(cfg), "run", "--text", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    for _ in range(3):  # `| head -3`
        proc.stdout.readline()
    proc.stdout.close()
    proc.stdin.write(b"yes\nno\n")
    proc.stdin.close()
    assert proc.wait(30) == 0
    assert "Traceback" not in proc.stderr.read().decode()
    log = next((tmp_path / "logs").glob("session-*.jsonl"))
    assert whole_lines(log)[-1]["event"] == "ended"  # it ended politely, on the record


def test_a_spoken_session_keeps_speaking_when_its_json_reader_goes_away(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from voice_skill.front.live import _json_sink

    read, write = os.pipe()
    os.close(read)
    broken = io.TextIOWrapper(io.FileIO(write, "w"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", broken)
    end, said = session(FIFTH_FLAG_YES, [_json_sink])
    monkeypatch.undo()
    broken.close()
    assert end.level == "emergency"
    assert said.said == session(FIFTH_FLAG_YES, [])[1].said


@pytest.mark.parametrize("args", [["dialog", "states"], ["dialog", "states", "--json"]])
def test_other_commands_end_quietly_when_their_reader_is_gone(args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # `| head -0`: nobody reads
    done = subprocess.run([*SKILL, *args], stdout=write, stderr=subprocess.PIPE, text=True,
                          timeout=60, check=False)
    os.close(write)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode in (0, 141)  # printed through the console (0) or not (141)


def _read_slowly(fd: int, proc: subprocess.Popen[bytes]) -> bytes:
    """A reader that lags behind: it takes 16 KiB only once the pipe is full (nearly all its
    pages used, and nothing more came in the last 20 ms: the writer must wait, or drop), and
    the rest once the writer has ended."""
    import fcntl
    import termios

    pending = array.array("i", [0])
    full = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) - 8192  # page by page: lines of under 512 bytes
    out, before = bytearray(), -1
    while proc.poll() is None:
        fcntl.ioctl(fd, termios.FIONREAD, pending)
        if pending[0] >= full and pending[0] == before:
            out += os.read(fd, 16384)
            before = -1
        else:
            before = pending[0]
            time.sleep(0.02)
    while chunk := os.read(fd, 65536):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("json_out", [True, False], ids=["json", "plain"])
def test_a_slow_reader_of_a_non_blocking_stdout_misses_nothing(tmp_path: Path,
                                                                json_out: bool) -> None:
    """stdout with O_NONBLOCK (a parent's event loop set it) read slowly: 3,000 typed lines,
    then a red-flag yes. Every event arrives, the escalation and the end among them (126 of
    3,001 `heard` were delivered, and "Please call 911 now." was lost)."""
    answers = tmp_path / "answers.txt"
    answers.write_text("repeat\n" * 3000 + "yes\n")
    read, write = os.pipe()
    os.set_blocking(write, False)
    with answers.open("rb") as stdin, (tmp_path / "stderr").open("wb") as err:
        proc = subprocess.Popen([*SKILL, "run", "--text", "--no-log",
                                 *(["--json"] if json_out else [])],
                                stdin=stdin, stdout=write, stderr=err)
    os.close(write)
    try:
        out = _read_slowly(read, proc)
    finally:
        os.close(read)
    assert proc.wait(120) == 0
    stderr = (tmp_path / "stderr").read_text()
    assert "Traceback" not in stderr, stderr
    if json_out:
        events = [json.loads(line) for line in out.splitlines()]
        kinds = [e["event"] for e in events]
        assert kinds.count("heard") == 3001
        assert kinds.count("said") == 3010 and kinds.count("listening") == 3002
        assert "escalated" in kinds and kinds[-1] == "ended"
    else:
        lines = out.decode().splitlines()
        assert sum(line.startswith("Have you lost any control") for line in lines) == 3001
        assert "This could be serious. Please call 911 now." in lines
        assert lines[-1].startswith("I will stop talking now.")


def test_json_lines_escape_the_characters_line_readers_split_on(tmp_path: Path) -> None:
    """U+2028, U+2029 and U+0085 are valid raw in JSON, but str.splitlines (and JavaScript)
    end a line there: typed in, they split one event into two broken lines."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'log_dir = "{tmp_path / "logs"}"\n')
    typed = "no\u2028really\u2029not\u0085at all\n"
    done = subprocess.run([*SKILL, "--config", str(cfg), "run", "--text", "--json"],
                          input=typed.encode(), capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    log = next((tmp_path / "logs").glob("session-*.jsonl")).read_text(encoding="utf-8")
    for text in (done.stdout.decode(), log):
        events = [json.loads(line) for line in text.splitlines()]  # each line whole JSON
        assert next(e for e in events if e["event"] == "heard")["text"] == typed.strip()
