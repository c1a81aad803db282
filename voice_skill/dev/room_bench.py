"""Room benchmark: what the skill hears of real people lying 1-3 m from the speaker, in rooms
with echoes and household noise.

Each real recording (tests/fixtures/real_speech/, or --corpus) is heard four ways: close (the
recording as it is), in a simulated room (voice_skill.dev.room_sim: a shoebox 3-6 m, RT60
0.3-0.7 s, microphone on a table, the talker's mouth 0.2-0.6 m high at 1-3 m), and in the same
room with real background noise from elsewhere in it at 10 and 5 dB under the speech's active
level. The room, the positions and the noise clip are drawn from the recording's name, so every
run hears the same audio. Every sound goes through the hearing path the product uses
(real_speech.hear: VAD endpointing with the turn judge, the recognizer with the state's phrases
and question, the intent matcher).

Run: python -m voice_skill.dev.room_bench [--corpus DIR] [--every N] [--step NAME] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from voice_skill.dev import room_sim
from voice_skill.dev.real_speech import (
    ANSWER_INTENTS,
    CORPUS,
    Clip,
    TimedRecognizer,
    answer_outcomes,
    false_escalation,
    hear,
    percent,
    red_flag_questions,
    red_flag_reasks,
    spread,
)
from voice_skill.dev.report_doc import write_section
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.hearing.audio import read_wav
from voice_skill.hearing.turns import TurnJudge
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

SECTION = "room"
"""its markers in docs/benchmarks.md"""
JSON_NAME = "benchmarks-room.json"
CONDITIONS: dict[str, float | None] = {"close": None, "room": None, "room + 10 dB": 10.0,
                                       "room + 5 dB": 5.0}
"""each condition and its noise (SNR in dB; None: no noise added)"""
LABELS = ("yes", "no", "stop", "digits", "digits8k", "go", "other-words", "noise")
QUIET_ONLY = ("noise",)
"""labels heard close and in the quiet room only: noise over noise has no SNR"""
ANSWER_LABELS = ("yes", "no", "stop", "digits", "digits8k")
RED_FLAG_LABELS = ("yes", "no", "stop", "go", "other-words", "noise")
"""what is heard as an answer to a red-flag question"""
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """One of issue 17's targets: a figure, the conditions it applies to, and its limit."""

    figure: str
    conditions: tuple[str, ...]
    limit: float
    at_least: bool


TARGETS = (
    Target("yes", ("room",), 97.0, True), Target("no", ("room",), 97.0, True),
    Target("stop", ("room",), 97.0, True), Target("digits", ("room",), 90.0, True),
    Target("yes", ("room + 10 dB",), 90.0, True), Target("no", ("room + 10 dB",), 90.0, True),
    Target("stop", ("room + 10 dB",), 90.0, True), Target("digits", ("room + 10 dB",), 85.0, True),
    Target("other words as yes/no", ("close", "room"), 3.0, False),
    Target("other words as yes/no", ("room + 10 dB", "room + 5 dB"), 5.0, False),
    Target('"go" as "no"', tuple(CONDITIONS), 1.0, False),
    Target('"yes" as a confident "no" (count)', tuple(CONDITIONS), 0.0, False),
    Target("false escalation, all-no screening", ("room + 10 dB",), 1.0, False),
)


def label_folders(corpus: Path) -> dict[str, Path]:
    """Each label's folder: the repo's layout (one folder per label) or the shared collection's
    (speech-commands/<label>, spoken-digits/ for the 8 kHz digits)."""
    if (corpus / "speech-commands").is_dir():
        found = {p.name: p for p in (corpus / "speech-commands").iterdir() if p.is_dir()}
        if (corpus / "spoken-digits").is_dir():
            found["digits8k"] = corpus / "spoken-digits"
    else:
        found = {p.name: p for p in corpus.iterdir() if p.is_dir()} if corpus.is_dir() else {}
    if not found:
        raise SystemExit(f"no real-speech corpus at {corpus}")
    return {label: found[label] for label in LABELS if label in found}


def clips(corpus: Path, every: int = 1) -> Iterator[Clip]:
    """Every recording to hear (every Nth of each label)."""
    for label, folder in label_folders(corpus).items():
        for f in sorted(folder.glob("*.wav"))[::every]:
            yield Clip(label, f)


