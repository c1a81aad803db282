"""The microphone and speaker for the always-ready service, found by name and kept in the settings.

Run by bin/install-service: `python -m voice_skill.front.service_setup [--input-device NAME]
[--output-device NAME] [--yes]`. Where a sound server (PipeWire, PulseAudio) routes sound, its
default devices are kept. Where ALSA alone does (Raspberry Pi OS Lite), the default card is the
HDMI port or the headphone jack (a Pi 5 has none), never a USB microphone: the service would
wait for a microphone for ever. So the USB microphone and speaker are found by name in what
`voice-skill devices` lists, offered, and written into the settings file as `input_device` /
`output_device`, by name without the ALSA card number (which can change from boot to boot).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voice_skill.errors import VoiceSkillError
from voice_skill.hearing.audio import Device, check_device, list_devices
from voice_skill.settings import config_path, load_settings

SOUND_SERVERS = ("pipewire", "pulse")
"""PortAudio devices that are a sound server, not a card: they route to its default devices"""
_HW = re.compile(r"\s*\(hw:\d+,\d+\)\s*$")


@dataclass(frozen=True)
class Choice:
    """The device picked for one direction, and why (said to the person)."""

    name: str | None
    """what goes into the settings (None: keep the system's default)"""
    why: str


def sound_server(devices: list[Device]) -> str | None:
    """The sound server PortAudio reaches through ALSA (its device's name), or None."""
    for d in devices:
        if d.name.lower() in SOUND_SERVERS:
            return d.name
    return None


def setting_name(device: Device) -> str:
    """A card's name without its ALSA numbers: 'USB PnP Sound Device: Audio (hw:2,0)' is
    kept as 'USB PnP Sound Device: Audio', which still names it after a reboot renumbers it."""
    return _HW.sub("", device.name)


def cards(devices: list[Device], kind: str) -> list[Device]:
    """Sound cards (not ALSA's plugins) with inputs or outputs; USB ones first."""
    found = [d for d in devices if getattr(d, kind) and _HW.search(d.name)]
    return sorted(found, key=lambda d: "usb" not in d.name.lower())


def choose(devices: list[Device], kind: str, given: str | None,
           ask: Callable[[str, list[Device]], Device | None] | None) -> Choice:
    """The device for `kind` ("inputs" or "outputs"): the one given, the only USB card, or the
    person's pick (`ask`, at a terminal); VoiceSkillError when none can be chosen."""
    what = "microphone" if kind == "inputs" else "speaker"
    if given:
        check_device(given, "input" if kind == "inputs" else "output")
        return Choice(given, f"{what}: {given!r}, as given")
    server = sound_server(devices)
    if server:
        return Choice(None, f"{what}: the default of the sound server ({server})")
    found = cards(devices, kind)
    usb = [d for d in found if "usb" in d.name.lower()]
    if len(usb) == 1:
        pick: Device | None = usb[0]
    elif len(found) == 1 and kind == "outputs":
        pick = found[0]  # a Pi 4's headphone jack, when it is the only speaker
    elif found and ask is not None:
        pick = ask(what, found)
    else:
        pick = None
    if pick is None:
        there = ", ".join(repr(d.name) for d in found) or "none"
        raise VoiceSkillError(
            f"No USB {what} to choose by itself ({what}s here: {there}). Plug one in, or name "
            f"one: bin/install-service --{'input' if kind == 'inputs' else 'output'}-device NAME "
            "(a name from `.venv/bin/voice-skill devices`).")
    return Choice(setting_name(pick), f"{what}: {setting_name(pick)!r}")


def ask_at_terminal(yes: bool) -> Callable[[str, list[Device]], Device | None] | None:
    """Numbered choice at a terminal; None (no asking) when not at one or told --yes."""
    if yes or not sys.stdin.isatty():
        return None

    def ask(what: str, found: list[Device]) -> Device | None:
        print(f"Which {what} should the service use?")
        for i, d in enumerate(found, 1):
            print(f"  {i}. {d.name}")
        answer = input(f"Number (1-{len(found)}), or Enter for 1: ").strip() or "1"
        return found[int(answer) - 1] if answer.isdigit() and 1 <= int(answer) <= len(found) else None

    return ask


def write_settings(path: Path, values: dict[str, str | None]) -> None:
    """Set (or, for None, remove) top-level string settings in a TOML file, keeping the rest."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    first_table = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")),
                       len(lines))
    top, rest = lines[:first_table], lines[first_table:]
    for key, value in values.items():
        top = [line for line in top if not re.match(rf"\s*{re.escape(key)}\s*=", line)]
        if value is not None:
            top.append(f"{key} = {json.dumps(value)}   # written by bin/install-service")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(top + rest) + "\n", encoding="utf-8")
    load_settings(path)  # still a valid settings file, or a plain error naming it


def main(argv: list[str] | None = None) -> int:
    """Choose the devices and write them into the settings; 1 with a plain message if none."""
    ap = argparse.ArgumentParser(
        prog="python -m voice_skill.front.service_setup",
        description="Find the USB microphone and speaker by name and write them into the "
        "settings (input_device, output_device); with a sound server, keep its defaults.")
    ap.add_argument("--input-device", metavar="NAME", help="the microphone (skip the search)")
    ap.add_argument("--output-device", metavar="NAME", help="the speaker (skip the search)")
    ap.add_argument("--yes", action="store_true", help="never ask: take what is found or stop")
    ap.add_argument("--config", type=Path, help="settings file (default: the user's)")
    args = ap.parse_args(argv)
    path = args.config or config_path()
    try:
        devices = list_devices()
        ask = ask_at_terminal(args.yes)
        mic = choose(devices, "inputs", args.input_device, ask)
        speaker = choose(devices, "outputs", args.output_device, ask)
        current = load_settings(path)
        values = {"input_device": mic.name or current.input_device,
                  "output_device": speaker.name or current.output_device}
        if values != {"input_device": current.input_device,
                      "output_device": current.output_device}:
            write_settings(path, values)
            print(f"Wrote {path}:")
        print(f"  {mic.why}\n  {speaker.why}")
    except VoiceSkillError as exc:
        print(f"voice-skill: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
