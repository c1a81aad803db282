"""Devices by name and the sound check, through the virtual microphone and speaker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pulse_rig import PulseRig
from test_voice_session import fast_speech_config

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.front.devices import CLEAR_ABOVE, SoundCheck
from voice_skill.settings import Settings

pytestmark = [pytest.mark.audio]
PHRASE = load_dialog(Settings().dialog_path).messages["sound_check"]


def voice_skill(rig: PulseRig, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_skill", *args], env=rig.env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_devices_lists_microphones_and_speakers_by_name(pulse_rig: PulseRig) -> None:
    proc = voice_skill(pulse_rig, "devices")
    assert proc.returncode == 0, proc.stderr
    mics, speakers = proc.stdout.split("Speakers:")
    assert "Microphones:" in mics and "pulse" in mics and "pulse" in speakers
    assert "(default)" in mics and "(default)" in speakers


def test_a_microphone_that_is_not_there_is_named_with_the_ones_that_are(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    proc = voice_skill(pulse_rig, "run", "--no-log", "--input-device", "no-such-mic",
                       "--engine", "pocketsphinx", "--config", str(fast_speech_config(tmp_path)),
                       timeout=60)
    # the session still runs (typed answers, here none): the person is told why, by name
    assert "No microphone 'no-such-mic' here" in proc.stdout + proc.stderr
    assert "'pulse'" in proc.stdout + proc.stderr


def test_the_sound_check_hears_the_speaker_in_a_room(pulse_rig: PulseRig) -> None:
    module = pulse_rig.echo_speaker_into_mic("100%")  # the microphone hears the speaker
    try:
        proc = voice_skill(pulse_rig, "devices", "--check", "--engine", "whisper")
    finally:
        pulse_rig.pactl("unload-module", module, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("Sound check"))
    assert "heard the default speaker" in line
    assert "did not come back clearly" not in line  # the phrase itself came back


def test_the_sound_check_says_when_the_microphone_hears_nothing(pulse_rig: PulseRig) -> None:
    proc = voice_skill(pulse_rig, "devices", "--check", "--engine", "pocketsphinx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "did not hear the default speaker" in proc.stdout
    assert "--input-device" in proc.stdout


def test_a_speaker_that_is_not_there_is_refused_by_name(pulse_rig: PulseRig) -> None:
    proc = voice_skill(pulse_rig, "devices", "--check", "--output-device", "no-such-speaker")
    assert proc.returncode == 1
    assert "No speaker 'no-such-speaker' here" in proc.stderr and "'pulse'" in proc.stderr


@pytest.mark.parametrize("heard", [
    "this is the first 8 guys in sound check 1 2 3",  # what Whisper made of it here
    "this is the first 8 guidance soundcheck 1 2 3",
    "this is the first aid guide's town check one two three",
])
def test_the_sound_check_counts_the_phrase_as_heard_through_small_slips(heard: str) -> None:
    check = SoundCheck(True, -21.0, -100.0, heard, PHRASE)
    assert check.clarity >= CLEAR_ABOVE


@pytest.mark.parametrize("heard", ["", "thank you", "one two three", "the the the"])
def test_the_sound_check_tells_a_phrase_that_did_not_come_back(heard: str) -> None:
    check = SoundCheck(True, -21.0, -100.0, heard, PHRASE)
    assert check.clarity < CLEAR_ABOVE
