"""Barge-in through the virtual devices, with the skill's speaker looped into its microphone.

The loopback makes the microphone hear the skill as loud as the person (a small speaker next
to it): the skill's own voice must never be taken for an answer, while a real person's
"stop" said over the safety instructions stops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulse_rig import PulseRig
from test_voice_session import SpokenSession

REAL = Path(__file__).parent / "fixtures" / "real_speech"
pytestmark = [pytest.mark.audio, pytest.mark.slow]


@pytest.fixture()
def echoing_rig(pulse_rig: PulseRig, tmp_path: Path) -> Iterator[PulseRig]:
    """The rig with the speaker heard by the microphone, and barge-in on for the skill."""
    module = pulse_rig.echo_speaker_into_mic("100%")
    config = tmp_path / "config.toml"
    config.write_text("barge_in = true\n")
    pulse_rig.env["VOICE_SKILL_CONFIG"] = str(config)
    try:
        yield pulse_rig
    finally:
        pulse_rig.env.pop("VOICE_SKILL_CONFIG", None)
        pulse_rig.pactl("unload-module", module, check=False)


def test_the_skills_own_voice_through_the_echo_is_never_an_answer(
        echoing_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(echoing_rig, tmp_path)
    answers = {"opening": "yes", "rf_bladder": "no", "rf_saddle": "no", "rf_legs": "stop"}
    end = s.run(answers, timeout_s=240)
    over = [e for e in s.kinds("heard") if e.get("over_speech")]
    assert not over, over  # nobody spoke over the skill: anything heard then was its echo
    heard = [(e["state"], e["name"]) for e in s.kinds("intent")]
    assert heard[:3] == [("opening", "yes"), ("rf_bladder", "no"), ("rf_saddle", "no")], heard
    assert end["outcome"] == "stopped"


def test_stop_said_over_the_safety_instructions_stops_the_skill(
        echoing_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(echoing_rig, tmp_path)
    spoke: dict[str, Any] = {}

    def stop_over_the_instructions(event: dict[str, Any]) -> str | None:
        if event["event"] == "said" and event["state"] == "rf_bladder" and not spoke:
            spoke["at"] = event
            echoing_rig.play_into_mic(REAL / "stop" / "022cd682_nohash_0.wav")  # while the skill talks
        return None

    end = s.run({"opening": "yes"}, timeout_s=120, on_event=stop_over_the_instructions)
    over = [e for e in s.kinds("heard") if e.get("over_speech")]
    assert over and over[0]["state"] == "rf_bladder", s.events[-12:]
    assert [e["name"] for e in s.kinds("intent")][-1] == "stop"
    # what the skill still had to say was cut, and it went to its goodbye
    assert s.kinds("not_said"), s.events[-12:]
    assert end["outcome"] == "stopped"
