"""`voice-skill run --text` as a person or a script uses it: typed answers, JSON events, the log."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import time
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
    # The child's own peak (VmHWM), read while it runs: its rusage from wait4 also counts the
    # pytest worker's memory, which a vfork-and-exec child inherits as its "maximum".
    peak_kib, deadline = 0, time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kib = max([peak_kib] + [int(line.split()[1]) for line in status.splitlines()
                                         if line.startswith("VmHWM:")])  # none once a zombie
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    assert proc.wait() == 0, err.read_text()
    assert "no line end in its first 256 MiB: it is not typed answers" in err.read_text()
    evs = events(out.read_text())
    assert {"event": "input_closed", "why": "end"} in evs and evs[-1]["event"] == "ended"
    assert 0 < peak_kib < 300 * 1024, peak_kib  # none of the input is kept


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


def test_a_typed_no_taken_back_is_confirmed_and_the_log_says_why(tmp_path: Path) -> None:
    """Issue 25: "no ... well, I did go a bit" is no plain no: asked about again in plain words,
    and the session log says which clause decided it and how."""
    done = run_text(["no... well, I did go a bit in the night", "yes"], tmp_path, "--json")
    evs = events(done.stdout)
    said = [e["key"] for e in evs if e["event"] == "said"]
    assert "messages.check_meaning" in said, said
    assert said.index("messages.check_meaning") < said.index("states.rf_bladder.red_flag.confirm")
    assert evs[-1]["event"] == "ended" and evs[-1]["outcome"] == "escalated"
    esc = next(e for e in evs if e["event"] == "escalated")
    assert esc["reason"] == "bladder or bowel trouble"
    log = next((tmp_path / "logs").glob("session-*.jsonl"))
    first = next(json.loads(line) for line in log.read_text().splitlines()
                 if json.loads(line)["event"] == "intent")
    assert first["name"] == "no_match"
    assert any("no taken back (hedge 'well'" in w and "'i did go a bit in the night'" in w
               for w in first["why"]), first["why"]


def test_a_typed_symptom_told_by_its_effect_escalates(tmp_path: Path) -> None:
    """Issue 25: incontinence told by what happens, with none of the topic's words."""
    done = run_text(["it just came out before I knew, I never felt it coming"], tmp_path,
                    "--json")
    evs = events(done.stdout)
    esc = [e for e in evs if e["event"] == "escalated"]
    assert esc and esc[0]["reason"] == "bladder or bowel trouble", evs[-6:]
    intent = next(e for e in evs if e["event"] == "intent")
    assert intent["name"] == "yes" and any("effect" in w for w in intent["why"]), intent
    assert any("Please call 911 now." in e["text"] for e in evs if e["event"] == "said")


def test_a_typed_onset_answered_as_a_time(tmp_path: Path) -> None:
    """Issue 25: "yesterday" is within three days (ice); "it started on monday" is asked about
    in plain words."""
    start = [*["no"] * 10, "seven", "no"]
    done = run_text([*start, "yesterday"], tmp_path, "--json")
    dests = [e["dest"] for e in events(done.stdout) if e["event"] == "state"]
    assert "ice_ask" in dests, dests
    done = run_text([*start, "it started on monday", "no"], tmp_path, "--json")
    evs = events(done.stdout)
    said = [e["text"] for e in evs if e["event"] == "said"]
    assert "Was that within the last three days? Say yes or no." in said, said[-4:]
    assert "heat_ask" in [e["dest"] for e in evs if e["event"] == "state"]
