"""Settings: every field typed and ranged; a bad value is refused at start, naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_skill.cli import main
from voice_skill.errors import VoiceSkillError
from voice_skill.settings import Settings, load_settings

BAD = [
    ('speech_rate_wpm = "fast"', "speech_rate_wpm = 'fast'", "expected int, got str",
     "at least 60 and at most 400 words per minute"),
    ('no_input_timeout_s = "ten"', "no_input_timeout_s = 'ten'", "expected float, got str",
     "seconds"),
    ("log_dir = 5", "log_dir = 5", "expected a path (text), got int", "Path"),
    ('volume = "loud"', "volume = 'loud'", "expected float, got str", "at least 0.05"),
    ('notify_command = "/bin/echo hi"', "notify_command = '/bin/echo hi'", "expected array",
     'a list of words, e.g. ["/usr/local/bin/text-my-sister", "--urgent"]'),
    ("speech_rate_wpm = -40", "speech_rate_wpm = -40", "", "at least 60"),
    ('engine = "google"', "engine = 'google'", "", "one of auto, vosk, whisper, pocketsphinx"),
    ("frame_ms = 25", "frame_ms = 25", "", "one of 10, 20, 30"),
    ("timer_scale = 0", "timer_scale = 0", "", "over 0 and at most 1"),
]


@pytest.mark.parametrize("line, field, kind, allowed", BAD)
def test_a_bad_setting_is_refused_at_start_naming_file_field_and_what_is_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        line: str, field: str, kind: str, allowed: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(line + "\n", encoding="utf-8")
    assert main(["run", "--text", "--no-log", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}: setting {field} is not allowed" in err, err
    assert kind in err and allowed in err, err
    assert "Traceback" not in err


def test_config_works_before_and_after_the_command(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('emergency_number = "112"\n', encoding="utf-8")
    from voice_skill.cli import _settings, build_parser

    for argv in (["--config", str(config), "dialog", "check"],
                 ["dialog", "check", "--config", str(config)]):
        assert _settings(build_parser().parse_args(argv)).emergency_number == "112", argv


def test_a_config_file_that_does_not_exist_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialog", "check", "--config", str(tmp_path / "nope.toml")]) == 1
    assert f"{tmp_path / 'nope.toml'}: settings file not found" in capsys.readouterr().err


def test_an_unknown_setting_names_itself_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("speach_rate_wpm = 120\n", encoding="utf-8")
    with pytest.raises(VoiceSkillError, match=r"config\.toml: unknown setting 'speach_rate_wpm'"):
        load_settings(config)


def test_good_values_load_with_their_types(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('emergency_number = 999\nlog_dir = "~/logs"\nvolume = 1\n'
                      'notify_command = ["/bin/echo", "hi"]\nengine = "whisper"\n', encoding="utf-8")
    s = load_settings(config)
    assert s.emergency_number == "999" and s.log_dir == Path("~/logs").expanduser()
    assert s.volume == 1.0 and s.notify_command == ("/bin/echo", "hi") and s.engine == "whisper"


def test_a_change_in_code_is_checked_too() -> None:
    with pytest.raises(VoiceSkillError, match="max_reprompts = -1 is not allowed"):
        Settings().replace(max_reprompts=-1)
