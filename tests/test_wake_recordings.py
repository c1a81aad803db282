"""`voice-skill bench --wake`: the waiting speaker measured on a tester's own recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voice_skill.dev.fixtures import write_wav
from voice_skill.dev.wake_recordings import run

POSITIVES = Path(__file__).parent / "fixtures" / "wake_words" / "computer"


@pytest.fixture()
def quiet(tmp_path: Path) -> Path:
    """A folder of negatives: a minute of digital quiet and one of faint hiss."""
    folder = tmp_path / "negatives"
    folder.mkdir()
    write_wav(folder / "quiet.wav", np.zeros(16000 * 60, np.int16))
    hiss = np.random.default_rng(1).normal(0, 30, 16000 * 60)
    write_wav(folder / "hiss.wav", hiss.astype(np.int16))
    return folder


def test_the_command_prints_one_json_object_with_the_catch_and_the_false_starts(
        quiet: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "voice_skill", "bench", "--wake", "--phrase", "computer",
         "--positives", str(POSITIVES), "--negatives", str(quiet), "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["phrase"] == "computer" and result["condition"] == "close"
    assert result["positives"] == 2 and result["caught"] == 2 and result["caught_pct"] == 100.0
    assert result["negatives"] == 2 and result["false_starts"] == 0
    assert result["false_starts_per_hour"] == 0.0
    assert result["negative_hours"] > 0.03


def test_a_room_with_noise_is_the_condition_measured() -> None:
    result = run("computer", POSITIVES, room=True, snr_db=10.0)
    assert result["condition"] == "room + 10 dB"
    assert result["positives"] == 2 and 0 <= result["caught"] <= 2
    assert "false_starts_per_hour" not in result  # no negatives given


def test_another_phrase_is_not_caught_on_these_recordings() -> None:
    assert run("first aid", POSITIVES)["caught"] == 0


def test_the_real_voices_report_shows_every_step_and_the_false_starts() -> None:
    from voice_skill.dev.wake_real import CONDITIONS, merge, render

    def run(pct: float, false: bool) -> dict[str, Any]:
        cond = {"positives": 10, "caught": int(pct / 10), "caught_pct": pct}
        part = {"false_starts_per_hour": 0.0, "false_emergencies_per_day": 0.0,
                "cpu_pct_one_core": 4.2, "false_starts": [], "false_emergencies": []}
        return {"catch": {"alexa": dict.fromkeys(CONDITIONS, cond)},
                "false": {"first aid": {"real": part, "talk": part}} if false else {},
                "negatives": {"real_minutes": 38.6, "real_clips": 926, "talk_minutes": 30.0,
                              "talk_sentences": 231},
                "when": "now", "commit": "abc", "seconds": 1, "command": "wake_real"}

    report = merge(merge({}, run(70.0, True), "before", "as found"), run(90.0, False), "after",
                   "the change")
    text = render(report)
    assert "| before | alexa (10) | 70.0 %" in text and "| after | alexa (10) | 90.0 %" in text
    assert "| first aid | 0.0 | 0.0 | 0.0 | 0.0 | 4.2 / 4.2 |" in text
    # a run of the false starts alone (--false-only) updates them and keeps every step as it was
    false_only = run(0.0, True) | {"catch": {}, "commit": "def"}
    again = merge(report, false_only, "latest", "")
    assert [s["step"] for s in again["steps"]] == ["before", "after"]
    assert again["false"]["commit"] == "def"


def test_the_report_shows_the_trained_wake_word_combined_and_alone() -> None:
    from voice_skill.dev.wake_real import CONDITIONS, render_word

    cond = {"positives": 36, "caught": 36, "caught_pct": 100.0, "word_alone_pct": 88.9}
    part = {"hours": 0.5, "false_starts_per_hour": 0.0, "false_emergencies_per_day": 0.0,
            "cpu_pct_one_core": 6.1, "false_starts": [], "false_emergencies": []}
    word = {"word": "alexa", "phrase": "Alexa", "catch": dict.fromkeys(CONDITIONS, cond),
            "word_alone_all": {c: {"positives": 106, "caught_pct": 70.8} for c in CONDITIONS},
            "false": {"real": part, "talk": part},
            "word_alone_false": {"talk": {"hours": 0.5, "fired": 0, "cpu_pct_one_core": 0.5},
                                 "all": {"hours": 0.5, "fired": 0, "per_hour": 0.0}},
            "when": "now", "commit": "abc", "seconds": 1, "command": "wake_real --wake-word alexa"}
    text = "\n".join(render_word(word))
    assert "| combined (36) | **100.0 %**" in text
    assert "| wake word alone, all 106 | 70.8 %" in text
    assert "| **all** | 0.5 | 0 (0.0 an hour) | |" in text
