"""A spoken session end to end through real (virtual) audio devices.

The test plays a person's recorded answers into the skill's microphone (a PulseAudio null sink),
the skill hears them through PortAudio, recognizes them with the bundled engine, and speaks
through pyttsx3 and espeak-ng into its speaker sink, where the test records and recognizes it.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pulse_rig import PulseRig, rms

AUDIO = Path(__file__).parent / "fixtures" / "audio" / "slt" / "clean"
SENTENCES = Path(__file__).parent / "fixtures" / "sentences"
pytestmark = [pytest.mark.audio, pytest.mark.slow]


def fast_speech_config(tmp_path: Path, settings: str = "") -> Path:
    """A settings file where the skill talks at its fastest (400 words a minute): the same
    words through the same devices, in a third of the time (a person would choose 120-160)."""
    config = tmp_path / "fast_speech.toml"
    config.write_text("speech_rate_wpm = 400\n" + settings, encoding="utf-8")
    return config


class SpokenSession:
    """`voice-skill run` as a subprocess on the virtual devices, answering when it listens."""

    def __init__(self, rig: PulseRig, tmp_path: Path, *args: str, settings: str = "") -> None:
        self.rig = rig
        self.events: list[dict[str, Any]] = []
        config = fast_speech_config(tmp_path, settings)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voice_skill", "run", "--json", "--no-log",
             "--config", str(config), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=rig.env, text=True, cwd=tmp_path,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def next_event(self, deadline: float) -> dict[str, Any]:
        """The next event; fails (never hangs) when the session is silent past the deadline."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if not line:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            heard = [(e["state"], e.get("text"), e.get("over_speech")) for e in self.kinds("heard")]
            raise AssertionError(f"session ended early or hung; heard: {heard}; last events: "
                                 f"{self.events[-5:]}; stderr: {err[-2000:]}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the session's output ended

    def answer(self, wav: str) -> None:
        """Say a fixture: a phrase of the corpus by name, or a sentence's file."""
        time.sleep(0.3)  # let the skill flush what it heard of itself before we speak
        path = Path(wav) if wav.endswith(".wav") else AUDIO / f"{wav}.wav"
        self.rig.play_into_mic(path).wait(10)

    def run(self, answers: dict[str, str], timeout_s: float = 240,
            on_event: Any = None) -> dict[str, Any]:
        """Answer by the state the skill listens in, as a person would (a re-ask gets the
        same answer again), until the session ends."""
        deadline = time.monotonic() + timeout_s
        for _ in range(2000):
            event = self.next_event(deadline)
            reply = on_event(event) if on_event else None
            if event["event"] == "listening":
                # on_event's reply: a fixture to answer with, or "" when it has answered itself
                wav = reply if reply is not None else (answers.get(event["state"])
                                                       or answers.get(event["state"][:3]))
                if wav:
                    self.answer(wav)
            if event["event"] == "ended":
                self.proc.wait(30)
                return event
        raise AssertionError("the session did not end")

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def short_timers_dialog(tmp_path: Path) -> Path:
    """The bundled dialogue with its 20-minute timers cut to seconds, so a happy path fits CI."""
    from voice_skill.dialogue.dialog import bundled_dialog_path

    text = bundled_dialog_path().read_text(encoding="utf-8")
    text = text.replace("duration_s: 1200", "duration_s: 4").replace("at_s: 600", "at_s: 2")
    text = text.replace("rounds: 4", "rounds: 1")
    path = tmp_path / "short_timers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_spoken_red_flag_yes_escalates_and_the_skill_is_heard_on_its_speaker(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(pulse_rig, tmp_path)
    recording: dict[str, Any] = {}

    def record_the_emergency(event: dict[str, Any]) -> str | None:
        if event["event"] == "escalated":
            recording["recorder"] = pulse_rig.speaker_recorder()
        if event["event"] == "listening" and "recorder" in recording:
            recording["audio"] = recording.pop("recorder").stop()
            return "stop"
        return None

    end = s.run({"opening": "yes", "rf_bladder": "no", "rf_saddle": "yes_i_have"},
                on_event=record_the_emergency)
    heard = [(e["state"], e["name"]) for e in s.kinds("intent")]
    assert ("rf_saddle", "yes") in heard, heard
    assert s.kinds("escalated")[0]["level"] == "emergency"
    assert end["outcome"] == "escalated" and end["level"] == "emergency"
    # What the skill said came out of its speaker as speech: the four emergency sentences
    # (about 35 words at 400 words a minute) make seconds of voiced audio.
    spoken = recording["audio"]
    assert rms(spoken) > 300, "the skill's speaker stayed silent"
    from voice_skill.hearing.audio import WavSource
    from voice_skill.hearing.endpointing import Endpointer
    from voice_skill.settings import Settings

    source = WavSource(spoken)
    voiced_s = 0.0
    while (segment := Endpointer(Settings()).listen(source, 30.0)) is not None:
        voiced_s += segment.duration_s
    assert voiced_s > 3.0, f"only {voiced_s:.1f} s of speech came out"


def test_spoken_negation_led_red_flag_statement_escalates(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """ "No control of my bladder" starts with "no" and states the symptom: an emergency."""
    s = SpokenSession(pulse_rig, tmp_path)
    end = s.run({"opening": "yes", "rf_bladder": str(SENTENCES / "no_control_of_my_bladder.wav"),
                 "emergency": "stop"})  # heard the instruction: the person ends the session
    heard = [(e["state"], e["name"]) for e in s.kinds("intent")]
    assert ("rf_bladder", "yes") in heard, heard
    escalated = s.kinds("escalated")
    assert escalated and escalated[0]["reason"] == "bladder or bowel trouble", heard
    assert end["outcome"] == "escalated" and end["level"] == "emergency"


def test_spoken_no_taken_back_is_confirmed_in_plain_words(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """ "No, well, I did go a bit": the "no" is taken back in the same breath, so the skill
    asks about it again in plain words ("I want to be sure I understood you"), and the "yes"
    to that is an emergency (issue 25)."""
    s = SpokenSession(pulse_rig, tmp_path)
    taken_back = str(SENTENCES / "no_well_i_did_go_a_bit.wav")
    asked = {"again": False}

    def answer(event: dict[str, Any]) -> str | None:
        if event["event"] == "said" and event["key"] == "messages.check_meaning":
            asked["again"] = True
        if event["event"] == "listening" and event["state"] == "rf_bladder":
            return "yes" if asked["again"] else taken_back
        return None

    end = s.run({"opening": "yes", "emergency": "stop"}, on_event=answer)
    first = next(e for e in s.kinds("intent") if e["state"] == "rf_bladder")
    assert first["name"] == "no_match" and any("taken back" in w for w in first["why"]), first
    assert asked["again"], [e["key"] for e in s.kinds("said")]
    escalated = s.kinds("escalated")
    assert escalated and escalated[0]["reason"] == "bladder or bowel trouble"
    assert end["outcome"] == "escalated"


def test_spoken_stop_during_the_ice_says_to_take_it_off(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """The skill promised to say when to take the ice off: a "stop" while it is on says so."""
    s = SpokenSession(pulse_rig, tmp_path)

    def stop_once_the_ice_is_on(event: dict[str, Any]) -> str | None:
        if event["event"] == "said" and event["text"].startswith("The timer is running"):
            # once the skill has said it (about 3 s at 400 words a minute): words said over
            # the skill are not heard without barge-in
            threading.Timer(4.0, s.answer, ("stop",)).start()
        return None

    answers = {"opening": "yes", "rf_": "no", "pain_start": "its_about_a_seven",
               "can_move": "no", "onset": "yes", "ice_ask": "yes", "ice_prepare": "ready"}
    end = s.run(answers, timeout_s=300, on_event=stop_once_the_ice_is_on)
    said = [e["text"] for e in s.kinds("said")]
    assert end["outcome"] == "stopped", said[-5:]
    assert "Take the ice off now." in said, said[-5:]
    assert said.index("Take the ice off now.") < said.index(
        "All right. I will stop now. Take it slowly.")


def test_spoken_happy_path_completes(pulse_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(pulse_rig, tmp_path, "--dialog", str(short_timers_dialog(tmp_path)))
    answers = {"opening": "yes", "rf_": "no", "pain_start": "its_about_a_seven",
               "can_move": "yes", "choose_position": "side", "side_1": "ready",
               "side_2": "ready", "onset": "yes", "ice_ask": "yes",
               "ice_prepare": "ready", "ice_off": "done", "breathing_intro": "ready",
               "breathing_again": "no", "pain_end": "three"}
    end = s.run(answers, timeout_s=420)
    intents = [(e["state"], e["name"], e.get("value")) for e in s.kinds("intent")]
    assert end["outcome"] == "completed", (intents, s.events[-5:])
    assert not s.kinds("escalated"), intents
    states = {e["dest"] for e in s.kinds("state")}
    assert {"side_2", "ice_on", "breathing", "closing"} <= states, states
    assert any(e["text"].startswith("Your pain went from") for e in s.kinds("said")), intents


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


