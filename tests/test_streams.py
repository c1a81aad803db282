"""Closed, ASCII-only or broken standard streams never stop the guide.

Issue 16; docs/failure-modes.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
