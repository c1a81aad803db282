"""The waiting speaker on real voices: `python -m voice_skill.dev.wake_real [--every N]`.

Real people saying four wake words (alexa, computer, jarvis, snowboy: Picovoice's wake-word
benchmark, about 120 each, from the shared collection or --words DIR), each word set in turn as
the only start phrase and heard through `voice-skill serve`'s waiting path close up, 1-3 m away
in a simulated room, and in the room with real household noise at 10 and 5 dB
(`voice-skill bench --wake` for each). False starts: the repo's real recordings that are not a
start phrase (noise, other words, yes, no, stop, digits) strung together, then continuous talk
(synthetic: sentences of the dialogue, the first-aid brief and the project's docs read by four
synthetic voices one after another, as a radio would; no real continuous speech is at hand),
heard with the dialogue's own start phrases and with each wake word. Writes
docs/benchmarks-wake-real.json and the "waiting speaker on real voices" section of docs/benchmarks.md.

`--wake-word alexa` measures the trained wake word instead, as `serve` runs it with the setting
`wake_word = "alexa"`: beside the dialogue's start phrases (and Whisper taking "Alexa" too), on
the real "alexa" recordings in the same conditions, and the wake word alone (no Whisper) on
every recording; false starts of the combined path over the same real sound and talk, and of
the wake word alone over more (the real sound with noise at 10 dB under it, the other real wake
words, the talk).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dev.fixtures import clean_take, synthesize
from voice_skill.dev.report_doc import write_section
from voice_skill.dev.wake_bench import negative_stream
from voice_skill.dev.wake_recordings import NOISE_DIR, WaitingPath, measure_positives
from voice_skill.hearing.audio import PIPELINE_RATE_HZ
from voice_skill.settings import Settings

REPO = Path(__file__).resolve().parents[2]
WORDS = ("alexa", "computer", "jarvis", "snowboy")
CONDITIONS: dict[str, tuple[bool, float | None]] = {
    "close": (False, None), "room": (True, None), "room + 10 dB": (True, 10.0),
    "room + 5 dB": (True, 5.0)}
SECTION = "wake-real"
JSON_NAME = "benchmarks-wake-real.json"
TALK_SOURCES = ("dialogs/back_spasm.yaml", "docs/first-aid-content.md", "README.md",
                "docs/failure-modes.md", "docs/raspberry-pi.md", "docs/architecture.md")
TALK_VOICES = ("slt", "awb", "kal16", "espeak-ng")
TALK_MINUTES = 30.0
BANNED = ("first aid", "back", "spasm", "help", "emergency", "ambulance", "alexa", "computer",
          "jarvis", "snowboy")
"""sentences saying any of these (hyphens read as spaces: "first-aid" is "first aid") are left
out of the talk: it must say no start phrase"""


def talk_sentences() -> list[str]:
    """Plain sentences of 4-40 words from the dialogue and the first-aid brief."""
    text = " ".join((REPO / p).read_text(encoding="utf-8") for p in TALK_SOURCES)
    text = re.sub(r"[`*_#|>\[\]{}()\"]", " ", text)
    out = []
    for s in re.split(r"(?<=[.!?])\s+|\n\s*\n|:\s*\n", text):
        s = " ".join(s.split()).strip(" -")
        words = s.split()
        if (4 <= len(words) <= 40 and re.fullmatch(r"[A-Za-z0-9 ,.'!?;-]+", s)
                and not any(b in s.lower().replace("-", " ") for b in BANNED)):
            out.append(s)
    return list(dict.fromkeys(out))


def talk_stream(minutes: float, cache: Path) -> np.ndarray:
    """Continuous synthetic talk, sentence after sentence with 0.3 s between, voices in turn."""
    sentences = talk_sentences()
    key = hashlib.sha256(json.dumps([sentences, TALK_VOICES, minutes]).encode()).hexdigest()[:16]
    path = cache / f"talk-{key}.npy"
    if path.exists():
        return np.asarray(np.load(path), np.int16)
    gap = np.zeros(round(0.3 * PIPELINE_RATE_HZ), np.int16)
    parts: list[np.ndarray] = []
    total, i = 0, 0
    while total < minutes * 60 * PIPELINE_RATE_HZ:
        s = sentences[i % len(sentences)]
        voice = TALK_VOICES[(i // len(sentences) + i) % len(TALK_VOICES)]
        x = clean_take(synthesize(s, voice))
        parts += [x, gap]
        total += len(x) + len(gap)
        i += 1
    audio = np.concatenate(parts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, audio)
    return audio


def false_starts(path: WaitingPath, audio: np.ndarray) -> dict[str, Any]:
    """False starts and calls for help heard in a stream, and the core time it took."""
    cpu_before, audio_before = path.cpu_s, path.audio_s
    got = path.heard(audio)
    hours = len(audio) / PIPELINE_RATE_HZ / 3600
    starts = [h["text"] for h in got if h["kind"] == "start"]
    helps = [h["text"] for h in got if h["kind"] == "emergency" and h["sure"]]
    asked = [h["text"] for h in got if h["kind"] == "emergency" and not h["sure"]]
    return {"hours": round(hours, 3), "false_starts": starts, "false_emergencies": helps,
            "calls_asked_about": asked,
            "calls_asked_about_per_day": round(24 * len(asked) / hours, 1),
            "false_starts_per_hour": round(len(starts) / hours, 2),
            "false_emergencies_per_day": round(24 * len(helps) / hours, 1),
            "cpu_pct_one_core": round(100 * (path.cpu_s - cpu_before)
                                      / (path.audio_s - audio_before), 1)}


def measure(words_dir: Path, every: int, cache: Path, settings: Settings,
            false_for_words: bool = False, positives_only: bool = False,
            false_only: bool = False) -> dict[str, Any]:
    """Every word in every condition, and false starts over the real sound and the talk
    (`false_only`: only the false starts of the dialogue's own start phrases)."""
    noises = sorted(NOISE_DIR.glob("*.wav"))
    rooms = cache / "rooms"
    out: dict[str, Any] = {"catch": {}, "false": {}}
    real, clips = negative_stream()
    talk = talk_stream(TALK_MINUTES, cache)
    if positives_only:
        real, talk = real[:0], talk[:0]
    out["negatives"] = {"real_clips": clips, "real_minutes": round(len(real) / 16000 / 60, 1),
                        "talk_minutes": round(len(talk) / 16000 / 60, 1),
                        "talk_sentences": len(talk_sentences())}
    for word in (None,) if false_only else (None, *WORDS):
        path = WaitingPath(settings, word, "whisper")
        name = word or "first aid (the dialogue's start phrases)"
        if word is not None:
            files = sorted((words_dir / word).glob("*.wav"))[::every]
            out["catch"][word] = {}
            for cond, (room, snr) in CONDITIONS.items():
                r = measure_positives(path, files, room, snr, noises, rooms)
                r["missed"] = {m["file"]: m["heard"] for m in r["missed"]}
                out["catch"][word][cond] = r
                print(f"wake_real: {word} {cond}: {r['caught_pct']} %", file=sys.stderr,
                      flush=True)
        if (word is None and not positives_only) or (word and false_for_words):
            out["false"][name] = {"real": false_starts(path, real),
                                  "talk": false_starts(path, talk)}
            print(f"wake_real: {name}: {out['false'][name]}", file=sys.stderr, flush=True)
    return out


WORD_RECORDINGS = {"alexa": "alexa"}
"""the folder of real recordings of each trained wake word's phrase (only "alexa" has them)"""


def word_false(path: WaitingPath, streams: dict[str, np.ndarray]) -> dict[str, Any]:
    """The wake word alone over each stream: how often it fires, per hour, and its core time."""
    out: dict[str, Any] = {}
    for name, audio in streams.items():
        cpu = path.word_cpu_s
        fired = path.word_alone(audio)
        hours = len(audio) / PIPELINE_RATE_HZ / 3600
        out[name] = {"hours": round(hours, 3), "fired": fired,
                     "cpu_pct_one_core": round(100 * (path.word_cpu_s - cpu) / (hours * 3600), 2)}
    hours = sum(v["hours"] for v in out.values())
    fired = sum(v["fired"] for v in out.values())
    out["all"] = {"hours": round(hours, 3), "fired": fired,
                  "per_hour": round(fired / hours, 3) if hours else None}
    return out


def noisy(stream_files: list[Path], snr_db: float) -> np.ndarray:
    """Real recordings, each with real household noise under it, 1.5 s of quiet between."""
    from voice_skill.dev.real_speech import mix
    from voice_skill.hearing.audio import read_wav

    noises = sorted(NOISE_DIR.glob("*.wav"))
    gap = np.zeros(round(1.5 * PIPELINE_RATE_HZ), np.int16)
    parts = []
    for i, f in enumerate(stream_files):
        noise = read_wav(noises[i % len(noises)])
        parts += [mix(read_wav(f), noise, snr_db, f"word-false/{f.name}"), gap]
    return np.concatenate(parts)


def measure_word(words_dir: Path, word: str, every: int, cache: Path,
                 settings: Settings, positives_only: bool = False) -> dict[str, Any]:
    """The trained wake word beside the dialogue's start phrases, as `serve` runs it."""
    from voice_skill.dev.real_speech import CORPUS
    from voice_skill.dev.wake_bench import NOT_START
    from voice_skill.dev.wake_recordings import as_heard
    from voice_skill.hearing.audio import read_wav

    if word not in WORD_RECORDINGS:
        raise SystemExit(f"no real recordings of the wake word {word!r} here")
    noises = sorted(NOISE_DIR.glob("*.wav"))
    rooms = cache / "rooms"
    path = WaitingPath(settings, None, "whisper", word)
    every_file = sorted((words_dir / WORD_RECORDINGS[word]).glob("*.wav"))
    out: dict[str, Any] = {"word": word, "phrase": path.detector.phrase if path.detector else "",
                           "catch": {}, "word_alone_all": {}}
    for cond, (room, snr) in CONDITIONS.items():
        r = measure_positives(path, every_file[::every], room, snr, noises, rooms)
        r["missed"] = {m["file"]: m["heard"] for m in r["missed"]}
        out["catch"][cond] = r
        fired = sum(path.word_alone(as_heard(f, room, snr, noises, rooms)) > 0
                    for f in every_file)
        out["word_alone_all"][cond] = {"positives": len(every_file), "caught": fired,
                                       "caught_pct": round(100 * fired / len(every_file), 1)}
        print(f"wake_real: {word} {cond}: combined {r['caught_pct']} %, alone "
              f"{r['word_alone_pct']} % (all: {out['word_alone_all'][cond]['caught_pct']} %)",
              file=sys.stderr, flush=True)
    real, clips = negative_stream()
    talk = talk_stream(TALK_MINUTES, cache)
    if not positives_only:  # the combined path's false starts (Whisper's the most of the cost)
        out["false"] = {"real": false_starts(path, real), "talk": false_starts(path, talk)}
        print(f"wake_real: {word} false: {out['false']}", file=sys.stderr, flush=True)
    not_start = [f for label in NOT_START for f in sorted((CORPUS / label).glob("*.wav"))]
    others = [f for w in WORDS if w != WORD_RECORDINGS[word]
              for f in sorted((words_dir / w).glob("*.wav"))]
    gap = np.zeros(round(1.5 * PIPELINE_RATE_HZ), np.int16)
    out["word_alone_false"] = word_false(path, {
        "real sound": real, "real sound + 10 dB noise": noisy(not_start, 10.0),
        "other real wake words": np.concatenate([x for f in others for x in (read_wav(f), gap)]),
        "talk": talk})
    print(f"wake_real: {word} alone, false: {out['word_alone_false']}", file=sys.stderr,
          flush=True)
    out["negatives"] = {"real_clips": clips, "other_words": len(others)}
    return out


def render_word(w: dict[str, Any], phrase_alone: dict[str, Any] | None = None) -> list[str]:
    """The trained wake word's lines of the section, from its saved JSON; `phrase_alone`: the
    latest step's catch of the same word set as the start phrase (Whisper alone), to compare."""
    n = next(iter(w["catch"].values()))["positives"]
    n_all = next(iter(w["word_alone_all"].values()))["positives"]
    lines = ["", f"### The trained wake word \"{w['phrase']}\" (`wake_word = \"{w['word']}\"`)",
             "", f"`{w['command']}` at commit `{w['commit']}`, {w['when']} ({w['seconds']:.0f} s). "
             f"The same real \"{w['word']}\" recordings and conditions. *combined*: the path "
             f"`serve` waits with when the setting is on (the model beside the dialogue's start "
             f"phrases, and Whisper taking \"{w['phrase']}\" too: either starts a session); "
             "*alone*: the model only, no Whisper.", "",
             "| path | " + " | ".join(CONDITIONS) + " |", "|---|" + "---|" * len(CONDITIONS),
             f"| combined ({n}) | " + " | ".join(f"**{w['catch'][c]['caught_pct']} %**"
                                                 for c in CONDITIONS) + " |",
             f"| wake word alone, same {n} | " + " | ".join(
                 f"{w['catch'][c]['word_alone_pct']} %" for c in CONDITIONS) + " |",
             f"| wake word alone, all {n_all} | " + " | ".join(
                 f"{w['word_alone_all'][c]['caught_pct']} %" for c in CONDITIONS) + " |"]
    if phrase_alone and phrase_alone.get("conds"):
        lines.append(f"| Whisper alone, \"{w['word']}\" as the start phrase (step "
                     f"{phrase_alone['step']}, {n}) | " + " | ".join(
                         f"{phrase_alone['conds'][c]['caught_pct']} %" for c in CONDITIONS) + " |")
    for cut, o in w.get("other_cutoffs", {}).items():
        m = next(iter(o["catch"].values()))["positives"]
        lines += [f"| combined, cutoff {cut} ({m}) | " + " | ".join(
                      f"{o['catch'][c]['caught_pct']} %" for c in CONDITIONS) + " |",
                  f"| wake word alone, cutoff {cut}, all {n_all} | " + " | ".join(
                      f"{o['word_alone_all'][c]['caught_pct']} %" for c in CONDITIONS) + " |"]
    r, t = w["false"]["real"], w["false"]["talk"]
    lines += ["", f"False starts of the combined path: {r['false_starts_per_hour']} an hour over "
              f"the real non-phrase sound ({r['hours'] * 60:.1f} min), {t['false_starts_per_hour']}"
              f" over the talk ({t['hours'] * 60:.1f} min); false calls for help "
              f"{r['false_emergencies_per_day']} / {t['false_emergencies_per_day']} a day; "
              f"CPU while waiting {r['cpu_pct_one_core']} / {t['cpu_pct_one_core']} % of one "
              "core. What started them: " + (", ".join(map(repr, r["false_starts"]
                                                          + t["false_starts"])) or "nothing")
              + ".", "", "The wake word alone over more sound:", "",
              "| sound | hours | fired | CPU (% of one core) |", "|---|---|---|---|"]
    for name, v in w["word_alone_false"].items():
        if name != "all":
            lines.append(f"| {name} | {v['hours']} | {v['fired']} | {v['cpu_pct_one_core']} |")
    a = w["word_alone_false"]["all"]
    lines.append(f"| **all** | {a['hours']} | {a['fired']} ({a['per_hour']} an hour) | |")
    for cut, o in w.get("other_cutoffs", {}).items():
        a = o["word_alone_false"]["all"]
        lines.append(f"| all, cutoff {cut} (`{o['command']}`) | {a['hours']} | {a['fired']} "
                     f"({a['per_hour']} an hour) | |")
    if w.get("notes"):
        lines += ["", *(f"- {n}" for n in w["notes"])]
    return lines


def render(report: dict[str, Any]) -> str:
    """The markdown section, from the saved JSON alone: the catch at every step, oldest first,
    and the false starts of the latest run that measured them."""
    neg = report["negatives"]
    lines = ["## The waiting speaker on real voices (issue 26)", "",
             "Each of four real wake words (Picovoice wake-word-benchmark, Apache-2.0: "
             "crowd-sourced, many speakers and microphones) set in turn as the only start "
             "phrase, heard through the path `voice-skill serve` waits with; the same as "
             "`voice-skill bench --wake --phrase W --positives DIR [--room] [--snr DB] --json` "
             "for each. Rooms: room_sim (1-3 m, RT60 0.3-0.7 s, seeded by file name); noise: the "
             f"repo's real household noise. Raw figures: `{JSON_NAME}`.", "",
             "| step | start phrase (n) | " + " | ".join(CONDITIONS) + " |",
             "|---|---|" + "---|" * len(CONDITIONS)]
    for step in report["steps"]:
        totals = {c: [0, 0] for c in CONDITIONS}
        for word, conds in step["catch"].items():
            n = next(iter(conds.values()))["positives"]
            lines.append(f"| {step['step']} | {word} ({n}) | " + " | ".join(
                f"{conds[c]['caught_pct']} %" for c in CONDITIONS) + " |")
            for c in CONDITIONS:
                totals[c][0] += conds[c]["caught"]
                totals[c][1] += conds[c]["positives"]
        lines.append(f"| {step['step']} | **all** ({totals['close'][1]}) | " + " | ".join(
            f"**{100 * a / b:.1f} %**" for a, b in totals.values()) + " |")
    lines += [""] + [f"- {st['step']}: `{st['command']}` at commit `{st['commit']}`, {st['when']}"
                     f" ({st['seconds']:.0f} s on the shared 2-core machine). {st['note']}"
                     for st in report["steps"]]
    false = report["false"]
    lines += ["", f"False starts (`{false['command']}` at commit `{false['commit']}`): over "
              f"{neg['real_minutes']} minutes of real non-phrase sound "
              f"({neg['real_clips']} recordings: noise, other words, go, yes, no, stop, digits; "
              f"1.5 s between) and {neg['talk_minutes']} minutes of continuous talk "
              f"(synthetic: {neg['talk_sentences']} sentences of the dialogue, the first-aid "
              "brief and the docs that say no start phrase and no call for help, read one after "
              "another by four synthetic voices; there is no real continuous speech here). CPU: "
              "the process's core time over the sound's duration, on this machine.", "",
              "| start phrases | real sound: false starts / h | false calls for help / day "
              "| talk: false starts / h | false calls for help / day | CPU while waiting, "
              "real sound / talk (% of one core) |", "|---|---|---|---|---|---|"]
    for name, f in false["phrases"].items():
        r, t = f["real"], f["talk"]
        lines.append(f"| {name} | {r['false_starts_per_hour']} | {r['false_emergencies_per_day']}"
                     f" | {t['false_starts_per_hour']} | {t['false_emergencies_per_day']} | "
                     f"{r['cpu_pct_one_core']} / {t['cpu_pct_one_core']} |")
    heard = sorted({x for f in false["phrases"].values() for part in f.values()
                    for x in part["false_starts"] + part["false_emergencies"]})
    lines += ["", "What started them: " + (", ".join(map(repr, heard)) or "nothing") + "."]
    if report.get("notes"):
        lines += ["", *(f"- {n}" for n in report["notes"])]
    if report.get("wake_word"):
        word = report["wake_word"]
        latest = next((st for st in reversed(report["steps"])
                       if word["word"] in st["catch"]), None)
        lines += render_word(word, latest and {"step": latest["step"],
                                               "conds": latest["catch"][word["word"]]})
    return "\n".join(lines) + "\n"


def merge(old: dict[str, Any], run: dict[str, Any], step: str, note: str) -> dict[str, Any]:
    """The saved report with this run as the step `step` (replacing one of that name), and its
    false starts when it measured any."""
    meta = {k: run[k] for k in ("when", "commit", "seconds", "command")}
    steps = [s for s in old.get("steps", []) if s["step"] != step or not run["catch"]]
    if run["catch"]:  # a run of the false starts alone is no step of the catch
        steps.append({"step": step, "note": note, "catch": run["catch"], **meta})
    false = old.get("false")
    if run["false"]:
        false = {"phrases": run["false"], **meta}
    return {"steps": steps, "false": false, "negatives": run["negatives"] if run["false"]
            else old.get("negatives", run["negatives"]), "notes": old.get("notes", []),
            **({"wake_word": old["wake_word"]} if old.get("wake_word") else {})}


def main(argv: list[str] | None = None) -> int:
    """Measure, save the JSON, write the doc section."""
    import platformdirs

    parser = argparse.ArgumentParser(prog="python -m voice_skill.dev.wake_real",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--words", type=Path,
                        help="a folder per wake word (alexa/, computer/, jarvis/, snowboy/): "
                             "Picovoice's wake-word benchmark recordings")
    parser.add_argument("--every", type=int, default=1, help="every Nth recording of each word")
    parser.add_argument("--false-for-words", action="store_true",
                        help="false starts with each wake word as the start phrase too (by "
                             "default only with the dialogue's own start phrases)")
    parser.add_argument("--positives-only", action="store_true",
                        help="only the share of the wake words caught (no false starts)")
    parser.add_argument("--false-only", action="store_true",
                        help="only the false starts of the dialogue's start phrases (no catch)")
    parser.add_argument("--step", default="latest", help="this run's name in the report")
    parser.add_argument("--note", default="", help="what this step changed")
    parser.add_argument("--wake-word", metavar="WORD",
                        help="measure the trained wake word (alexa) as serve runs it, instead")
    parser.add_argument("--wake-cutoff", type=float, default=0.0,
                        help="with --wake-word: its cutoff (default: the model's own)")
    parser.add_argument("--render", action="store_true",
                        help="only write the doc section again from the saved JSON")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)
    path = args.out / JSON_NAME
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not args.render:
        if args.words is None or not (args.words / WORDS[0]).is_dir():
            raise SystemExit(f"no wake-word recordings in {args.words} (give --words DIR)")
        cache = Path(platformdirs.user_cache_dir("voice-skill"))
        started = time.perf_counter()
        if args.wake_word:
            word = measure_word(args.words, args.wake_word, args.every, cache,
                                Settings(log_enabled=False, wake_word_cutoff=args.wake_cutoff,
                                         dialog_path=REPO / "dialogs" / "back_spasm.yaml"),
                                positives_only=args.positives_only)
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, cwd=REPO, check=False).stdout.strip()
            word |= {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
                     "seconds": round(time.perf_counter() - started),
                     "command": f"python -m voice_skill.dev.wake_real --words DIR --wake-word "
                                f"{args.wake_word}" + (f" --every {args.every}"
                                                       if args.every > 1 else "")
                                + (f" --wake-cutoff {args.wake_cutoff:g}" if args.wake_cutoff
                                   else "")
                                + (" --positives-only" if args.positives_only else ""),
                     "cutoff": args.wake_cutoff or None}
            if args.wake_cutoff:  # another cutoff: beside the model's own, not instead
                old.setdefault("wake_word", {}).setdefault("other_cutoffs", {})[
                    f"{args.wake_cutoff:g}"] = word
            else:
                word["other_cutoffs"] = old.get("wake_word", {}).get("other_cutoffs", {})
                old["wake_word"] = word
            path.write_text(json.dumps(old, indent=1) + "\n", encoding="utf-8")
            write_section(args.out / "benchmarks.md", SECTION, render(old))
            return 0
        run = measure(args.words, args.every, cache,
                      Settings(log_enabled=False, dialog_path=REPO / "dialogs" / "back_spasm.yaml"),
                      args.false_for_words, args.positives_only, args.false_only)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=REPO, check=False).stdout.strip()
        run |= {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
                "seconds": round(time.perf_counter() - started),
                "command": "python -m voice_skill.dev.wake_real --words DIR"
                + (f" --every {args.every}" if args.every > 1 else "")
                + (" --false-for-words" if args.false_for_words else "")
                + (" --positives-only" if args.positives_only else "")
                + (" --false-only" if args.false_only else "")}
        old = merge(old, run, args.step, args.note)
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(old, indent=1) + "\n", encoding="utf-8")
    write_section(args.out / "benchmarks.md", SECTION, render(old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
