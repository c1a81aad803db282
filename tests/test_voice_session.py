"""A spoken session end to end through real (virtual) audio devices.

The test plays a person's recorded answers into the skill's microphone (a PulseAudio null sink),
the skill hears them through PortAudio, recognizes them with the bundled engine, and speaks
through pyttsx3 and espeak-ng into its speaker sink, where the test records and recognizes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pulse_rig import PulseRig, rms

AUDIO = Path(__file__).parent / "fixtures" / "audio" / "slt" / "clean"
pytestmark = [pytest.mark.audio, pytest.mark.slow]


class SpokenSession:
    """`voice-skill run` as a subprocess on the virtual devices, answering when it listens."""

    def __init__(self, rig: PulseRig, tmp_path: Path, *args: str) -> None:
        self.rig = rig
        self.events: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voice_skill", "run", "--json", "--no-log", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=rig.env, text=True, cwd=tmp_path,
        )

    def next_event(self, deadline: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"session ended early or hung; events: {self.events[-5:]};"
                                 f" stderr: {err[-2000:]}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    def answer(self, wav: str) -> None:
        time.sleep(0.3)  # let the skill flush what it heard of itself before we speak
        self.rig.play_into_mic(AUDIO / f"{wav}.wav").wait(10)

    def run(self, answers: list[str], timeout_s: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        pending = list(answers)
        while True:
            event = self.next_event(deadline)
            if event["event"] == "listening" and pending:
                self.answer(pending.pop(0))
            if event["event"] == "ended":
                self.proc.wait(30)
                return event

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def short_timers_dialog(tmp_path: Path) -> Path:
    """The bundled dialogue with its 20-minute timers cut to seconds, so a happy path fits CI."""
    from voice_skill.dialog import bundled_dialog_path

    text = bundled_dialog_path().read_text(encoding="utf-8")
    text = text.replace("duration_s: 1200", "duration_s: 4").replace("at_s: 600", "at_s: 2")
    text = text.replace("rounds: 4", "rounds: 1")
    path = tmp_path / "short_timers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_spoken_red_flag_yes_escalates_and_the_skill_is_heard_saying_call(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(pulse_rig, tmp_path)
    recorder = None
    deadline = time.monotonic() + 180
    answers = ["yes", "no", "yes_i_have"]
    while True:
        event = s.next_event(deadline)
        if event["event"] == "escalated":
            recorder = pulse_rig.speaker_recorder()
        if event["event"] == "listening":
            if recorder is not None:
                spoken = recorder.stop()
                recorder = None
                s.answer("stop")
            elif answers:
                s.answer(answers.pop(0))
        if event["event"] == "ended":
            s.proc.wait(30)
            break
    heard = [(e["state"], e["text"]) for e in s.kinds("heard")]
    assert heard[:3] == [("opening", "yes"), ("rf_bladder", "no"), ("rf_saddle", "yes i have")]
    assert s.kinds("escalated")[0]["level"] == "emergency"
    assert event["outcome"] == "escalated" and event["level"] == "emergency"
    # what the skill said went out of its speaker as speech, and says to call
    assert rms(spoken) > 300, "the skill's speaker stayed silent"
    from voice_skill.recognizers import PocketSphinxRecognizer

    text = PocketSphinxRecognizer().recognize(spoken, None).text
    assert {"call", "nine", "one", "now", "serious"} & set(text.split()), text


def test_spoken_happy_path_completes(pulse_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(pulse_rig, tmp_path, "--dialog", str(short_timers_dialog(tmp_path)))
    answers = ["yes", *["no"] * 10, "its_about_a_seven", "yes", "side", "ready", "ready", "ready",
               "yes", "yes", "ready", "done", "ready", "no", "three"]
    end = s.run(answers, timeout_s=420)
    intents = [e["name"] for e in s.kinds("intent")]
    assert end["outcome"] == "completed", (intents, s.events[-5:])
    assert "pain" in intents
    assert any("Your pain went from 7 to 3" in e["text"] for e in s.kinds("said"))
    assert not s.kinds("escalated")


def test_no_microphone_falls_back_to_typed_answers(tmp_path: Path) -> None:
    """With no audio server at all the skill says so and the session goes on, typed."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PULSE_SERVER": "unix:/nonexistent",
           "AUDIODEV": "none"}
    done = subprocess.run(
        [sys.executable, "-m", "voice_skill", "run", "--no-log", "--json"],
        input="yes\nyes\n", capture_output=True, text=True, timeout=120, env=env, check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    notices = [json.loads(line) for line in done.stdout.splitlines()
               if '"notice"' in line]
    assert any("microphone" in n["text"].lower() for n in notices), done.stderr
    assert '"escalated"' in done.stdout


