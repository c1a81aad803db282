"""Shared fixtures: the PulseAudio virtual microphone and speaker (see tests/pulse_rig.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulse_rig import PulseRig, missing_tools


@pytest.fixture(scope="session")
def pulse_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    """A private PulseAudio: default source user_voice.monitor, default sink skill_speaker."""
    missing = missing_tools()
    if missing:
        pytest.skip(
            f"PulseAudio tools not installed ({', '.join(missing)}): apt-get install "
            "pulseaudio pulseaudio-utils libasound2-plugins"
        )
    rig = PulseRig(tmp_path_factory.mktemp("pulse"))
    rig.start()
    try:
        yield rig
    finally:
        rig.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spoken sessions first: they wait on real time, so with several workers the others do
    the computing meanwhile instead of all waiting at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
