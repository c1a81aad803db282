"""The `voice-skill bench` command: every engine measured, the report written."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from voice_skill.dev.bench.corpus import endpoint_wait_s, fixture_manifest, open_engine, red_flag_groups
from voice_skill.dev.bench.decode import Decodes, measure_accuracy, measure_red_flags
from voice_skill.dev.bench.machine import describe_machine
from voice_skill.dev.bench.plan import ENGINES, Plan
from voice_skill.dev.bench.report import render_markdown, targets
from voice_skill.dev.bench.workers import run_worker
from voice_skill.dev.report_doc import write_section
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.settings import Settings

SECTION = "bench"
"""its markers in docs/benchmarks.md: the other tools' sections are kept"""


def _progress(started: float, message: str) -> None:
    print(f"bench [{time.perf_counter() - started:3.0f} s] {message}", file=sys.stderr,
          flush=True)


def bench_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill bench`: measure every engine available and write the report into --out;
    with --room, the room benchmark instead (voice_skill.dev.room_bench); with --wake, the
    waiting speaker on the tester's recordings (voice_skill.dev.wake_recordings)."""
    if getattr(args, "wake", False):
        from voice_skill.dev.wake_recordings import wake_command

        return wake_command(args, settings)
    if getattr(args, "room", False):
        from voice_skill.dev.room_bench import main as room_bench

        engine = getattr(args, "engine", None)
        return room_bench(["--out", str(args.out)] + (["--every", "10"] if args.quick else [])
                          + (["--engine", engine] if engine not in (None, "auto") else []))
    plan = Plan.make(bool(args.quick), float(args.soak_minutes))
    settings = settings.replace(log_enabled=False)
    dialog = load_dialog(settings.dialog_path)
    wanted = ENGINES if getattr(args, "engine", None) in (None, "auto") else (args.engine,)
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": describe_machine(), "plan": dataclasses.asdict(plan),
                              "settings": {"end_silence_s": settings.end_silence_s,
                                           "frame_ms": settings.frame_ms,
                                           "vad_aggressiveness": settings.vad_aggressiveness,
                                           "low_confidence": settings.low_confidence,
                                           "max_reprompts": settings.max_reprompts,
                                           "endpoint_wait_s": endpoint_wait_s(settings)},
                              "engines": {}}
    for engine in wanted:
        recognizer, why = open_engine(settings, engine)
        if recognizer is None:
            report["engines"][engine] = {"measured": False, "reason": why}
            _progress(started, f"{engine}: {why}")
            continue
        result: dict[str, Any] = {"measured": True, "name": recognizer.name}
        decodes = Decodes(settings, engine)
        try:
            files = fixture_manifest(plan.voices, plan.clean_only)
            _progress(started, f"{engine}: red-flag \"yes\" fixtures")
            decodes.run(red_flag_groups(dialog, files, "yes", plan.yes_every))
            _progress(started, f"{engine}: accuracy ({plan.accuracy_s:.0f} s)")
            result["accuracy"] = measure_accuracy(decodes, plan, plan.accuracy_s)
            _progress(started, f"{engine}: red-flag \"no\" fixtures")
            decodes.run(red_flag_groups(dialog, files, "no", 1),
                        time.perf_counter() + plan.no_s)
            result["red_flags"] = measure_red_flags(decodes, settings, dialog, plan)
        finally:
            decodes.close()
        for where, one_core in (("machine", False), ("one_core", True)):
            for kind in ("speed", "startup", "session", "soak"):
                _progress(started, f"{engine}: {kind} ({where})")
                result.setdefault(where, {})[kind] = run_worker(kind, engine, settings, plan,
                                                                one_core)
        report["engines"][engine] = result
    report["machine"]["load_1min_end"] = round(os.getloadavg()[0], 2)
    report["targets"] = targets(report)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    write_section(out / "benchmarks.md", SECTION, render_markdown(report))
    print(f"bench: wrote {out / 'benchmarks.md'} and {out / 'benchmarks.json'} "
          f"in {report['wall_s']:.0f} s", file=sys.stderr)
    return 0
