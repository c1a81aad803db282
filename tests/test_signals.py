"""SIGTERM and SIGHUP (`systemctl stop`, a closed terminal) end with the closing line and `ended`.

Issue 16; docs/failure-modes.md."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pulse_rig import PulseRig, SpeakerRecorder, rms
from typed_session import SKILL, session, until, whole_lines

from voice_skill.events import InputClosed, SessionEvent
from voice_skill.speaking.tts import NullSpeaker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("answers, closing", [
    ([], ["messages.goodbye", "messages.safety_line"]),  # a typed session begins with the red flags
    (["yes"], ["messages.emergency_ended"]),
])
def test_a_stop_signal_ends_with_the_closing_line_and_an_ended_event(
        tmp_path: Path, sig: int, answers: list[str], closing: list[str]) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'log_dir = "{tmp_path / "logs"}"\n')
    proc = subprocess.Popen([*SKILL, "--config", str(cfg), "run", "--text", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    until(proc, "listening")
    for answer in answers:
        proc.stdin.write(answer.encode() + b"\n")
        proc.stdin.flush()
        until(proc, "listening")
    os.kill(proc.pid, sig)
    rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
    assert proc.wait(20) == -sig  # it exits by the signal, as systemd and shells expect
    assert "Traceback" not in proc.stderr.read().decode()
    assert rest[0] == {"event": "input_closed", "why": "signal"}
    assert [e["key"] for e in rest if e["event"] == "said"] == closing
    assert rest[-1]["event"] == "ended"
    log = next((tmp_path / "logs").glob("session-*.jsonl"))
    assert whole_lines(log)[-1]["event"] == "ended"
    proc.stdin.close()


class SignalledWhileSpeaking(NullSpeaker):
    """Gets a signal in the middle of its first reply."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum

    def say(self, text: str) -> None:
        if not self.said:
            os.kill(os.getpid(), self.signum)
        super().say(text)


@pytest.mark.parametrize("sig, why", [(signal.SIGTERM, "signal"), (signal.SIGINT, "interrupted")])
def test_a_signal_while_speaking_lets_the_reply_end_then_closes(sig: int, why: str) -> None:
    from voice_skill import shutdown

    before = {s: signal.getsignal(s) for s in (*shutdown.SIGNALS, signal.SIGINT)}
    shutdown.install()
    try:
        events: list[SessionEvent] = []
        end, said = session(["yes", "no"], [events.append], SignalledWhileSpeaking(sig))
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        received = shutdown.received()
        shutdown.reset()
    assert received == (sig if sig != signal.SIGINT else None)  # Ctrl-C: exit status 0 as before
    opening = session([], [])[1].said[:2]
    assert said.said[:2] == opening  # the greeting and its question were said whole
    assert InputClosed(why) in events and end.outcome == "stopped"  # type: ignore[arg-type]
    assert said.said[-1].startswith("If anything gets worse")


