"""Replay and recognize from the command line: the contract testers and tools script against."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.errors import ModelError, ScenarioError
from voice_skill.front.scenario import load_scenario
from voice_skill.models.manifest import locate_vosk_model
from voice_skill.settings import Settings

ROOT = Path(__file__).parent
AUDIO = ROOT / "fixtures" / "audio" / "slt" / "clean"
SCENARIOS = ROOT / "scenarios"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_skill", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_recognize_prints_one_json_object_per_file() -> None:
    done = cli("recognize", "--state", "rf_bladder", str(AUDIO / "yes.wav"),
               str(AUDIO / "no_i_havent.wav"), str(AUDIO / "call_an_ambulance.wav"), "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["intent"] for r in rows] == ["yes", "no", "emergency"]
    for r in rows:
        assert {"file", "text", "intent", "value", "confidence"} <= set(r)
        assert 0.0 <= r["confidence"] <= 1.0
    pain = json.loads(cli("recognize", "--state", "pain_start",
                          str(AUDIO / "its_about_a_seven.wav")).stdout)
    assert (pain["intent"], pain["value"]) == ("pain", 7)


def test_recognize_names_a_bad_file_and_an_unknown_state(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("these are not audio")
    done = cli("recognize", "--state", "rf_bladder", str(bad), str(AUDIO / "yes.wav"))
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1 and "notes.wav" in rows[0]["error"] and rows[1]["intent"] == "yes"
    done = cli("recognize", "--state", "nowhere", str(AUDIO / "yes.wav"))
    assert done.returncode == 1 and "unknown state 'nowhere'" in done.stderr


def test_replay_passes_and_prints_the_transcript() -> None:
    done = cli("replay", str(SCENARIOS / "red_flag_bladder" / "scenario.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ESCALATED EMERGENCY: bladder or bowel trouble" in done.stdout
    assert "heard: 'yes'" in done.stdout and done.stdout.rstrip().endswith("scenario.yaml")


def _wrong_expectation(tmp_path: Path) -> Path:
    """The bladder scenario copied, expecting "no" where the recording says "yes"."""
    folder = tmp_path / "wrong"
    shutil.copytree(SCENARIOS / "red_flag_bladder", folder)
    path = folder / "scenario.yaml"
    text = path.read_text().replace("../../fixtures", str(ROOT / "fixtures"))
    path.write_text(text.replace("intent: yes, escalation: emergency", "intent: no"))
    return path


def test_a_wrong_expectation_fails_naming_it_and_what_was_heard(tmp_path: Path) -> None:
    path = _wrong_expectation(tmp_path)
    done = cli("replay", str(path), "--json")
    assert done.returncode == 1
    result = json.loads(done.stdout.splitlines()[-1])
    assert not result["passed"]
    assert "expected intent no, heard 'yes'" in result["failures"][0]


@pytest.mark.parametrize(("mutation", "message"), [
    (("turns:", "turns: [oops"), "malformed YAML"),
    (("no.wav", "nothere.wav"), "audio file not found"),
    (("state: rf_bladder", "state: rf_nowhere"), "unknown state 'rf_nowhere'"),
])
def test_a_bad_scenario_is_named_with_its_line(tmp_path: Path, mutation: tuple[str, str],
                                               message: str) -> None:
    folder = tmp_path / "scenarios" / "bad"
    folder.mkdir(parents=True)
    src = (SCENARIOS / "red_flag_saddle" / "scenario.yaml").read_text()
    src = src.replace("../../fixtures", str(ROOT / "fixtures"))
    (folder / "scenario.yaml").write_text(src.replace(*mutation, 1))
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:\d+: .*" + message):
        load_scenario(folder / "scenario.yaml", load_dialog(), 8.0)


def test_a_failing_replay_says_fail_once_with_each_expectation_under_it(tmp_path: Path) -> None:
    path = _wrong_expectation(tmp_path)
    done = cli("replay", str(path))
    assert done.returncode == 1
    assert (done.stdout + done.stderr).count("FAIL") == 1, done.stdout + done.stderr
    assert f"FAIL {path}: 1 expectation not met\n  - {path}:6: turn 2 (yes.wav): expected intent no" \
        in done.stdout


def test_a_vosk_scenario_without_the_model_is_skipped_as_the_suite_skips_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VOSK_MODEL_PATH"}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               VOICE_SKILL_CONFIG=str(tmp_path / "none.toml"))
    with contextlib.suppress(ModelError):
        locate_vosk_model(Settings())
        pytest.skip("an English Vosk model is installed in this checkout")
    done = subprocess.run([sys.executable, "-m", "voice_skill", "replay",
                           str(SCENARIOS / "vosk_happy_path" / "scenario.yaml")], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 77, done.stdout + done.stderr
    assert done.stdout.startswith("SKIP ") and "Vosk English model, which is not installed" in done.stdout
    assert "Traceback" not in done.stderr


# ---- bad scenario files: each ends in one line naming file and line ------------------------------

RED_FLAG_SADDLE = (SCENARIOS / "red_flag_saddle" / "scenario.yaml").read_text()


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text.replace("../../fixtures", str(ROOT / "fixtures")))
    return path


@pytest.mark.parametrize(("mutation", "message"), [
    (("end:\n  outcome: escalated\n  level: emergency\n", ""), None),  # no end: loads
    (("turns:", "settings: {speech_rate_wpm: fast}\nturns:"),
     r"settings: setting speech_rate_wpm = 'fast' is not allowed"),
    (("turns:", "settings: {no_such: 1}\nturns:"), r"settings: unknown setting 'no_such'"),
    (("  - say: ../../fixtures/audio/slt/clean/what.wav", "  - silence: .nan"),
     r"turn 4: silence must be a number of seconds, over 0 and at most 10,800"),
    (("  - say: ../../fixtures/audio/slt/clean/what.wav", "  - silence: .inf"),
     "silence must be a number of seconds"),
    (("intent: no}", "intent: no, value: abc}"), r"turn 2: value must be a pain score"),
    (("intent: no}", "intent: no, value: [1]}"), "value must be a pain score"),
    (("intent: no}", "intent: no, value: 11}"), "value must be a pain score"),
    (("{state: opening}", "{state: [opening]}"), r"turn 1: unknown state \['opening'\]"),
    (("intent: no}", "intent: [no]}"), r"turn 2: unknown intent \['no'\]"),
    (("  level: emergency\n", "  level: [emergency]\n"), "level must be one of"),
    (("  level: emergency\n", "  levle: emergency\n"), "end: unknown field 'levle'"),
    (("say: ../../fixtures/audio/slt/clean/what.wav", "say: [what.wav]"),
     "turn 4: say must name a WAV file"),
    (("turns:\n", "turns:\n" + "  - silence: 3600\n" * 501), "turns must be a list of 1 to 500"),
    # found by the fuzz test: OSError from stat
    (("say: ../../fixtures/audio/slt/clean/what.wav", "say: " + "x" * 5000),
     r"turn 4: audio file x+\.\.\. cannot be used: File name too long"),
])
def test_a_scenario_that_crashed_the_loader_or_the_replay_loads_or_is_named(
        tmp_path: Path, mutation: tuple[str, str], message: str | None) -> None:
    assert mutation[0] in RED_FLAG_SADDLE
    path = _scenario(tmp_path, RED_FLAG_SADDLE.replace(*mutation, 1))
    if message is None:
        scenario = load_scenario(path, load_dialog(), 8.0)
        from voice_skill.settings import Settings

        settings = Settings()
        # what run_scenario does first: scenario settings over the tester's, the log off
        assert not settings.replace(**{**scenario.settings, "log_enabled": False}).log_enabled
        return
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:\d+: .*" + message) as caught:
        load_scenario(path, load_dialog(), 8.0)
    assert "\n" not in str(caught.value)


def test_a_scenario_with_a_symlink_loop_or_a_fifo_is_named(tmp_path: Path) -> None:
    import os

    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop2.wav")
    (tmp_path / "loop2.wav").symlink_to(tmp_path / "loop.wav")
    os.mkfifo(tmp_path / "fifo.wav")
    for say, message in (("loop.wav", "is a loop of symbolic links"),
                         ("fifo.wav", "is not a regular file")):
        path = _scenario(tmp_path, RED_FLAG_SADDLE.replace(
            "../../fixtures/audio/slt/clean/what.wav", say))
        with pytest.raises(ScenarioError, match=rf"scenario\.yaml:\d+: turn 4: audio file "
                                                rf"{say} {message}"):
            load_scenario(path, load_dialog(), 8.0)
    os.mkfifo(tmp_path / "fifo.yaml")  # reading it would wait for a writer for ever
    with pytest.raises(ScenarioError, match=r"fifo\.yaml: is a FIFO"):
        load_scenario(tmp_path / "fifo.yaml", load_dialog(), 8.0)
    (tmp_path / "self.yaml").symlink_to(tmp_path / "self.yaml")
    with pytest.raises(ScenarioError, match=r"self\.yaml: is a loop of symbolic links"):
        load_scenario(tmp_path / "self.yaml", load_dialog(), 8.0)


def test_replay_of_a_scenario_with_log_enabled_runs(tmp_path: Path) -> None:
    path = _scenario(tmp_path, RED_FLAG_SADDLE.replace(
        "turns:", "settings: {log_enabled: true}\nturns:", 1))
    done = cli("replay", str(path), "--engine", "pocketsphinx")
    assert "Traceback" not in done.stderr and done.stdout.rstrip().endswith("scenario.yaml"), \
        done.stderr
