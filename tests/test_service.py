"""The systemd unit that starts `voice-skill serve` at boot: what bin/install-service installs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from voice_skill.errors import VoiceSkillError
from voice_skill.front.service_setup import choose, write_settings
from voice_skill.hearing.audio import Device
from voice_skill.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def unit_text() -> str:
    proc = subprocess.run([str(REPO / "bin" / "install-service"), "--print"],
                          capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout


def test_the_unit_starts_this_checkouts_serve_and_restarts_it_on_failure() -> None:
    unit = unit_text()
    assert f"ExecStart={REPO}/.venv/bin/voice-skill serve\n" in unit
    assert "Restart=on-failure" in unit and "StartLimitIntervalSec=0" in unit
    assert "StandardOutput=journal" in unit and "WantedBy=default.target" in unit
    assert "@REPO@" not in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed (bin/setup dev installs systemd)")
def test_systemd_finds_nothing_wrong_with_the_unit(tmp_path: Path) -> None:
    path = tmp_path / "voice-skill.service"
    path.write_text(unit_text(), encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    # and it would notice: a unit whose program is missing is refused
    path.write_text(unit_text().replace(str(REPO), "/nonexistent"), encoding="utf-8")
    broken = subprocess.run(["systemd-analyze", "verify", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert broken.returncode != 0 and "/nonexistent" in broken.stderr


# ---- bin/install-service: its options, and the devices it writes into the settings -------------


def test_help_explains_and_installs_nothing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    for option in ("--help", "-h"):
        done = subprocess.run([str(REPO / "bin" / "install-service"), option], env=env,
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0 and "Usage: bin/install-service" in done.stdout
        assert "`audio` group" in done.stdout and "enable-linger" in done.stdout
    assert not list(tmp_path.rglob("*.service"))
    bad = subprocess.run([str(REPO / "bin" / "install-service"), "--bogus"], env=env,
                         capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr


def test_the_printed_units_comments_name_no_path_and_it_waits_for_no_system_target() -> None:
    unit = unit_text()
    comments = [line for line in unit.splitlines() if line.startswith("#")]
    assert comments and not [c for c in comments if str(REPO) in c or "@REPO@" in c]
    after = next(line for line in unit.splitlines() if line.startswith("After="))
    assert "sound.target" not in after  # a system target: a user unit cannot order after it


PI5_LITE = [  # what PortAudio lists on Raspberry Pi OS Lite, a Pi 5 with USB devices
    Device(0, "vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)", 0, 2, False, False),
    Device(1, "vc4-hdmi-1: MAI PCM i2s-hifi-0 (hw:1,0)", 0, 2, False, False),
    Device(2, "USB PnP Sound Device: Audio (hw:2,0)", 1, 0, False, False),
    Device(3, "UACDemoV1.0: USB Audio (hw:3,0)", 0, 2, False, False),
    Device(4, "sysdefault", 0, 128, False, False),
    Device(5, "default", 0, 128, True, True),
    Device(6, "dmix", 0, 2, False, False),
]


def test_on_alsa_alone_the_usb_microphone_and_speaker_are_chosen_by_name() -> None:
    mic = choose(PI5_LITE, "inputs", None, None)
    speaker = choose(PI5_LITE, "outputs", None, None)
    assert mic.name == "USB PnP Sound Device: Audio"  # no card number: it changes on reboot
    assert speaker.name == "UACDemoV1.0: USB Audio"


def test_with_a_sound_server_its_defaults_are_kept() -> None:
    devices = [*PI5_LITE, Device(7, "pipewire", 64, 64, False, False)]
    assert choose(devices, "inputs", None, None).name is None
    assert "pipewire" in choose(devices, "outputs", None, None).why


def test_no_usb_microphone_is_a_plain_stop_naming_what_is_there() -> None:
    no_mic = [d for d in PI5_LITE if not d.inputs]
    with pytest.raises(VoiceSkillError, match="No USB microphone") as err:
        choose(no_mic, "inputs", None, None)
    assert "--input-device NAME" in str(err.value)
    # a Pi 4 with a USB microphone and two speakers that are not USB: the person picks one
    pi4 = [Device(0, "bcm2835 Headphones: - (hw:0,0)", 0, 8, False, False),
           Device(1, "vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:1,0)", 0, 2, False, False)]
    with pytest.raises(VoiceSkillError, match="bcm2835 Headphones"):
        choose(pi4, "outputs", None, None)
    assert choose(pi4, "outputs", None, lambda what, found: found[0]).name == "bcm2835 Headphones: -"


def test_the_devices_are_written_into_the_settings_keeping_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('emergency_number = "112"\ninput_device = "old"\n', encoding="utf-8")
    write_settings(config, {"input_device": "USB PnP Sound Device: Audio",
                            "output_device": "UACDemoV1.0: USB Audio"})
    settings = load_settings(config)
    assert settings.emergency_number == "112"
    assert settings.input_device == "USB PnP Sound Device: Audio"
    assert settings.output_device == "UACDemoV1.0: USB Audio"
    assert config.read_text().count("input_device") == 1


# ---- bin/install-service's checks, against stand-ins for systemctl, loginctl, id and sudo -------


def stubbed_install(tmp_path: Path, groups: str = "pi sudo audio", linger: str = "no",
                    sudo_works: bool = True, sound_server: str = "") -> subprocess.CompletedProcess[str]:
    """Run bin/install-service as user 'pi' with the system's tools replaced by scripts."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    state = tmp_path / "linger"
    state.write_text(linger)
    scripts = {
        "systemctl": f"""case "$*" in
  *list-unit-files*) [ -n "{sound_server}" ] && echo "{sound_server} enabled" ;;
  *) ;;
esac
exit 0""",
        "loginctl": f"""case "$1" in
  show-user) cat {state} ;;
  enable-linger) [ "$(cat {state}.root 2>/dev/null)" = yes ] && echo yes > {state} || exit 1 ;;
esac""",
        "id": f"""case "$*" in
  -un) echo pi ;; -u) echo 1000 ;; "-nG pi"|-nG) echo {groups} ;; *) /usr/bin/id "$@" ;;
esac""",
        "sudo": f"""{'echo yes > ' + str(state) + '.root' if sudo_works else 'exit 1'}
exec "$@" """,
    }
    for name, body in scripts.items():
        path = stubs / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "PULSE_SERVER": "unix:/nonexistent", "AUDIODEV": "none"}
    return subprocess.run([str(REPO / "bin" / "install-service"), "--yes"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_not_in_the_audio_group_without_a_sound_server_stops_with_the_fix(tmp_path: Path) -> None:
    done = stubbed_install(tmp_path, groups="pi sudo")
    assert done.returncode == 1
    assert "pi is not in the audio group" in done.stderr
    assert "sudo usermod -aG audio pi && sudo reboot" in done.stderr
    assert not list(tmp_path.rglob("voice-skill.service"))


def test_with_a_sound_server_the_audio_group_is_only_a_note(tmp_path: Path) -> None:
    done = stubbed_install(tmp_path, groups="pi sudo", sound_server="pipewire.service")
    assert "Note: pi is not in the audio group" in done.stdout
    assert "usermod" not in done.stderr


def test_lingering_is_enabled_with_sudo_or_a_clear_stop(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    refused = stubbed_install(tmp_path / "a", sudo_works=False)
    assert refused.returncode == 1
    assert "could not enable lingering" in refused.stderr
    assert "sudo loginctl enable-linger pi" in refused.stderr
    (tmp_path / "b").mkdir()
    enabled = stubbed_install(tmp_path / "b", sudo_works=True)
    assert (tmp_path / "b" / "linger").read_text().strip() == "yes"
    # then the devices: none here, so it stops before installing anything
    assert enabled.returncode == 1 and "No USB microphone" in enabled.stderr
    assert not list((tmp_path / "b").rglob("voice-skill.service"))
