"""A red-flag screening answered by real voices from across a room, through the devices.

Real people's "no" and "yes" (tests/fixtures/room_speech: played in simulated rooms, one with
household noise at 10 dB) go into the skill's microphone; the skill hears them live, confirms
what it heard unsurely, and escalates on the "yes".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulse_rig import PulseRig
from test_voice_session import SpokenSession

from voice_skill.settings import Settings

ROOM = Path(__file__).parent / "fixtures" / "room_speech"
pytestmark = [pytest.mark.audio, pytest.mark.slow]


def test_a_screening_answered_from_across_a_room_escalates_on_the_real_yes(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    s = SpokenSession(pulse_rig, tmp_path)
    end = s.run({"opening": "yes",
                 "rf_bladder": str(ROOM / "no_03401e93_nohash_0_room.wav"),
                 "rf_saddle": str(ROOM / "no_03401e93_nohash_0_room10db.wav"),  # in noise
                 "rf_legs": str(ROOM / "yes_022cd682_nohash_0_room.wav"),
                 "emergency": "stop"})
    heard = [(e["state"], e["name"], e["confidence"]) for e in s.kinds("intent")]
    flags = [(state, name) for state, name, _ in heard if state.startswith("rf_")]
    assert ("rf_bladder", "no") in flags and ("rf_saddle", "no") in flags, heard
    assert flags[-1] == ("rf_legs", "yes"), heard
    # nothing was passed on a guess: an unsure "no" in the noise was asked about again
    unsure = [c for state, name, c in heard if state == "rf_saddle" and c < Settings().low_confidence]
    said = [e["key"] for e in s.kinds("said")]
    assert not unsure or "messages.confirm_red_flag" in said, (heard, said)
    escalated = s.kinds("escalated")
    assert escalated and escalated[0]["reason"] == "weak or numb legs", heard
    assert end["outcome"] == "escalated" and end["level"] == "emergency"
