"""The benchmark: `voice-skill bench --quick` writes a complete report; its helpers hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_skill.clock import VirtualClock
from voice_skill.dev.bench.corpus import (
    drive_to,
    endpoint_wait_s,
    fixture_manifest,
    phrase_order,
    red_flag_states,
)
from voice_skill.dev.bench.plan import ANSWER_STATE, SECTIONS, Plan
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.settings import Settings

pytestmark = pytest.mark.xdist_group("bench")  # the quick run below, once per worker, is 15 s


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real quick run of the command, shared by the report tests."""
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "voice_skill", "bench", "--quick", "--engine", "pocketsphinx",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_quick_run_writes_both_report_files(quick_report: Path) -> None:
    assert (quick_report / "benchmarks.md").stat().st_size > 0
    data = json.loads((quick_report / "benchmarks.json").read_text())
    assert {"machine", "plan", "engines", "targets"} <= data.keys()
    assert data["plan"]["quick"] is True


def test_report_has_every_section(quick_report: Path) -> None:
    text = (quick_report / "benchmarks.md").read_text()
    for section in SECTIONS:
        assert f"## {section}" in text, section
    assert "Quick sample" in text


def test_report_states_the_red_flag_recall(quick_report: Path) -> None:
    data = json.loads((quick_report / "benchmarks.json").read_text())
    cell = data["engines"]["pocketsphinx"]["red_flags"]["table"]["yes"]["all"]
    assert cell["n"] > 0
    assert isinstance(cell["recall_pct"], float)
    text = (quick_report / "benchmarks.md").read_text()
    assert f"| all | {cell['n']} | **{cell['recall_pct']} %**" in text


def test_report_describes_the_machine_and_every_worker_ran(quick_report: Path) -> None:
    data = json.loads((quick_report / "benchmarks.json").read_text())
    machine = data["machine"]
    assert machine["cpu"] and machine["cores"] and machine["python"] and machine["date"]
    engine = data["engines"]["pocketsphinx"]
    for where in ("machine", "one_core"):
        for kind in ("speed", "startup", "session", "soak"):
            assert "error" not in engine[where][kind], engine[where][kind]
    assert engine["one_core"]["speed"]["cpus"] == [0]


def test_targets_each_get_a_verdict(quick_report: Path) -> None:
    data = json.loads((quick_report / "benchmarks.json").read_text())
    names = " ".join(t["target"] for t in data["targets"])
    for words in TARGET_WORDS:  # measured or not (a loaded machine): each is named
        assert words in names
    text = (quick_report / "benchmarks.md").read_text()
    assert all(t["target"] in text for t in data["targets"])


TARGET_WORDS = ("recall", "accuracy, clean", "accuracy, 10 dB", "turn latency", "start-up",
                "peak memory")


def _engine_without_timings(error: str) -> dict[str, object]:
    """A measured engine whose start-up run failed, as on a loaded machine (issue 23)."""
    return {"measured": True, "name": "pocketsphinx",
            "red_flags": {"table": {"yes": {"all": {"n": 4, "recall_pct": 100.0},
                                            "awb clean": {"n": 4, "recall_pct": 100.0}}},
                          "miss_count": 0, "misses": []},
            "accuracy": {"table": {"grammar": {"cells": {"all voices": {}}, "confusions": []}}},
            "machine": {"startup": {"error": error}, "speed": {"error": "worker speed exited 1"},
                        "session": {"error": "worker session exited 1"}}}


def test_a_target_that_could_not_be_measured_is_named_with_why() -> None:
    from voice_skill.dev.bench.report import targets

    found = targets({"engines": {"pocketsphinx": _engine_without_timings(
        "start-up run exited 1: MemoryError")}})
    names = " ".join(t["target"] for t in found)
    assert all(words in names for words in TARGET_WORDS), names
    start = next(t for t in found if "start-up" in t["target"])
    assert start["met"] is None and start["why"] == "start-up run exited 1: MemoryError"


def test_the_report_says_why_the_start_up_was_not_measured(quick_report: Path) -> None:
    from voice_skill.dev.bench.report import render_markdown, targets

    report = json.loads((quick_report / "benchmarks.json").read_text())
    engine = report["engines"]["pocketsphinx"]
    engine["machine"]["startup"] = {"error": "start-up run exited 1: no sound device"}
    report["targets"] = targets(report)
    text = render_markdown(report)
    assert ("| start-up to the first spoken word, median | - | < 2 s | not measured: start-up"
            " run exited 1: no sound device |") in text


def test_vosk_without_an_english_model_is_reported_not_measured(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from voice_skill.dev.bench.corpus import open_engine; "
         "from voice_skill.settings import Settings; "
         "print(open_engine(Settings(vosk_model_path=__import__('pathlib').Path(r'%s')), 'vosk')[1])"
         % (tmp_path / "none")],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert "not measured: no English model installed" in proc.stdout


def test_every_answer_state_and_red_flag_question_can_be_reached() -> None:
    dialog = load_dialog(None)
    states = red_flag_states(dialog)
    assert "rf_bladder" in states and "rf_fever" in states
    for state in {*states, *ANSWER_STATE.values()}:
        manager = DialogueManager(dialog, Settings(log_enabled=False), VirtualClock())
        drive_to(manager, state)
        assert manager.state == state


def test_any_prefix_of_the_phrase_order_covers_the_intents() -> None:
    files = fixture_manifest()
    order = phrase_order(files)
    intents = {m["intent"] for m in files.values()}
    assert len(order) == len(set(order)) == len({Path(p).name for p in files})
    first = {next(m["intent"] for p, m in files.items() if Path(p).name == name)
             for name in order[: len(intents)]}
    assert first == intents


def test_endpointing_wait_is_whole_frames_of_the_end_silence() -> None:
    assert endpoint_wait_s(Settings(end_silence_s=0.8, frame_ms=30)) == pytest.approx(0.81)
    assert endpoint_wait_s(Settings(end_silence_s=0.6, frame_ms=20)) == pytest.approx(0.6)


def test_full_plan_soaks_at_least_thirty_minutes() -> None:
    assert Plan.make(quick=False, soak_minutes=5).soak_minutes == 30
    assert Plan.make(quick=False, soak_minutes=45).soak_minutes == 45
    assert Plan.make(quick=True, soak_minutes=30).quick


def test_the_wake_report_is_written_from_its_saved_figures() -> None:
    from voice_skill.dev.wake_bench import render

    engine = {"engine": "whisper", "stream_minutes": 38.5, "clips": 830, "segments": 801,
              "decode_s_median": 0.09, "false_starts": ["first aid"], "false_emergencies": [],
              "false_starts_per_hour": 1.56, "false_emergencies_per_hour": 0.0,
              "caught_pct": {"start clean": 81.2, "emergency 5 dB": 40.0},
              "caught_n": {"start clean": 16, "emergency 5 dB": 8}}
    text = render({"when": "2026-11-30 03:00 UTC", "commit": "abc1234", "min_confidence": 0.3,
                   "start_phrases": ["first aid", "help my back"], "engines": [engine]})
    assert "| false starts per hour | 1.56 (1: 'first aid') |" in text
    assert "| start phrases caught, clean | 81.2 % of 16 |" in text
    assert "| calls for help caught, 5 dB | 40.0 % of 8 |" in text
    assert "38.5 minutes of real sound" in text and "`abc1234`" in text
