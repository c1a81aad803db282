"""Barge-in through the virtual devices, with the skill's speaker looped into its microphone.

At full level the loopback makes the microphone hear the skill louder than the person (a
small speaker next to it): its own voice must never be taken for an answer. A real person's
"stop" said over the safety instructions stops it when the person is louder than that echo:
the echo at 30 % (pactl's cubic scale: -31 dB) and the "stop" raised to a clear shout. The
gate cannot tell a person 15 dB below the skill's echo from the echo (measured 2026-11-30).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pulse_rig import PulseRig, loud
from test_voice_session import SpokenSession

from voice_skill.dev.fixtures import write_wav
from voice_skill.dev.turn_bench import trim
from voice_skill.hearing.audio import read_wav, silence

REAL = Path(__file__).parent / "fixtures" / "real_speech"
CLEAN = Path(__file__).parent / "fixtures" / "audio" / "slt" / "clean"
pytestmark = [pytest.mark.audio, pytest.mark.slow]


@pytest.fixture(params=["100%"])
def echoing_rig(pulse_rig: PulseRig, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[PulseRig]:
    """The rig with the speaker heard by the microphone, at the level given."""
    module = pulse_rig.echo_speaker_into_mic(request.param)
    try:
        yield pulse_rig
    finally:
        pulse_rig.pactl("unload-module", module, check=False)


def test_the_skills_own_voice_through_the_echo_is_never_an_answer(
        echoing_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(echoing_rig, tmp_path, settings="barge_in = true\n")
    answers = {"opening": "yes", "rf_bladder": "no", "rf_saddle": "no", "rf_legs": "stop"}
    end = s.run(answers, timeout_s=240)
    over = [e for e in s.kinds("heard") if e.get("over_speech")]
    assert not over, over  # nobody spoke over the skill: anything heard then was its echo
    heard = [(e["state"], e["name"]) for e in s.kinds("intent")]
    assert heard[:3] == [("opening", "yes"), ("rf_bladder", "no"), ("rf_saddle", "no")], heard
    assert end["outcome"] == "stopped"


@pytest.mark.parametrize("echoing_rig", ["30%"], indirect=True)
def test_stop_said_over_the_safety_instructions_stops_the_skill(
        echoing_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(echoing_rig, tmp_path, settings="barge_in = true\n")
    stop = tmp_path / "stop.wav"  # raised to -1 dBFS at its peak: a shout
    write_wav(stop, loud(read_wav(REAL / "stop" / "022cd682_nohash_0.wav")))
    over_keys = ("states.rf_bladder.say.1", "states.rf_bladder.say.2", "states.rf_bladder.ask")

    def stop_over_the_instructions(event: dict[str, Any]) -> str | None:
        # 0.8 s into "At any time, even while I talk, you can say repeat, ...", and again
        # into the next sentences while the skill goes on talking
        if event["event"] == "said" and event["key"] in over_keys:
            threading.Timer(0.8, echoing_rig.play_into_mic, [stop]).start()
        return None

    # Heard unsurely over the echo, a "stop" during a red-flag question is asked about again
    # (never taken as a "no"): the person says it again then.
    end = s.run({"opening": "yes", "rf_bladder": "stop"}, timeout_s=120,
                on_event=stop_over_the_instructions)
    assert end["outcome"] == "stopped" and not s.kinds("escalated"), s.events[-12:]
    over = [e for e in s.kinds("heard") if e.get("over_speech")]
    # Measured 2026-11-30: no "stop" heard over the skill in 5 of 27 sessions before the
    # echo-loudness fix, 0 of 20 after; on a loaded machine the skill's own "... pause, or
    # stop ..." once came through as "pause". The person is still stopped at the question
    # (asserted above); a miss is reported as xfail, not hidden; barge-in is off by default.
    if not over:
        pytest.xfail("no 'stop' heard over the skill this session")
    if over[0]["text"] != "stop":
        pytest.xfail(f"the skill's own voice came through the canceller: {over[0]['text']!r}")
    assert over[0]["state"] == "rf_bladder", s.events[-12:]
    assert [e["name"] for e in s.kinds("intent")][-1] == "stop"
    # what the skill still had to say was cut, and it went to its goodbye
    assert s.kinds("not_said"), s.events[-12:]


@pytest.mark.parametrize("echoing_rig", ["30%"], indirect=True)
def test_doubt_said_after_a_no_is_never_taken_as_a_no(
        echoing_rig: PulseRig, tmp_path: Path) -> None:
    """ "no ... I'm not sure" (0.45 s between) with barge-in on: doubt, never a no. A red-flag
    "no" that may grow into doubt waits the full end silence even with barge-in: ending it
    quickly and taking it back when the rest is heard over the next question was tried, and
    lost the doubt in 5 of 7 runs here (the echo gate silenced the soft "sure" under the
    skill's voice, and "no i'm not here" reads as a no)."""
    doubt = tmp_path / "no_im_not_sure.wav"
    write_wav(doubt, np.concatenate([trim(read_wav(CLEAN / "no.wav")), silence(0.45),
                                     trim(read_wav(CLEAN / "im_not_sure.wav"))]))
    s = SpokenSession(echoing_rig, tmp_path, settings="barge_in = true\n")
    asked = []

    def answer_with_doubt(event: dict[str, Any]) -> str | None:
        if event["event"] == "listening" and event["state"] == "rf_bladder":
            asked.append(event)
            if len(asked) == 1:
                echoing_rig.play_into_mic(doubt).wait(10)
                return ""  # answered here
            return "stop"  # asked again: the person ends the session
        return None

    end = s.run({"opening": "yes"}, timeout_s=120, on_event=answer_with_doubt)
    said = [e["key"] for e in s.kinds("said")]
    listened = [e["state"] for e in s.kinds("listening")]
    trail = [(e["event"], e.get("state"), e.get("key") or e.get("text") or e.get("name"))
             for e in s.events if e["event"] in ("said", "heard", "intent", "corrected")]
    assert "messages.confirm_red_flag" in said, trail
    assert "rf_saddle" not in listened, trail  # the "no" never stood
    assert s.kinds("corrected") or [e["name"] for e in s.kinds("intent")].count("unsure"), trail
    # stopped while the answer was in doubt: the flag counts as a yes, and its advice is said
    assert end["outcome"] == "escalated" and s.kinds("escalated")[0]["level"] == "emergency"
    assert "states.emergency.say.0" in said, trail


def test_with_no_echo_at_all_a_stop_over_the_skill_stops_it(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """Headphones (the microphone hears none of the skill): a real "stop" at its recorded
    level, said over the safety instructions, stops the skill."""
    s = SpokenSession(pulse_rig, tmp_path, settings="barge_in = true\n")
    stop = REAL / "stop" / "022cd682_nohash_0.wav"

    def stop_over_the_instructions(event: dict[str, Any]) -> str | None:
        if event["event"] == "said" and event["key"] == "states.rf_bladder.say.1":
            threading.Timer(0.8, pulse_rig.play_into_mic, [stop]).start()
        return None

    end = s.run({"opening": "yes", "rf_bladder": "stop"}, timeout_s=120,
                on_event=stop_over_the_instructions)
    over = [e for e in s.kinds("heard") if e.get("over_speech")]
    assert over and over[0]["text"] == "stop", s.events[-12:]
    assert s.kinds("not_said") and end["outcome"] == "stopped", s.events[-12:]
