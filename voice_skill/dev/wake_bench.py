"""Wake benchmark: how often a waiting speaker starts by mistake, and how often it hears
"first aid" when it is said. `.venv/bin/python -m voice_skill.dev.wake_bench [--engine E] [--out docs]`.

False starts: every real recording of `tests/fixtures/real_speech/` that is not a start phrase
(background noise, other words, "go", yes, no, stop, digits: real people, cheap microphones)
played one after another with gaps of quiet, through the same path `voice-skill serve` waits
with (VAD endpointing, free dictation with the ready message as context, a second decode held
to the phrases when the text sounds like one, the confidence floor); reported per
hour of that stream. Catch rate: each start phrase, and two calls for help, synthesized in four
voices (flite slt, awb, kal16 and espeak-ng: there are no real recordings of them), clean and
with real noise mixed in at 10 and 5 dB.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dev.fixtures import clean_take, synthesize
from voice_skill.dev.real_speech import CORPUS, mix
from voice_skill.dev.report_doc import write_section
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.events import WakeHeard
from voice_skill.front.serve import MIN_CONFIDENCE, WAKE_TAIL_S, WakePhrases, wake_in
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, WavSource, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.wake_word import WakeWordDetector, WakeWordTap
from voice_skill.settings import Settings

SECTION = "wake"
NOT_START = ("noise", "other-words", "go", "yes", "no", "stop", "digits")
VOICES = ("slt", "awb", "kal16", "espeak-ng")
SNRS_DB: tuple[float | None, ...] = (None, 10.0, 5.0)
HELP_PHRASES = ("help", "call an ambulance")
GAP_S = 1.5
"""quiet between two recordings of the stream (seconds)"""


def negative_stream(every: int = 1, seed: int = 7) -> tuple[np.ndarray, int]:
    """The real recordings that are not a start phrase, shuffled, with quiet between them."""
    files = [f for label in NOT_START for f in sorted((CORPUS / label).glob("*.wav"))[::every]]
    random.Random(seed).shuffle(files)
    gap = silence(GAP_S)
    return np.concatenate([part for f in files for part in (read_wav(f), gap)]), len(files)


def detections(audio: np.ndarray, settings: Settings, recognizer: Any, phrases: WakePhrases,
               matcher: IntentMatcher, detector: WakeWordDetector | None = None
               ) -> tuple[list[WakeHeard], int, list[float]]:
    """Every wake heard in a stream, the stretches of speech examined, their decode times. With
    a trained wake word (`detector`, heard afresh) as `serve` listens with one: beside Whisper."""
    source = WavSource(np.concatenate([audio, silence(settings.end_silence_s + 0.3)]), settings)
    listened: Any = source
    if detector is not None:
        detector.reset()
        listened = WakeWordTap(source, detector, WAKE_TAIL_S)
    endpointer = Endpointer(settings)
    found: list[WakeHeard] = []
    segments, times = 0, []
    while source.position_s < source.duration_s:
        segment = endpointer.listen(listened, math.inf)
        word = listened.take() if detector is not None else None
        if segment is None and word is None:
            break
        segments += segment is not None
        t0 = time.perf_counter()
        heard = wake_in(segment.audio if segment is not None else None, word, recognizer,
                        phrases, matcher)
        times.append(time.perf_counter() - t0)
        if heard is not None:
            found.append(heard)
    return found, segments, times


def spoken_phrases(start: tuple[str, ...], noise_files: list[Path]) -> list[dict[str, Any]]:
    """Each phrase in each voice and noise level: audio and what it should wake."""
    out: list[dict[str, Any]] = []
    for i, (text, kind) in enumerate([(p, "start") for p in start]
                                     + [(p, "emergency") for p in HELP_PHRASES]):
        for voice in VOICES:
            speech = clean_take(synthesize(text, voice))
            for snr in SNRS_DB:
                audio = speech
                if snr is not None:
                    noise = read_wav(noise_files[(i * 5 + len(out)) % len(noise_files)])
                    audio = mix(speech, noise, snr, f"{text}|{voice}|{snr}")
                out.append({"text": text, "kind": kind, "voice": voice, "snr_db": snr,
                            "audio": audio})
    return out


def measure(engine: str, settings: Settings, every: int = 1) -> dict[str, Any]:
    """False starts on the real stream, and the catch rate of spoken phrases, for one engine."""
    from voice_skill.hearing.recognizers import recognizer_for

    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    phrases = WakePhrases.of(dialog, settings)
    recognizer = recognizer_for(settings, engine)
    stream, clips = negative_stream(every)
    hours = len(stream) / PIPELINE_RATE_HZ / 3600
    false, segments, times = detections(stream, settings, recognizer, phrases, matcher)
    noise_files = sorted((CORPUS / "noise").glob("*.wav"))
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missed = []
    for p in spoken_phrases(settings.start_phrases or dialog.wake.start, noise_files):
        got, _, _ = detections(p["audio"], settings, recognizer, phrases, matcher)
        level = "clean" if p["snr_db"] is None else f"{p['snr_db']:g} dB"
        ok = any(h.kind == p["kind"] for h in got)
        for key in (f"{p['kind']} {level}", f"{p['kind']} all"):
            total[key] += 1
            caught[key] += ok
        if not ok:
            missed.append({"text": p["text"], "voice": p["voice"], "snr_db": p["snr_db"],
                           "heard": [h.text for h in got]})
    return {"engine": recognizer.name, "stream_minutes": round(hours * 60, 1), "clips": clips,
            "segments": segments, "false_starts": [h.text for h in false if h.kind == "start"],
            "false_emergencies": [h.text for h in false if h.kind == "emergency" and h.sure],
            "calls_asked_about": [h.text for h in false if h.kind == "emergency" and not h.sure],
            "false_starts_per_hour": round(sum(h.kind == "start" for h in false) / hours, 2),
            "false_emergencies_per_hour": round(
                sum(h.kind == "emergency" and h.sure for h in false) / hours, 2),
            "caught_pct": {k: round(100 * caught[k] / total[k], 1) for k in sorted(total)},
            "caught_n": dict(total), "missed": missed[:20],
            "decode_s_median": round(float(np.median(times)), 4) if times else None}


def render(report: dict[str, Any]) -> str:
    """The markdown section for docs/benchmarks.md, from the saved JSON alone."""
    lines = ["## Waiting for \"first aid\" (`voice-skill serve`)", "",
             f"Measured {report['when']} at commit `{report['commit']}` by "
             "`.venv/bin/python -m voice_skill.dev.wake_bench`, on the path `serve` waits with: VAD "
             "endpointing, free dictation (then held to the phrases when the text sounds like one), "
             "the dialogue's wake phrases, confidence at least "
             f"{report['min_confidence']}. False starts: every real recording in "
             "`tests/fixtures/real_speech/` that is not a start phrase (noise, other words, "
             "\"go\", yes, no, stop, digits), one after another with "
             f"{GAP_S:g} s of quiet between. Catch rate: the start phrases "
             f"({', '.join(report['start_phrases'])}) and calls for help "
             f"({', '.join(HELP_PHRASES)}) synthesized in {len(VOICES)} voices "
             f"({', '.join(VOICES)}), clean and with real noise at 10 and 5 dB: no real "
             "recordings of them exist here, so real voices may do worse.", ""]
    for e in report["engines"]:
        lines += [f"**{e['engine']}**: {e['stream_minutes']} minutes of real sound, "
                  f"{e['clips']} recordings, {e['segments']} stretches of speech examined "
                  f"(decode median {e['decode_s_median']} s).", "",
                  "| figure | value |", "|---|---|",
                  f"| false starts per hour | {e['false_starts_per_hour']} "
                  f"({_listed(e['false_starts'])}) |",
                  f"| false calls for help per hour | {e['false_emergencies_per_hour']} "
                  f"({_listed(e['false_emergencies'])}) |"]
        for key, pct in e["caught_pct"].items():
            kind, level = key.split(" ", 1)
            what = "start phrases" if kind == "start" else "calls for help"
            lines.append(f"| {what} caught, {level} | {pct} % of {e['caught_n'][key]} |")
        lines.append("")
    return "\n".join(lines)


def _listed(texts: list[str]) -> str:
    return f"{len(texts)}" + (": " + ", ".join(map(repr, texts)) if texts else "")


def main(argv: list[str] | None = None) -> int:
    """Measure, save the JSON, write the section of docs/benchmarks.md."""
    import datetime
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--engine", action="append", help="engine to measure (repeatable); "
                        "default: whisper")
    parser.add_argument("--every", type=int, default=1, help="every Nth real clip (quick runs)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    settings = Settings(log_enabled=False)
    engines = [measure(e, settings, args.every) for e in (args.engine or ["whisper"])]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    report = {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": commit, "min_confidence": MIN_CONFIDENCE,
              "start_phrases": list(settings.start_phrases or load_dialog().wake.start),
              "engines": engines}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks-wake.json").write_text(json.dumps(report, indent=1) + "\n",
                                                   encoding="utf-8")
    write_section(args.out / "benchmarks.md", SECTION, render(report))
    for e in engines:
        print(f"{e['engine']}: false starts/hour {e['false_starts_per_hour']}, "
              f"caught {e['caught_pct']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
