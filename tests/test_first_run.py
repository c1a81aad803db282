"""The first run on a machine without sound devices: each thing said once, fitting the mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

NO_AUDIO = {"PATH": "/usr/bin:/bin", "PULSE_SERVER": "unix:/nonexistent", "AUDIODEV": "none"}


def run(tmp_path: Path, *args: str, answers: str = "stop\n") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_skill", "run", "--no-log", *args],
                          input=answers, capture_output=True, text=True, timeout=120,
                          env={**NO_AUDIO, "HOME": str(tmp_path)}, cwd=tmp_path, check=False)


def _sound_cards() -> bool:
    cards = Path("/proc/asound/cards")
    return cards.exists() and "no soundcards" not in cards.read_text()


@pytest.mark.skipif(_sound_cards(), reason="this machine has a sound card (ALSA lists it)")
def test_no_sound_devices_is_one_line_and_a_typed_session(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "No microphone or speaker here: a typed session. Type your answers below."]
    # typed: no hearing check, no echo of what was "heard", the first question a red flag
    assert "Can you hear me?" not in done.stdout and "(heard:" not in done.stdout
    assert "Have you lost any control of your bladder" in done.stdout
    assert done.stdout.rstrip().endswith("call 911 straight away.")


def test_the_text_option_says_nothing_about_devices(tmp_path: Path) -> None:
    done = run(tmp_path, "--text")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "Can you hear me?" not in done.stdout


@pytest.mark.skipif(_sound_cards(), reason="this machine has a sound card (ALSA lists it)")
def test_devices_without_any_says_what_to_check(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "voice_skill", "devices"], capture_output=True,
                          text=True, timeout=60, env={**NO_AUDIO, "HOME": str(tmp_path)},
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "No sound devices here." in done.stdout and "audio group" in done.stdout


def test_typed_answers_are_never_promised_to_be_heard_while_the_guide_talks(
        tmp_path: Path) -> None:
    """The setting asks for safety words over the guide's speech, but typed answers cannot be
    heard over it: the guide says only what this session can do."""
    config = tmp_path / "config.toml"
    config.write_text("safety_words_over_speech = true\n", encoding="utf-8")
    done = run(tmp_path, "--text", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "Each time I stop talking, you can say" in done.stdout, done.stdout
    assert "Even while I talk" not in done.stdout