def conditions_for(label: str) -> tuple[str, ...]:
    """The conditions a label is heard in."""
    return ("close", "room") if label in QUIET_ONLY else tuple(CONDITIONS)


def measure(engine: str, settings: Settings, corpus: Path, every: int,
            cache: Path | None, progress: bool = True, workers: int = 1) -> dict[str, Any]:
    """Hear every clip in every condition; rows, rooms and a summary per condition. With
    workers > 1 the clips are shared among that many processes (each loads the recognizer);
    every clip is heard as by one process."""
    started = time.perf_counter()
    todo = list(clips(corpus, every))
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.starmap(_hear_clips, [
                (engine, settings, corpus, todo[i::workers], cache, progress and i == 0)
                for i in range(workers)])
        order = {(c.label, c.path.name): i for i, c in enumerate(todo)}
        rows = sorted((r for part in parts for r in part[0]),
                      key=lambda r: (order[(r["label"], r["file"])], list(CONDITIONS).index(r["condition"])))
        rooms = {name: part[1][name] for part in parts for name in part[1]}
        name = parts[0][2]
    else:
        rows, rooms, name = _hear_clips(engine, settings, corpus, todo, cache, progress)
    summary = {c: summarize([r for r in rows if r["condition"] == c], settings.low_confidence)
               for c in CONDITIONS}
    questions = red_flag_questions(load_dialog(settings.dialog_path))
    for cond, s in summary.items():
        reasks = red_flag_reasks(settings, CONDITIONS[cond])
        s["false_escalation_pct"] = round(100 * false_escalation(
            s["no_outcomes"], questions, reasks), 2) if s["n"].get("no") else None
        # The same rules for a real "yes": the chance that one red flag is passed as a "no".
        s["missed_flag_pct"] = round(100 * (1 - false_escalation(
            s["yes_outcomes"], 1, reasks)), 3) if s["n"].get("yes") else None
    return {"engine": name, "seconds": round(time.perf_counter() - started, 1),
            "rows": rows, "rooms": rooms, "summary": summary}