@pytest.mark.audio
@pytest.mark.slow
def test_systemctl_stop_mid_emergency_lets_the_instruction_end_then_says_the_closing_line(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """A spoken session, SIGTERM while it speaks the emergency instruction: the instruction is
    said to its end, then the emergency closing line, through the speaker."""
    from test_voice_session import SpokenSession

    s = SpokenSession(pulse_rig, tmp_path)
    recorder: list[SpeakerRecorder] = []

    def stop_mid_emergency(event: dict[str, object]) -> str | None:
        if event["event"] == "said" and event["key"] == "states.emergency.say.0":
            os.kill(s.proc.pid, signal.SIGTERM)  # systemctl stop
        if event["event"] == "said" and event["key"] == "messages.emergency_ended":
            recorder.append(pulse_rig.speaker_recorder())  # it is about to be said
        return None

    end = s.run({"opening": "yes", "rf_bladder": "yes_i_have"}, on_event=stop_mid_emergency)
    assert s.proc.wait(30) == -signal.SIGTERM
    audio = recorder[0].stop()
    said = [e["key"] for e in s.kinds("said") if e["state"] == "emergency"]
    assert said[-1] == "messages.emergency_ended"
    assert [k for k in said if k.startswith("states.emergency.say")] == [
        f"states.emergency.say.{i}" for i in range(4)]  # the whole instruction
    assert {"event": "input_closed", "why": "signal"} in s.events
    assert end["level"] == "emergency"
    assert rms(audio) > 300, "the closing line was not heard on the speaker"


@pytest.mark.audio
@pytest.mark.slow
def test_serve_stops_politely_in_a_session_and_at_once_while_waiting(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """The service: SIGTERM in a session closes it (and serve does not wait again); SIGTERM
    while it waits for "first aid" ends it at once, without a traceback."""
    from test_serve import AUDIO, Serving

    (tmp_path / "session").mkdir()
    (tmp_path / "idle").mkdir()
    s = Serving(pulse_rig, tmp_path / "session", "--engine", "whisper")
    try:
        s.wait_for(lambda e: e["event"] == "waiting")
        s.say(AUDIO / "call_an_ambulance.wav")
        s.wait_for(lambda e: e["event"] == "listening" and e["state"] == "emergency")
        s.proc.send_signal(signal.SIGTERM)
        ended = s.wait_for(lambda e: e["event"] == "ended")
        assert s.proc.wait(30) == -signal.SIGTERM
        said = [e["key"] for e in s.events if e["event"] == "said"]
        assert said[-1] == "messages.emergency_ended" and ended["level"] == "emergency"
        assert s.events[-1] == ended  # it did not go back to waiting
    finally:
        err = s.stop()
    assert "Traceback" not in err
    idle = Serving(pulse_rig, tmp_path / "idle", "--engine", "whisper")
    try:
        idle.wait_for(lambda e: e["event"] == "waiting")
        idle.proc.send_signal(signal.SIGTERM)
        assert idle.proc.wait(10) == -signal.SIGTERM
    finally:
        err = idle.stop()
    assert "Traceback" not in err


def test_nohup_still_ignores_a_closed_terminal(tmp_path: Path) -> None:
    """A signal the caller chose to ignore (`nohup` ignores SIGHUP) stays ignored."""
    proc = subprocess.Popen(["nohup", *SKILL, "run", "--text", "--json", "--no-log"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    until(proc, "listening")
    os.kill(proc.pid, signal.SIGHUP)
    proc.stdin.write(b"no\n")
    proc.stdin.flush()
    assert until(proc, "listening")[-1]["state"] == "rf_saddle"  # still guiding
    proc.stdin.close()
    assert proc.wait(20) == 0


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_signal_after_the_end_acts_at_once_on_a_hung_notify_hook(
        tmp_path: Path, sig: int, status: int) -> None:
    """Issue 23: with notify_timeout_s = 300 and a hook that hangs, SIGTERM and Ctrl-C after
    `ended` were ignored for minutes; the hook (and what it started with setsid) ran on."""
    pids = tmp_path / "pids"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho $$ >> {pids}\nsetsid sleep 300 &\necho $! >> {pids}\n"
                    "sleep 300\n")
    hook.chmod(0o755)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'notify_command = ["{hook}"]\nnotify_timeout_s = 300\n')
    proc = subprocess.Popen([*SKILL, "--config", str(cfg), "run", "--text", "--json", "--no-log"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(b"help\n")
        proc.stdin.close()  # the end of input ends the session: "ended", then the wait
        until(proc, "ended")
        while len(pids.read_text().split() if pids.exists() else ()) < 2:  # the hook hangs
            assert proc.poll() is None
            time.sleep(0.05)
        os.kill(proc.pid, sig)
        cut = threading.Timer(60, proc.kill)  # far less than the hook's 300 s: killed = failed
        cut.start()
        rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
        err = proc.stderr.read()
        cut.cancel()
        assert proc.wait() == status
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in err.decode()
    [notified] = [e for e in rest if e["event"] == "notified"]
    assert "stopped" in notified["detail"], notified
    for pid in pids.read_text().split():
        state = Path(f"/proc/{pid}/stat")
        assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] in "ZX"


def _started_importing(pid: int) -> bool:
    """Whether the skill is importing its libraries (settings' msgspec is mapped; numpy and
    the engines come after it): the window in which Ctrl-C printed a traceback."""
    try:
        return "msgspec" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_ctrl_c_while_the_skill_imports_is_one_line_and_status_130() -> None:
    """Issue 23: SIGINT in the first half second printed a KeyboardInterrupt traceback."""
    proc = subprocess.Popen([*SKILL, "run", "--text", "--no-log"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not _started_importing(proc.pid):
            assert proc.poll() is None
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert err.decode().splitlines() == ["voice-skill: interrupted while starting"], err
    assert proc.returncode == 130 and out == b""


def _memory_limit(kb: int) -> Callable[[], None]:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (kb * 1024, kb * 1024))
    return limit


@pytest.mark.parametrize("kb", [150_000, 120_000, 60_000])
def test_a_memory_limit_at_start_is_one_line_never_a_traceback(kb: int) -> None:
    """Issue 23: under `ulimit -v 150000` OpenBLAS's threads at numpy's import failed, with a
    KeyboardInterrupt traceback. Now one thread is asked for and a typed session runs; with
    less memory still, one line says memory could not be had."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([*SKILL, "run", "--text", "--no-log"], input=b"no\nstop\n",
                          capture_output=True, env=env, preexec_fn=_memory_limit(kb),
                          timeout=120, check=False)
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    if done.returncode == 0:
        assert b"call 911" in done.stdout  # the session ran to its closing line
    else:  # (OpenBLAS may give up first, and exit by itself with its own one line)
        assert done.returncode == 1 and err.splitlines()[-1].startswith(
            ("voice-skill: could not get the memory it needs to start",
             "OpenBLAS error: Memory allocation still failed")), err
    if kb == 150_000:
        assert done.returncode == 0, err
