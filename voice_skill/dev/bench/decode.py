"""Accuracy and red-flag recall: fixtures heard through the microphone path in a process pool."""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from voice_skill.clock import VirtualClock
from voice_skill.dev.bench.corpus import (
    Task,
    drive_to,
    fixture_manifest,
    noise_label,
    open_engine,
    phrase_order,
    red_flag_states,
    state_for,
)
from voice_skill.dev.bench.plan import FIXTURES, Plan, percent, settings_from_json, settings_json, summarize
from voice_skill.dev.real_speech import TimedRecognizer
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import NO_MATCH, IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.errors import ModelError
from voice_skill.events import Escalated, Intent, Reply
from voice_skill.hearing.audio import read_wav
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import hear_recording
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

_POOL: dict[str, Any] = {}


def _pool_init(settings_text: str, engine: str) -> None:
    settings = settings_from_json(settings_text)
    recognizer, why = open_engine(settings, engine)
    if recognizer is None:
        raise ModelError(why)
    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    timed = TimedRecognizer(recognizer)
    _POOL.update(settings=settings, recognizer=timed, matcher=matcher, dialog=dialog,
                 judge=TurnJudge(cast("Recognizer", timed), matcher, settings))


def _decode(task: Task) -> dict[str, Any]:
    """Hear one fixture as the microphone path does, in a state (or freely); match the intent."""
    rel, state, free = task
    settings, recognizer = _POOL["settings"], _POOL["recognizer"]
    matcher: IntentMatcher = _POOL["matcher"]
    recognizer.decode_s.clear()
    heard = hear_recording(read_wav(FIXTURES / rel), settings, recognizer, state,
                           None if free else matcher.grammar(state),
                           "" if free else _POOL["dialog"].question(state), _POOL["judge"])
    u = heard.utterance
    out: dict[str, Any] = {"speech_found": u is not None, "text": "", "intent": NO_MATCH,
                           "value": None, "confidence": 0.0, "decode_s": 0.0, "audio_s": 0.0}
    if u is not None:
        got = matcher.match(u.text, state, u.confidence)
        out.update(text=u.text, intent=got.name, value=got.value, confidence=round(
            u.confidence, 3), decode_s=round(recognizer.decode_s[-1], 4),
            audio_s=round(u.audio_s, 3))
    return out


class Decodes:
    """Fixture decodes in a pool of worker processes (one per core), each done once."""

    def __init__(self, settings: Settings, engine: str) -> None:
        import multiprocessing

        self.procs = max(1, len(os.sched_getaffinity(0)))
        ctx = multiprocessing.get_context("spawn")
        self.pool = ctx.Pool(self.procs, _pool_init, (settings_json(settings), engine))
        self.done: dict[Task, dict[str, Any]] = {}

    def run(self, groups: list[list[Task]], deadline: float | None = None) -> int:
        """Decode group after group (a group is never split) until the deadline; groups done."""
        n = 0
        batch: list[Task] = []
        for i, group in enumerate(groups):
            batch += [t for t in group if t not in self.done and t not in batch]
            if len(batch) < 2 * self.procs and i < len(groups) - 1:
                continue
            if deadline is not None and time.perf_counter() > deadline:
                break
            for task, result in zip(batch, self.pool.map(_decode, batch, chunksize=1),
                                    strict=True):
                self.done[task] = result
            n = i + 1
            batch = []
        return n

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.terminate()
        self.pool.join()


def measure_accuracy(decodes: Decodes, plan: Plan, budget_s: float) -> dict[str, Any]:
    """Intent accuracy per voice x noise, under each state's grammar and as free dictation."""
    files = fixture_manifest(plan.voices, plan.clean_only)
    by_name: dict[str, list[str]] = defaultdict(list)
    for rel in sorted(files):
        by_name[Path(rel).name].append(rel)
    order = phrase_order(files)
    groups = [[(rel, state_for(files[rel]["intent"]), free) for rel in by_name[name]
               for free in ((False, True) if i % plan.free_every == 0 else (False,))]
              for i, name in enumerate(order)]
    done = decodes.run(groups, time.perf_counter() + budget_s)
    rows: list[dict[str, Any]] = []
    for group in groups[:done]:
        for rel, state, free in group:
            if free:
                continue
            meta = files[rel]
            row: dict[str, Any] = {"file": rel, "voice": meta["voice"],
                                   "noise": noise_label(meta["snr_db"]), "want": meta["intent"],
                                   "want_value": meta["value"], "state": state}
            for mode, task in (("grammar", (rel, state, False)), ("free", (rel, state, True))):
                if task in decodes.done:
                    res = dict(decodes.done[task])
                    res["ok"] = res["intent"] == meta["intent"] and (
                        meta["value"] is None or res["value"] == meta["value"])
                    row[mode] = res
            rows.append(row)
    return {"phrases": done, "phrases_total": len(order), "budget_s": budget_s,
            "rows": rows, "table": _accuracy_table(rows)}


