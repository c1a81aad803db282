"""`voice-skill run --text` as a person or a script uses it: typed answers, JSON events, the log."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# a typed session has no hearing check ("Can you hear me?"): the first answer is to a red flag
HAPPY = [*["no"] * 10, "it's about a seven", "no", "yes", "no", "no", "three"]


def run_text(answers: list[str] | bytes, tmp_path: Path, *args: str,
             config: str = "") -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'log_dir = "{tmp_path / "logs"}"\n{config}', encoding="utf-8")
    data = answers if isinstance(answers, bytes) else ("\n".join(answers) + "\n").encode()
    done = subprocess.run([sys.executable, "-m", "voice_skill", "--config", str(cfg), "run",
                           "--text", *args], input=data, capture_output=True, timeout=60,
                          check=False)
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_a_scripted_session_completes_and_prints_each_reply(tmp_path: Path) -> None:
    done = run_text(HAPPY, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Hello. I am a first-aid guide for back spasms." in done.stdout
    assert "Can you hear me?" not in done.stdout
    assert "Say ready to begin." in done.stdout
    assert "Your pain went from 7 to 3 out of ten." in done.stdout
    assert done.stdout.rstrip().endswith("Take care. Goodbye.")
    assert "Traceback" not in done.stderr


def test_json_mode_prints_one_event_per_line_with_the_outcome(tmp_path: Path) -> None:
    done = run_text(["no", "yes"], tmp_path, "--json")
    evs = events(done.stdout)
    kinds = {e["event"] for e in evs}
    assert {"said", "heard", "intent", "state", "escalated", "ended"} <= kinds
    said = [e for e in evs if e["event"] == "said"]
    assert all("state" in e and "key" in e for e in said)
    esc = next(e for e in evs if e["event"] == "escalated")
    assert esc["level"] == "emergency" and esc["reason"] == "numbness around the groin or bottom"
    assert evs[-1]["event"] == "ended" and evs[-1]["outcome"] == "escalated"


def test_end_of_input_midway_ends_politely_with_the_safety_line(tmp_path: Path) -> None:
    done = run_text(["no"], tmp_path, "--json")
    evs = events(done.stdout)
    assert evs[-1] == {**evs[-1], "event": "ended", "outcome": "stopped"}
    said = [e["key"] for e in evs if e["event"] == "said"]
    assert said[-2:] == ["messages.goodbye", "messages.safety_line"]


def test_bad_input_gets_a_reprompt_never_a_traceback(tmp_path: Path) -> None:
    long_line = "yes " * 10_000
    answers = b"\n".join([b"\x00\xff\xfe binary", "¿Me oyes? sí".encode(), long_line.encode(),
                          b"", b"no", b"no"]) + b"\n"
    done = run_text(answers, tmp_path, "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    evs = events(done.stdout)
    intents = [e["name"] for e in evs if e["event"] == "intent"]
    assert intents[0] == "no_match"
    assert "messages.not_understood" in [e["key"] for e in evs if e["event"] == "said"]
    assert [e for e in evs if e["event"] == "no_input"]
    # the first question is a red flag: nothing unclear there passes as a "no"
    assert any(e["event"] == "escalated" for e in evs)


def test_the_session_log_has_every_event_and_is_private(tmp_path: Path) -> None:
    done = run_text(["no", "yes"], tmp_path)
    logs = list((tmp_path / "logs").glob("session-*.jsonl"))
    assert len(logs) == 1, done.stderr
    mode = stat.S_IMODE(os.stat(logs[0]).st_mode)
    assert mode == 0o600
    entries = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert all("time" in e for e in entries)
    kinds = [e["event"] for e in entries]
    assert kinds[-1] == "ended" and "escalated" in kinds and "heard" in kinds
    assert not any("audio" in k for e in entries for k in e if k != "audio_s")


def test_no_log_writes_nothing(tmp_path: Path) -> None:
    run_text(["stop"], tmp_path, "--no-log")
    assert not (tmp_path / "logs").exists()


def test_emergency_number_setting_is_said(tmp_path: Path) -> None:
    done = run_text(["yes"], tmp_path, "--emergency-number", "112")
    assert "Please call 112 now." in done.stdout and "911" not in done.stdout
    bad = run_text(["yes"], tmp_path, "--emergency-number", "abc")
    assert bad.returncode == 1
    assert "emergency_number = 'abc' is not allowed; allowed: 2-6 digits" in bad.stderr


@pytest.mark.parametrize("ok", [True, False])
def test_the_notify_hook_runs_on_an_emergency_and_its_failure_is_not_fatal(
        tmp_path: Path, ok: bool) -> None:
    out = tmp_path / "notified.json"
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\necho \"$VOICE_SKILL_LEVEL\" >> {out}\n"
                      + ("" if ok else "exit 3\n"))
    script.chmod(0o755)
    done = run_text(["no", "no", "yes"], tmp_path, "--json",
                    config=f'notify_command = ["{script}"]\n')
    evs = events(done.stdout)
    notified = [e for e in evs if e["event"] == "notified"]
    assert len(notified) == 1 and notified[0]["ok"] is ok
    payload, level = out.read_text().rsplit("}", 1)
    assert json.loads(payload + "}")["reason"] == "weak or numb legs"
    assert level.strip() == "emergency"
    assert next(e for e in evs if e["event"] == "ended")["outcome"] == "escalated"
    # the spoken instruction came before the notification finished
    order = [e["event"] for e in evs]
    assert order.index("said", order.index("escalated")) < order.index("notified")


def test_a_hanging_notify_command_is_stopped_after_its_limit(tmp_path: Path) -> None:
    done = run_text(["yes"], tmp_path, "--json",
                    config='notify_command = ["sleep", "30"]\nnotify_timeout_s = 1.0\n')
    notified = [e for e in events(done.stdout) if e["event"] == "notified"]
    assert notified and notified[0]["ok"] is False and "no answer after 1 s" in notified[0]["detail"]


def test_a_typed_session_starts_at_the_first_real_question(tmp_path: Path) -> None:
    """The person is at the screen: no "Can you hear me?"; the greeting and safety line stay."""
    done = run_text(["no"], tmp_path, "--json")
    evs = events(done.stdout)
    said = [e["key"] for e in evs if e["event"] == "said"]
    assert said[0] == "states.opening.say.0" and "states.opening.ask" not in said
    assert not [e for e in evs if e["event"] == "heard" and e.get("state") == "opening"]
    asked = [e for e in evs if e["event"] == "said" and e.get("expects_answer")]
    assert asked[0]["state"] == "rf_bladder"
    assert "Traceback" not in done.stderr


def test_a_huge_line_is_cut_once_told_and_the_next_line_is_heard(tmp_path: Path) -> None:
    """20 MB typed as one line: its excess dropped as it is read (it took seconds, growing
    quadratically: 60 s for 100 MB), one line says so, and the "yes" after it escalates."""
    answers = b"a" * 20_000_000 + b"\nyes\n" + b"b" * 10_000 + b"\nyes\n"
    done = run_text(answers, tmp_path, "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("was cut to its first 4,096") == 1, done.stderr  # said once
    assert "A typed line of 20,000,000 bytes was cut to its first 4,096" in done.stderr
    evs = events(done.stdout)
    heard = [e["text"] for e in evs if e["event"] == "heard"]
    assert heard[0] == "a" * 500 and heard[1] == "yes"  # the matcher reads 500 characters
    assert next(e for e in evs if e["event"] == "escalated")["level"] == "emergency"
    assert evs[-1]["event"] == "ended"


def test_stdin_of_dev_zero_ends_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """/dev/zero never ends and has no line end: it ran for ever, its memory growing. Now the
    input ends after 256 MiB without a line end, said in one line, and the session closes."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open("/dev/zero", "rb") as zero, out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "voice_skill", "run", "--text", "--json",
                                 "--no-log"], stdin=zero, stdout=stdout, stderr=stderr)
    hang_guard = threading.Timer(120, proc.kill)
    hang_guard.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)  # with the child's peak memory
    finally:
        hang_guard.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err.read_text()
    assert "no line end in its first 256 MiB: it is not typed answers" in err.read_text()
    evs = events(out.read_text())
    assert {"event": "input_closed", "why": "end"} in evs and evs[-1]["event"] == "ended"
    assert usage.ru_maxrss < 300 * 1024, usage.ru_maxrss  # KiB: none of the input is kept


def test_a_typed_sessions_said_events_say_the_words_were_printed(tmp_path: Path) -> None:
    """`said` tells how the words went out: a typed session speaks nothing (`printed`), in the
    JSON lines and in the log; every other field is as it was, for scripts."""
    done = run_text(["yes"], tmp_path, "--json")
    logged = events(next((tmp_path / "logs").glob("session-*.jsonl")).read_text())
    for evs in (events(done.stdout), logged):
        said = [e for e in evs if e["event"] == "said"]
        assert said and all(e["spoken"] == "printed" for e in said)
        assert {k for k in said[0] if k != "time"} == {
            "event", "key", "text", "state", "expects_answer", "spoken"}
