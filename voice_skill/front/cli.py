"""The `voice-skill` command: run, serve, devices, replay, recognize, dialog, models, fixtures, bench."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

from voice_skill import console, shutdown
from voice_skill.errors import VoiceSkillError
from voice_skill.settings import (
    EMERGENCY_NUMBER_RULE,
    EMERGENCY_NUMBERS,
    ENGINES,
    WAKE_WORDS,
    Settings,
    load_settings,
)


def _settings(args: argparse.Namespace) -> Settings:
    """The config file, overridden by whatever the command line says."""
    return load_settings(
        getattr(args, "config", None),
        dialog_path=getattr(args, "dialog", None),
        engine=getattr(args, "engine", None),
        emergency_number=getattr(args, "emergency_number", None),
        log_enabled=False if getattr(args, "no_log", False) else None,
        input_device=getattr(args, "input_device", None),
        output_device=getattr(args, "output_device", None),
        wake_word=getattr(args, "wake_word", None),
    )


def _print_json(obj: Any) -> None:
    console.write_line(console.json_text(obj))


# ---- run ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """`voice-skill run`: one session by voice (or typed with --text)."""
    from voice_skill.front.live import run_session

    outcome = run_session(_settings(args), text=args.text, json_out=args.json)
    return 0 if outcome is not None else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """`voice-skill serve`: wait for a start phrase, run a session, wait again."""
    from voice_skill.front.serve import serve

    return serve(_settings(args), args.json, args.sessions)


def cmd_devices(args: argparse.Namespace) -> int:
    """`voice-skill devices [--check]`: microphones and speakers by name; a sound check."""
    from voice_skill.front.devices import devices_command

    return devices_command(_settings(args), args.check)


# ---- replay / recognize / bench ------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    """`voice-skill replay`: a recorded-audio scenario through the whole pipeline."""
    from voice_skill.front.replay import replay_command

    return int(replay_command(args, _settings(args)))


def cmd_recognize(args: argparse.Namespace) -> int:
    """`voice-skill recognize`: what each WAV is heard as, in a state."""
    from voice_skill.front.replay import recognize_command

    return int(recognize_command(args, _settings(args)))


def cmd_bench(args: argparse.Namespace) -> int:
    """`voice-skill bench`: the benchmark report (a developer tool, needs the checkout)."""
    bench_command = _dev_tool("voice_skill.dev.bench.command", "bench").bench_command
    return int(bench_command(args, _settings(args)))


def _dev_tool(module: str, command: str) -> Any:
    """A developer tool's module; they live in the repository checkout, not in the wheel."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise VoiceSkillError(f"`voice-skill {command}` is a developer tool: run it from a "
                              f"repository checkout after `bin/setup dev` ({exc})") from exc


# ---- dialog ------------------------------------------------------------------------------------


def cmd_dialog(args: argparse.Namespace) -> int:
    """`voice-skill dialog check|states|diagram`: the dialogue file, checked or shown."""
    from voice_skill.dialogue.dialog import DialogProblems, load_dialog

    try:
        dialog = load_dialog(_settings(args).dialog_path)  # refuses what check finds, as run does
    except DialogProblems as refused:
        if args.action != "check":
            raise
        for p in refused.problems:  # the first is the line `run` refuses with
            console.write_line(f"voice-skill: {p}", sys.stderr)
        return 1
    if args.action == "states":
        rows = [
            {"state": s.name, "kind": s.kind, "intents": list(dialog.accepted_intents(s.name)),
             "red_flag": s.red_flag.level if s.red_flag else None,
             "reason": s.red_flag.reason if s.red_flag else None,
             "escalation_level": s.level}
            for s in dialog.states.values()
        ]
        if args.json:
            _print_json(rows)
        else:
            for r in rows:
                flag = f"  red flag: {r['red_flag']}" if r["red_flag"] else ""
                print(f"{r['state']:<18} {r['kind']:<10} {', '.join(r['intents'] or ())}{flag}")
        return 0
    if args.action == "check":
        print(f"{dialog.path}: OK ({len(dialog.states)} states)")
        return 0
    from voice_skill.dialogue.diagram import draw

    print(draw(dialog, args.out), end="")
    return 0