def _accuracy_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode, per voice, per noise level: correct / total and percent; plus confusions."""
    out: dict[str, Any] = {}
    for mode in ("grammar", "free"):
        cells: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        confusions: Counter[str] = Counter()
        rtf: list[float] = []
        for r in rows:
            if mode not in r:
                continue
            res = r[mode]
            for voice in (r["voice"], "all voices"):
                for noise in (r["noise"], "all"):
                    cell = cells[voice][noise]
                    cell[0] += int(res["ok"])
                    cell[1] += 1
            if not res["ok"]:
                confusions[f"{r['want']} -> {res['intent']}"] += 1
            if res["audio_s"]:
                rtf.append(res["decode_s"] / res["audio_s"])
        out[mode] = {
            "cells": {v: {n: {"ok": c[0], "n": c[1], "pct": percent(c[0], c[1])}
                          for n, c in by.items()} for v, by in cells.items()},
            "confusions": confusions.most_common(8),
            "rtf": summarize(rtf),
        }
    return out


def measure_red_flags(decodes: Decodes, settings: Settings, dialog: Dialog,
                      plan: Plan) -> dict[str, Any]:
    """Every decoded "yes" and "no" fixture answered to every emergency/urgent question."""
    files = fixture_manifest(plan.voices, plan.clean_only)
    matcher = IntentMatcher(dialog)
    states = red_flag_states(dialog)
    rep = {matcher.grammar(s): s for s in reversed(states)}
    groups: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    misses: list[dict[str, Any]] = []
    for rel in sorted(files):
        meta = files[rel]
        if meta["intent"] not in ("yes", "no"):
            continue
        for state in states:
            heard = decodes.done.get((rel, rep[matcher.grammar(state)], False))
            if heard is None:
                continue
            intent = Intent(heard["intent"], heard["value"], heard["confidence"], heard["text"])
            manager = DialogueManager(dialog, settings, VirtualClock())
            drive_to(manager, state)
            outs = manager.handle(intent)
            escalated = any(isinstance(o, Escalated) for o in outs)
            stayed = not escalated and manager.state == state and not manager.ended
            confirm = any(isinstance(o, Reply) and o.key in ("messages.confirm_red_flag",
                                                              "messages.check_meaning")
                          for o in outs)
            want = meta["intent"]
            verdict = ("escalated" if escalated else
                       "confirm" if stayed and confirm else "re-ask" if stayed else "passed on")
            for label in (f"{meta['voice']} / {noise_label(meta['snr_db'])}", "all"):
                groups[want][label][verdict] += 1
                groups[want][label]["n"] += 1
            if (want == "yes" and verdict == "passed on") or (want == "no" and escalated):
                misses.append({"file": rel, "state": state, "heard": intent.text,
                               "intent": intent.name, "verdict": verdict})
    table: dict[str, Any] = {}
    for want, by in groups.items():
        table[want] = {}
        for label, c in sorted(by.items()):
            n = c["n"]
            cell: dict[str, Any] = {k: c[k] for k in ("n", "escalated", "confirm", "re-ask",
                                                      "passed on")}
            if want == "yes":
                cell["recall_pct"] = percent(n - c["passed on"], n)
            else:
                cell["false_escalation_pct"] = percent(c["escalated"], n)
            cell["reask_pct"] = percent(c["confirm"] + c["re-ask"], n)
            table[want][label] = cell
    total = {i: sum(1 for m in files.values() if m["intent"] == i) for i in ("yes", "no")}
    return {"states": states, "table": table, "misses": misses[:40],
            "miss_count": len(misses), "fixtures_total": total}
