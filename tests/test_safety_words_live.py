"""Safety words over the guide's own speech, through the virtual devices (the skill's speaker
looped into its microphone), with only the safety words listened for while it talks
(safety_words_over_speech on, barge_in off).

What is measured, not tested here (docs/benchmarks.md, `turn_live --under-echo 10`): a person
10 dB under the echo, heard since every reply plays on one output stream and the echo's path
is fitted (real "stop"s 22 of 24 across a room), with timing too loose on a shared
machine for a test. The cut-ask-carry-on flow is tested at the session stage
(tests/test_safety_words.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulse_rig import PulseRig
from test_voice_session import SpokenSession

SAFETY_ONLY = "barge_in = false\n"
"""the safety words over the guide's speech: the default"""
pytestmark = [pytest.mark.audio, pytest.mark.slow]


@pytest.fixture(params=["100%"])
def echoing_rig(pulse_rig: PulseRig, request: pytest.FixtureRequest) -> Iterator[PulseRig]:
    """The rig with the speaker heard by the microphone, at the level given."""
    module = pulse_rig.echo_speaker_into_mic(request.param)
    try:
        yield pulse_rig
    finally:
        pulse_rig.pactl("unload-module", module, check=False)


def trail(s: SpokenSession) -> list[tuple[Any, ...]]:
    return [(e["event"], e.get("state"), e.get("key") or e.get("text") or e.get("name"))
            for e in s.events if e["event"] in ("said", "heard", "intent", "listening")]


@pytest.mark.parametrize("echoing_rig", ["100%"], indirect=True)
def test_the_guides_own_help_through_the_echo_is_never_a_call_for_help(
        echoing_rig: PulseRig, tmp_path: Path) -> None:
    # "Even while I talk, you can say stop or help ... Say help if you need emergency help."
    # at full level into the microphone; nobody else speaks
    s = SpokenSession(echoing_rig, tmp_path, settings=SAFETY_ONLY)
    end = s.run({"opening": "yes", "rf_bladder": "no", "rf_saddle": "no", "rf_legs": "stop"},
                timeout_s=240)
    said = [e["key"] for e in s.kinds("said")]
    # what the guide promises is what this session's listener does (front/live.py)
    promise = next(e["text"] for e in s.kinds("said") if e["key"] == "states.rf_bladder.say.1")
    assert promise.startswith("Even while I talk, you can say stop or help."), promise
    called = [e for e in s.kinds("escalated") if e["reason"].startswith("the person said")]
    assert not called, trail(s)
    assert "messages.confirm_help" not in said, trail(s)
    # Once in 4 runs here the "stop" to the legs question was unsure and asked again, and
    # the session ended with that flag in doubt (its advice: the emergency, by design).
    assert end["outcome"] in ("stopped", "escalated")