# ---- the parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand and its options."""
    from voice_skill.models.command import add_models_parser

    parser = argparse.ArgumentParser(
        prog="voice-skill",
        description="Offline voice first-aid guide for an acute back muscle spasm.",
    )
    parser.add_argument("--config", type=Path, help="settings file (TOML); default: the user's")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dialog", type=Path, help="dialogue file (default: the bundled one)")
    # --config also after the command; SUPPRESS keeps a value given before it
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="settings file (TOML); default: the user's")
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument("--engine", choices=ENGINES,
                        help="speech recognizer. auto (the default): the bundled Whisper tiny.en; "
                        "whisper: the same; vosk: Vosk with a grammar per question (its model "
                        "must be installed: `voice-skill models download`); pocketsphinx: the "
                        "small last-resort engine")

    audio = argparse.ArgumentParser(add_help=False)
    audio.add_argument("--input-device", metavar="NAME",
                       help="microphone: a name (or part of it) or index from `voice-skill devices`")
    audio.add_argument("--output-device", metavar="NAME",
                       help="speaker: a name (or part of it) or index from `voice-skill devices`")

    run = sub.add_parser(
        "run", parents=[common, engine, audio], help="a live session: microphone and speaker, or typed",
        description="Start a first-aid session. With --text, type answers and read replies; "
        "with stdin not a terminal, answers are read line by line (scriptable).")
    run.add_argument("--text", action="store_true", help="typed answers and printed replies")
    run.add_argument("--json", action="store_true", help="print one JSON event per line")
    run.add_argument("--no-log", action="store_true", help="do not write a session log")
    run.add_argument("--emergency-number", metavar="DIGITS",
                     help=f"number to tell the person to call: {EMERGENCY_NUMBER_RULE}"
                     f" ({', '.join(EMERGENCY_NUMBERS)} ...)")
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser(
        "serve", parents=[common, engine, audio],
        help="always ready: wait for a start phrase, run a session, wait again",
        description="For a speaker that nobody can reach: listens, offline, for a start phrase "
        "(\"first aid\"; the setting start_phrases changes them) and, with the setting "
        "wake_word, a trained wake word (\"Alexa\"), then runs a spoken session, "
        "then waits again. \"Help\" or \"call an ambulance\" go straight to the emergency "
        "instruction. Survives the microphone being unplugged and plugged back in.")
    serve.add_argument("--json", action="store_true", help="print one JSON event per line")
    serve.add_argument("--no-log", action="store_true", help="do not write session logs")
    serve.add_argument("--sessions", type=int, metavar="N", help="stop after N sessions")
    serve.add_argument("--wake-word", choices=WAKE_WORDS, metavar="WORD",
                       help="a trained wake word beside the start phrases: "
                            f"{', '.join(w for w in WAKE_WORDS if w)}, or \"\" for none "
                            "(the setting wake_word)")
    serve.set_defaults(func=cmd_serve)

    devices = sub.add_parser(
        "devices", parents=[common, audio, engine], help="list microphones and speakers; a sound check",
        description="List the audio devices by name. With --check, play a short phrase through "
        "the speaker while recording the microphone, and say whether it was heard (exit 1 if not).")
    devices.add_argument("--check", action="store_true", help="a sound check through both")
    devices.set_defaults(func=cmd_devices)

    replay = sub.add_parser(
        "replay", parents=[common, engine],
        help="play a recorded-audio scenario through the whole pipeline",
        description="Run a scenario (YAML: turns of recorded answers and expectations) through "
        "endpointing, recognition, intents, dialogue and speaker on a virtual clock. "
        "Exit 0 when every expectation holds, 1 when one does not, 77 (skipped, as the test "
        "suite skips it) when the scenario needs the Vosk model and it is not installed.")
    replay.add_argument("scenario", type=Path, help="scenario YAML file")
    replay.add_argument("--json", action="store_true", help="print one JSON event per line")
    replay.add_argument("--speak-to", type=Path, metavar="DIR",
                        help="write what the skill says as WAV files into DIR")
    replay.set_defaults(func=cmd_replay)

    recognize = sub.add_parser(
        "recognize", parents=[common, engine],
        help="what the recognizer and intent matcher make of WAV files in a state",
        description="For each WAV file print one JSON object: file, text, intent, value, "
        "confidence, under the grammar of --state.")
    recognize.add_argument("--state", required=True, help="dialogue state whose grammar to use")
    recognize.add_argument("wavs", nargs="+", type=Path, metavar="WAV")
    recognize.add_argument("--json", action="store_true", help="JSON lines (the default format)")
    recognize.add_argument("--free", action="store_true",
                           help="free dictation: no grammar (for comparison)")
    recognize.set_defaults(func=cmd_recognize)

    dialog = sub.add_parser("dialog", help="inspect the dialogue: states, check, diagram",
                            description="The dialogue file (default: the bundled one): its "
                            "states, a check of it, or a drawing of it.")
    actions = dialog.add_subparsers(dest="action", required=True, metavar="ACTION")
    states = actions.add_parser("states", parents=[common],
                                help="every state with its intents and red-flag level",
                                description="Every state of the dialogue with the intents it "
                                "accepts and its red-flag level.")
    states.add_argument("--json", action="store_true", help="as JSON")
    actions.add_parser("check", parents=[common], help="validate the dialogue",
                       description="Check that the dialogue is safe to run: every state "
                       "reachable, every session able to end, the red-flag rules, the voice "
                       "rules (short sentences). Exit 1 with the problems, by file and line.")
    diagram = actions.add_parser("diagram", parents=[common], help="draw the state machine",
                                 description="Draw the dialogue's state machine: Mermaid text "
                                 "on stdout, or an image with --out.")
    diagram.add_argument("--out", type=Path,
                         help="write an image (.png/.svg, needs graphviz) or .mmd file")
    dialog.set_defaults(func=cmd_dialog, json=False, out=None)

    add_models_parser(sub)
    try:
        from voice_skill.dev.fixtures import add_fixtures_parser

        fixtures = add_fixtures_parser(sub)
    except ImportError:  # an installed wheel: the corpus tools stay in the checkout
        fixtures = sub.add_parser("fixtures", help="make the test corpus (in a checkout only)")
    fixtures.set_defaults(func=_fixtures)

    bench = sub.add_parser("bench", parents=[common, engine],
                           help="measure accuracy, latency and footprint; write docs/benchmarks.md",
                           description="Reproduce the benchmark report in docs/.")
    bench.add_argument("--out", type=Path, default=Path("docs"), help="report folder")
    bench.add_argument("--quick", action="store_true", help="a small sample (for a smoke test)")
    bench.add_argument("--room", action="store_true",
                       help="the room benchmark instead: real recordings in simulated rooms "
                            "with echoes and noise (python -m voice_skill.dev.room_bench); "
                            "with --wake, each recording played 1-3 m away in a room")
    bench.add_argument("--soak-minutes", type=float, default=30.0,
                       help="simulated conversation for the memory soak (virtual minutes)")
    wake = bench.add_argument_group(
        "the waiting speaker on your recordings (--wake)",
        "voice-skill bench --wake --phrase \"computer\" --positives DIR [--negatives DIR] "
        "[--room] [--snr DB] --json: the share of the recordings of the phrase that start a "
        "session, heard as `voice-skill serve` waits with that phrase as its start phrase, "
        "and the false starts an hour over the negatives strung together")
    wake.add_argument("--wake", action="store_true", help="measure the waiting speaker")
    wake.add_argument("--phrase", help="the start phrase the positives say (without it, with "
                      "--wake-word: the dialogue's own start phrases beside the wake word)")
    wake.add_argument("--wake-word", choices=WAKE_WORDS, metavar="WORD",
                      help="a trained wake word beside the phrase, as `serve` runs it: the "
                           "combined path is measured, and the wake word alone ("
                           f"{', '.join(w for w in WAKE_WORDS if w)})")
    wake.add_argument("--positives", type=Path, metavar="DIR", help="WAVs of the phrase")
    wake.add_argument("--negatives", type=Path, metavar="DIR",
                      help="WAVs of anything but the phrase (talk, noise, other words)")
    wake.add_argument("--snr", type=float, metavar="DB",
                      help="real household noise this many dB under the speech")
    wake.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a VoiceSkillError is one plain message and exit status 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="voice-skill: %(message)s")
    console.harden()  # an ASCII-only terminal gets escapes, never an encoding error
    shutdown.install()  # SIGTERM / SIGHUP: the closing line first, then exit by the signal
    try:
        status = int(args.func(args))
    except VoiceSkillError as exc:
        console.write_line(f"voice-skill: {exc}", sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 130
    except shutdown.Terminated as stop:
        status = 128 + stop.signum
    except BrokenPipeError:  # the reader went away (`| head`): quietly, as other tools do
        console.discard(sys.stdout)  # the rest to /dev/null: no error at exit
        status = 141
    shutdown.exit_by_signal()
    return status


def _fixtures(args: argparse.Namespace) -> int:
    return int(_dev_tool("voice_skill.dev.fixtures", "fixtures").fixtures_command(args))