def _hear_clips(engine: str, settings: Settings, corpus: Path, todo: list[Clip],
                cache: Path | None, progress: bool
                ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], str]:
    """Hear these clips in every condition: the rows, the rooms, the recognizer's name."""
    from voice_skill.hearing.recognizers import recognizer_for

    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    recognizer = TimedRecognizer(recognizer_for(settings, engine))
    judge = TurnJudge(cast("Recognizer", recognizer), matcher, settings)
    folders = label_folders(corpus)
    noises = sorted(folders["noise"].glob("*.wav")) if "noise" in folders else []
    if not noises:
        raise SystemExit(f"{corpus}: no noise clips (a noise/ folder) to play in the rooms")
    rows: list[dict[str, Any]] = []
    rooms: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for i, clip in enumerate(todo):
        name = f"{clip.label}/{clip.path.name}"
        room = room_sim.draw_room(name)
        talker_rir, noise_rir = room_sim.cached_responses(room, cache)
        noise_file = noises[int(room.noise_pick * len(noises))]
        rooms[name] = room.as_dict() | {
            "rt60_measured_s": round(room_sim.measured_rt60(talker_rir), 3),
            "noise_clip": noise_file.name}
        speech = read_wav(clip.path)
        noise = read_wav(noise_file)
        for cond in conditions_for(clip.label):
            snr = CONDITIONS[cond]
            if cond == "close":
                audio = speech
            else:
                audio = room_sim.in_room(speech, talker_rir, noise if snr is not None else None,
                                         noise_rir, snr)
            # A room goes on sounding after the word: its own trail, not added quiet.
            after = None if cond == "close" else np.zeros(0, np.int16)
            row = hear(clip, recognizer, judge, matcher, dialog, settings, audio, after,
                       0.0 if cond == "close" else room_sim.LEAD_S)
            row["condition"] = cond
            rows.append(row)
        if progress and (i + 1) % 50 == 0:
            print(f"room_bench: {i + 1}/{len(todo)} recordings, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows, rooms, recognizer.name


def room_audio(name: str, speech: np.ndarray, cond: str, noises: list[Path],
               cache: Path | None) -> np.ndarray:
    """One sound as heard in a condition, in the room drawn from `name`."""
    if cond == "close":
        return speech
    room = room_sim.draw_room(name)
    talker_rir, noise_rir = room_sim.cached_responses(room, cache)
    snr = CONDITIONS[cond]
    noise = read_wav(noises[int(room.noise_pick * len(noises))]) if snr is not None else None
    return room_sim.in_room(speech, talker_rir, noise, noise_rir, snr)


def measure_wake(settings: Settings, corpus: Path, every: int, cache: Path | None,
                 engine: str = "whisper") -> dict[str, Any]:
    """The waiting speaker (`voice-skill serve`) in rooms: false starts over real sound that is
    not a start phrase, each recording played in its own room one after another; and the start
    phrases and calls for help (synthesized: no real recordings of them exist here) caught."""
    from voice_skill.dev.fixtures import clean_take, synthesize
    from voice_skill.dev.wake_bench import HELP_PHRASES, NOT_START, VOICES, detections
    from voice_skill.front.serve import WakePhrases
    from voice_skill.hearing.recognizers import recognizer_for

    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    phrases = WakePhrases.of(dialog, settings)
    recognizer = recognizer_for(settings, engine)
    folders = label_folders(corpus)
    noises = sorted(folders["noise"].glob("*.wav"))
    negatives = [(label, f) for label in NOT_START if label in folders
                 for f in sorted(folders[label].glob("*.wav"))[::every]]
    spoken = [(text, kind, voice, clean_take(synthesize(text, voice)))
              for text, kind in [*((p, "start") for p in settings.start_phrases or dialog.wake.start),
                                 *((p, "emergency") for p in HELP_PHRASES)]
              for voice in VOICES]
    out: dict[str, Any] = {"recordings": len(negatives), "phrases": len(spoken), "conditions": {}}
    gap = np.zeros(round(1.5 * 16000), np.int16)
    for cond in CONDITIONS:
        parts = [room_audio(f"{label}/{f.name}", read_wav(f), cond, noises, cache)
                 for label, f in negatives if cond in conditions_for(label)]
        stream = np.concatenate([x for part in parts for x in (part, gap)])
        hours = len(stream) / 16000 / 3600
        found, segments, _ = detections(stream, settings, recognizer, phrases, matcher)
        caught: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for text, kind, voice, speech in spoken:
            got, _, _ = detections(room_audio(f"wake/{text}/{voice}", speech, cond, noises, cache),
                                   settings, recognizer, phrases, matcher)
            total[kind] += 1
            caught[kind] += any(h.kind == kind for h in got)
        out["conditions"][cond] = {
            "minutes": round(hours * 60, 1), "segments": segments,
            "false_starts": [h.text for h in found if h.kind == "start"],
            "false_emergencies": [h.text for h in found if h.kind == "emergency" and h.sure],
            "calls_asked_about": [h.text for h in found if h.kind == "emergency" and not h.sure],
            "false_starts_per_hour": round(sum(h.kind == "start" for h in found) / hours, 1),
            "start_caught_pct": percent(caught["start"], total["start"]),
            "help_caught_pct": percent(caught["emergency"], total["emergency"]),
            "n_start": total["start"], "n_help": total["emergency"]}
    return out


def summarize(rows: list[dict[str, Any]], low_confidence: float) -> dict[str, Any]:
    """The figures of one condition."""
    def pick(label: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["label"] == label]

    out: dict[str, Any] = {"accuracy": {}, "n": {}, "misheard": {}}
    for label in ANSWER_LABELS:
        sel = pick(label)
        if sel:
            out["accuracy"][label] = percent(sum(r["correct"] for r in sel), len(sel))
            out["n"][label] = len(sel)
            wrong = Counter(f"{r['text']!r}->{r['intent']}" + (f"={r['value']}" if r["value"] is not None
                                                              else "")
                            for r in sel if not r["correct"])
            out["misheard"][label] = wrong.most_common(6)
    other, go, noise = pick("other-words"), pick("go"), pick("noise")
    out["other_words_as_yes_no"] = percent(sum(r["intent"] in ("yes", "no") for r in other), len(other))
    out["other_words_as_answer"] = percent(sum(r["intent"] in ANSWER_INTENTS for r in other), len(other))
    out["go_as_no"] = percent(sum(r["intent"] == "no" for r in go), len(go))
    out["noise_as_answer"] = percent(sum(r["intent"] in ANSWER_INTENTS for r in noise), len(noise))
    out["yes_as_confident_no"] = sum(r["intent"] == "no" and r["confidence"] >= low_confidence
                                     for r in pick("yes"))
    asked = [r for r in rows if r["label"] in RED_FLAG_LABELS]
    out["sure_wrong_yes_no"] = percent(sum(
        r["intent"] in ("yes", "no") and r["intent"] != r["label"] and r["confidence"] >= low_confidence
        for r in asked), len(asked))
    right = [r for r in asked if r["label"] in ("yes", "no") and r["correct"]]
    out["right_but_confirmed"] = percent(sum(r["confidence"] < low_confidence for r in right), len(right))
    out["n"].update({"other-words": len(other), "go": len(go), "noise": len(noise),
                     "red-flag": len(asked), "right yes/no": len(right)})
    out["decode_s"] = spread([r["decode_s"] for r in rows if r["decode_s"] is not None])
    out["no_outcomes"] = answer_outcomes(pick("no"), low_confidence)
    out["yes_outcomes"] = answer_outcomes(pick("yes"), low_confidence)
    return out


FIGURES: tuple[tuple[str, str, str], ...] = (
    ("yes", "accuracy", "yes"), ("no", "accuracy", "no"), ("stop", "accuracy", "stop"),
    ("digits", "accuracy", "digits"), ("digits8k", "accuracy", "digits8k"),
    ("other words as yes/no", "other_words_as_yes_no", ""),
    ("other words as any answer", "other_words_as_answer", ""),
    ('"go" as "no"', "go_as_no", ""), ("noise as an answer", "noise_as_answer", ""),
    ('"yes" as a confident "no" (count)', "yes_as_confident_no", ""),
    ("sure wrong yes/no, any red-flag sound", "sure_wrong_yes_no", ""),
    ("right yes/no, but confirmed", "right_but_confirmed", ""),
    ("false escalation, all-no screening", "false_escalation_pct", ""),
    ("a red-flag yes passed as no (per question)", "missed_flag_pct", ""),
)


def figure(summary: dict[str, Any], key: str, sub: str) -> float | None:
    """One figure of a condition's summary (None: not measured there)."""
    value = summary.get(key)
    if sub:
        value = (value or {}).get(sub)
    return None if value is None else float(value)


def verdicts(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target in each of its conditions: measured, limit, met or by how much it is missed."""
    keys = {title: (key, sub) for title, key, sub in FIGURES}
    out = []
    for t in TARGETS:
        for cond in t.conditions:
            value = figure(summary[cond], *keys[t.figure])
            if value is None:
                continue
            gap = t.limit - value if t.at_least else value - t.limit
            out.append({"figure": t.figure, "condition": cond, "measured": value,
                        "limit": f"{'>=' if t.at_least else '<='} {t.limit:g}",
                        "met": gap <= 0, "missed_by": round(max(gap, 0.0), 1)})
    decode = [s["decode_s"]["p95"] for s in summary.values() if s.get("decode_s")]
    if decode:
        worst = max(decode)
        out.append({"figure": "decode p95 (s)", "condition": "worst", "measured": worst,
                    "limit": "<= 0.3", "met": worst <= 0.3, "missed_by": round(max(worst - 0.3, 0), 3)})
    return out


def _cell(x: float | None, count: bool = False) -> str:
    return "-" if x is None else str(round(x)) if count else f"{x:.1f}"


def render(report: dict[str, Any]) -> str:
    """The markdown section for docs/benchmarks.md, from the saved JSON alone."""
    latest = report["runs"][-1]
    rt = report["rt60"]
    p = report["parameters"]
    lines = [
        "## Hearing across a room (issue 17)", "",
        f"Measured {latest['when']} at commit `{latest['commit']}` by "
        f"`python -m voice_skill.dev.room_bench{latest['args']}` (also `voice-skill bench --room`), "
        f"engine {latest['engine']}, on {latest['clips']} real recordings from `{latest['corpus']}` "
        f"({latest['heard']} hearings in all, {latest['seconds']:.0f} s"
        + (f", every {latest['every']}th recording of each label" if latest["every"] > 1 else "")
        + "). Raw results: `benchmarks-room.json` beside this file.", "",
        "Each recording is heard close (as recorded), then played in a simulated shoebox room "
        f"(pyroomacoustics {p['pyroomacoustics']}, image sources with Sabine's absorption for the "
        f"asked RT60): sides {p['side_m'][0]:g}-{p['side_m'][1]:g} m, height "
        f"{p['height_m'][0]:g}-{p['height_m'][1]:g} m, RT60 {p['rt60_s'][0]:g}-{p['rt60_s'][1]:g} s, "
        f"microphone at {p['mic_height_m']:g} m (a table), the talker's mouth "
        f"{p['mouth_height_m'][0]:g}-{p['mouth_height_m'][1]:g} m high (floor to bed) at "
        f"{p['distance_m'][0]:g}-{p['distance_m'][1]:g} m, nothing within {p['wall_margin_m']:g} m "
        "of a wall; the reverberant speech keeps the recording's active level. With noise, a real "
        f"noise clip (looped) plays from another place in the room (at least {p['noise_away_m']:g} m "
        f"from both, {p['noise_height_m'][0]:g}-{p['noise_height_m'][1]:g} m high) from "
        f"{p['lead_s']:g} s before the word to {p['trail_s']:g} s after its echoes (as long as the "
        "skill listens after a word: no quiet is added), at 10 or 5 dB "
        "under the reverberant speech's active level (10 ms frames within 20 dB of the loudest). "
        "Every draw is seeded by sha256 of `label/file name`; the same noise clip and room serve "
        "both noise levels. Each room and its measured RT60 are in the JSON. "
        f"Measured RT60 (T{room_sim.RT60_DECAY_DB}, Schroeder) vs asked: median error "
        f"{rt['median_error_s']:+.3f} s, 90 % of rooms within {rt['p90_abs_error_s']:.3f} s; "
        f"measured {rt['min_s']:.2f}-{rt['max_s']:.2f} s (median {rt['median_s']:.2f}).", "",
        "Hearing path: `real_speech.hear` (VAD endpointing with the turn judge, the state's phrases "
        "and question: yes/no/stop/other words/noise under `rf_bladder`, digits under `pain_start`; "
        "the intent matcher). Accuracy: the intent (and pain value) a person would want; \"stop\" "
        "must be the stop command. False escalation: as in the real-speech section, from the "
        "measured outcomes of real \"no\"s in that condition; a red-flag yes passed as no: the "
        "same rules on the real \"yes\"s, per question. Decode: one recognizer run, on "
        f"this shared machine{' pinned to one core' if latest.get('one_core') else ''}.", ""]
    conds = list(CONDITIONS)
    lines += ["| figure (%) | " + " | ".join(conds) + " | n |", "|---|" + "---|" * (len(conds) + 1)]
    s = latest["summary"]
    for title, key, sub in FIGURES:
        cells = [_cell(figure(s[c], key, sub), "(count)" in title) for c in conds]
        n = s["room"]["n"].get(sub or {"other_words_as_yes_no": "other-words",
                                       "other_words_as_answer": "other-words", "go_as_no": "go",
                                       "noise_as_answer": "noise", "yes_as_confident_no": "yes",
                                       "false_escalation_pct": "no",
                                       "missed_flag_pct": "yes",
                                       "sure_wrong_yes_no": "red-flag",
                                       "right_but_confirmed": "right yes/no"}.get(key, ""), "")
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {n} |")
    lines.append("| decode median / p95 (s) | " + " | ".join(
        f"{d['median']:.3f} / {d['p95']:.3f}" if (d := s[c].get("decode_s")) else "-" for c in conds)
        + " | |")
    lines += ["", "Targets (issue 17):", "", "| target | condition | measured | limit | verdict |",
              "|---|---|---|---|---|"]
    for v in latest["verdicts"]:
        verdict = "met" if v["met"] else f"**missed** by {v['missed_by']:g}"
        lines.append(f"| {v['figure']} | {v['condition']} | {v['measured']:g} | {v['limit']} | "
                     f"{verdict} |")
    if len(report["runs"]) > 1:
        lines += ["", "Step by step (each run of the benchmark, oldest first; n differs when a run "
                  "heard a sample):", "",
                  "| step | commit | clips | condition | yes | no | stop | digits | digits8k "
                  "| other as yes/no | go as no | yes as sure no | sure wrong yes/no "
                  "| right but confirmed | false escalation | decode p95 |", "|---|" + "---|" * 15]
        for run in report["runs"]:
            for c in conds:
                sc = run["summary"][c]
                d = sc.get("decode_s")
                lines.append(
                    f"| {run['step']} | `{run['commit']}` | {run['clips']} | {c} | "
                    + " | ".join(_cell(figure(sc, "accuracy", k)) for k in ("yes", "no", "stop",
                                                                          "digits", "digits8k"))
                    + f" | {_cell(sc.get('other_words_as_yes_no'))} | {_cell(sc.get('go_as_no'))} | "
                    f"{sc.get('yes_as_confident_no')} | {_cell(sc.get('sure_wrong_yes_no'))} | "
                    f"{_cell(sc.get('right_but_confirmed'))} | {_cell(sc.get('false_escalation_pct'))} | "
                    f"{d['p95'] if d else '-'} |")
        notes = [f"- {r['step']}: {r['note']}" for r in report["runs"] if r.get("note")]
        if notes:
            lines += ["", *notes]
    if report.get("wake"):
        w = report["wake"]
        lines += ["", f"Waiting for \"first aid\" in the same rooms (`--wake`, at commit "
                  f"`{w.get('commit', '?')}`): false starts over {w['recordings']} real recordings "
                  "that are not a start phrase (noise, other words, go, yes, no, stop, digits), each "
                  "in its own room, one after another; start phrases and calls for help "
                  f"synthesized ({w['phrases']} takes: 4 voices; no real recordings of them exist "
                  "here), played in rooms the same way.", "",
                  "| figure | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
        wc = w["conditions"]
        for title, key in (("minutes of sound", "minutes"),
                           ("false starts per hour", "false_starts_per_hour"),
                           ("start phrases caught (%)", "start_caught_pct"),
                           ("calls for help caught (%)", "help_caught_pct")):
            lines.append(f"| {title} | " + " | ".join(str(wc[c].get(key, "-")) for c in conds) + " |")
        lines.append("| false starts heard | " + " | ".join(
            ", ".join(repr(t) for t in wc[c]["false_starts"]) or "none" for c in conds) + " |")
    if report.get("findings"):
        lines += ["", "What was tried on samples of this benchmark, and kept or not:", "",
                  *(f"- {f}" for f in report["findings"])]
    lines += ["", "Most common mishearings, latest run (text heard -> intent):", ""]
    for c in conds:
        parts = [f"{label}: " + ", ".join(f"{t} x{k}" for t, k in s[c]["misheard"].get(label, [])[:4])
                 for label in ANSWER_LABELS if s[c]["misheard"].get(label)]
        if parts:
            lines.append(f"- {c}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def rt60_spread(rooms: dict[str, dict[str, Any]]) -> dict[str, float]:
    """How far the measured RT60s are from the asked ones."""
    asked = np.array([r["rt60_s"] for r in rooms.values()])
    got = np.array([r["rt60_measured_s"] for r in rooms.values()])
    err = got - asked
    return {"median_error_s": round(float(np.median(err)), 3),
            "p90_abs_error_s": round(float(np.percentile(np.abs(err), 90)), 3),
            "min_s": round(float(got.min()), 3), "max_s": round(float(got.max()), 3),
            "median_s": round(float(np.median(got)), 3), "n": len(got)}


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=REPO, check=False).stdout.strip() or "unknown"


def parameters() -> dict[str, Any]:
    """Every fixed parameter of the simulation, for the report."""
    import pyroomacoustics as pra

    r = room_sim
    return {"pyroomacoustics": pra.__version__, "side_m": r.SIDE_M, "height_m": r.HEIGHT_M,
            "rt60_s": r.RT60_S, "mic_height_m": r.MIC_HEIGHT_M, "mouth_height_m": r.MOUTH_HEIGHT_M,
            "distance_m": r.DISTANCE_M, "noise_height_m": r.NOISE_HEIGHT_M,
            "noise_away_m": r.NOISE_AWAY_M, "wall_margin_m": r.WALL_MARGIN_M, "lead_s": r.LEAD_S,
            "trail_s": r.TRAIL_S, "rt60_decay_db": r.RT60_DECAY_DB,
            "snr_db": {c: v for c, v in CONDITIONS.items() if v is not None},
            "seed": "sha256('<label>/<file name>'), first 8 bytes little-endian, numpy default_rng"}


def run(settings: Settings, corpus: Path, out_dir: Path, every: int = 1, engine: str = "whisper",
        step: str = "latest", note: str = "", cache: Path | None = None,
        args_text: str = "", workers: int = 1) -> dict[str, Any]:
    """Measure, then save the JSON (this run's rows, every step's summary) and the doc section."""
    import os

    result = measure(engine, settings, corpus, every, cache, workers=workers)
    commit = _commit()
    try:
        shown = str(corpus.resolve().relative_to(REPO))
    except ValueError:
        shown = str(corpus)
    one_core = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) == 1
    this = {"step": step, "note": note, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": commit, "engine": result["engine"], "corpus": shown, "every": every,
            "clips": len(result["rooms"]), "heard": len(result["rows"]),
            "seconds": result["seconds"], "one_core": one_core, "args": args_text,
            "summary": result["summary"], "verdicts": verdicts(result["summary"])}
    path = out_dir / JSON_NAME
    old: list[dict[str, Any]] = []
    findings: list[str] = []
    wake = None
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        old = [r for r in saved.get("runs", []) if r["step"] != step]
        findings = saved.get("findings", [])
        wake = saved.get("wake")
    report = {"parameters": parameters(), "rt60": rt60_spread(result["rooms"]),
              "runs": [*old, this], "findings": findings, "wake": wake, "rooms": result["rooms"],
              "rows": [{k: r[k] for k in ("condition", "label", "file", "text", "intent", "value",
                                          "confidence", "decode_s", "correct", "audio_s", "sound_s",
                                          "words_end_s", "run_on", "ended_after_s")
                        if k in r}
                       for r in result["rows"]]}
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    write_section(out_dir / "benchmarks.md", SECTION, render(report))
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m voice_skill.dev.room_bench`: measure and write docs/benchmarks.md's room section."""
    import platformdirs

    parser = argparse.ArgumentParser(prog="python -m voice_skill.dev.room_bench",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="real recordings, a folder per label (default: the repo's "
                             "tests/fixtures/real_speech; the shared collection's layout works too)")
    parser.add_argument("--every", type=int, default=1, help="every Nth recording of each label")
    parser.add_argument("--engine", default="whisper", choices=("whisper", "vosk", "pocketsphinx"))
    parser.add_argument("--step", default="latest",
                        help="name of this run in the step-by-step table (a run of the same name "
                             "is replaced)")
    parser.add_argument("--note", default="", help="what this step changed, for the report")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--no-cache", action="store_true",
                        help="compute every impulse response anew (they are kept in the user's "
                             "cache folder otherwise)")
    parser.add_argument("--wake", action="store_true",
                        help="measure only the waiting speaker in rooms (false starts, phrases "
                             "caught) and add it to the saved report")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the recordings (each loads the recognizer)")
    parser.add_argument("--render", action="store_true",
                        help="only write the doc section again from the saved JSON")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads((args.out / JSON_NAME).read_text(encoding="utf-8"))
        write_section(args.out / "benchmarks.md", SECTION, render(saved))
        return 0
    cache = None if args.no_cache else Path(platformdirs.user_cache_dir("voice-skill")) / "rooms"
    if args.wake:
        path = args.out / JSON_NAME
        saved = json.loads(path.read_text(encoding="utf-8"))
        started = time.perf_counter()
        saved["wake"] = measure_wake(Settings(log_enabled=False), args.corpus, args.every, cache,
                                     args.engine)
        saved["wake"].update(commit=_commit(), every=args.every,
                             seconds=round(time.perf_counter() - started))
        path.write_text(json.dumps(saved, separators=(",", ":")) + "\n", encoding="utf-8")
        write_section(args.out / "benchmarks.md", SECTION, render(saved))
        print(f"room_bench --wake: {json.dumps(saved['wake']['conditions'])}", file=sys.stderr)
        return 0
    shown = "" if args.every == 1 else f" --every {args.every}"
    if args.corpus != CORPUS:
        shown += " --corpus DIR"
    report = run(Settings(log_enabled=False), args.corpus, args.out, args.every, args.engine,
                 args.step, args.note, cache, shown, args.workers)
    latest = report["runs"][-1]
    print(f"room_bench: {latest['clips']} recordings heard {latest['heard']} times "
          f"in {latest['seconds']:.0f} s", file=sys.stderr)
    for cond, s in latest["summary"].items():
        print(f"  {cond}: {json.dumps(s['accuracy'])} other as yes/no {s['other_words_as_yes_no']} "
              f"go as no {s['go_as_no']} yes as sure no {s['yes_as_confident_no']} "
              f"decode {s['decode_s']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
