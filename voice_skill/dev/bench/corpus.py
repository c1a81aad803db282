"""The synthetic fixture corpus, and driving the dialogue to the state a fixture answers."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_skill.dialogue.dialog import Dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.errors import ModelError, VoiceSkillError
from voice_skill.events import Intent
from voice_skill.hearing.audio import WavSource, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

from voice_skill.dev.bench.plan import ANSWER_STATE, FIXTURES, GLOBAL_STATE


def noise_label(snr_db: float | None) -> str:
    """How a noise level is named in the report: clean or N dB."""
    return "clean" if snr_db is None else f"{snr_db:g} dB"


def fixture_manifest(voices: tuple[str, ...] | list[str] = (),
              clean_only: bool = False) -> dict[str, dict[str, Any]]:
    """The fixture corpus (of some voices only, if given): path -> text, intent, voice ..."""
    path = FIXTURES / "manifest.json"
    try:
        files: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise VoiceSkillError(f"{path}: the benchmark needs the fixture corpus of a repository "
                              f"checkout ({exc})") from exc
    return {p: m for p, m in files.items() if (not voices or m["voice"] in voices)
            and not (clean_only and m["snr_db"] is not None)}


def state_for(intent: str) -> str:
    """The state where a fixture's intent is an answer (global commands: rf_bladder)."""
    return ANSWER_STATE.get(intent, GLOBAL_STATE)


def phrase_order(files: dict[str, dict[str, Any]]) -> list[str]:
    """Phrase file names, intents taken in turn, so any prefix is a balanced sample."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for name in sorted({Path(p).name for p in files}):
        meta = next(m for p, m in files.items() if Path(p).name == name)
        by_intent[meta["intent"]].append(name)
    lists = [by_intent[k] for k in sorted(by_intent)]
    return [lst[i] for i in range(max(map(len, lists))) for lst in lists if i < len(lst)]


def endpoint(audio: np.ndarray, settings: Settings) -> tuple[np.ndarray | None, float, int]:
    """The speech segment of a recording (None if none), VAD wall time, frames examined."""
    source = WavSource(np.concatenate([audio, silence(settings.end_silence_s + 0.3)]), settings)
    t0 = time.perf_counter()
    segment = Endpointer(settings).listen(source, math.inf)
    vad_s = time.perf_counter() - t0
    frames = max(1, round(source.position_s * 1000 / settings.frame_ms))
    return (segment.audio if segment else None), vad_s, frames


def endpoint_wait_s(settings: Settings) -> float:
    """Audio time the endpointer waits after the last voiced frame before it decides (seconds)."""
    frame_s = settings.frame_ms / 1000
    return math.ceil(settings.end_silence_s / frame_s) * frame_s


def _path_to(dialog: Dialog, target: str) -> list[str | None]:
    """The shortest list of answers from the start to `target` (None: the state moves on)."""
    paths: dict[str, list[str | None]] = {dialog.start: []}
    todo = [dialog.start]
    while todo and target not in paths:
        name = todo.pop(0)
        s = dialog.states[name]
        steps: list[tuple[str | None, str]] = list(s.on.items())
        if s.kind == "say" and s.then:
            steps.append((None, s.then))
        for intent, dest in steps:
            nxt = dialog.states.get(dest)
            if nxt is None or nxt.kind in ("escalation", "timed") or dest in paths:
                continue
            paths[dest] = [*paths[name], intent]
            todo.append(dest)
    if target not in paths:
        raise VoiceSkillError(f"the benchmark cannot reach state {target!r} by answers")
    return paths[target]


def drive_to(manager: DialogueManager, target: str) -> None:
    """Start a session and give typed answers (pain: 5) along the shortest path to `target`."""
    manager.start()
    for name in _path_to(manager.dialog, target):
        if name is not None:
            manager.handle(Intent(name, 5 if name == "pain" else None, text=name))
    if manager.state != target:
        raise VoiceSkillError(f"the benchmark could not drive the dialogue to state {target!r} "
                              f"(stopped in {manager.state!r})")


def open_engine(settings: Settings, engine: str) -> tuple[Recognizer | None, str]:
    """The engine's recognizer, or None and the reason it cannot be measured here."""
    from voice_skill.hearing.recognizers import recognizer_for

    try:
        return recognizer_for(settings, engine), ""
    except ModelError as exc:
        if engine == "vosk":
            first = str(exc).splitlines()[0].removesuffix(" Looked in:")
            return None, f"not measured: no English model installed ({first})"
        return None, f"not measured: {exc}"


Task = tuple[str, str, bool]
"""(fixture path relative to FIXTURES, dialogue state, free dictation?)"""


def red_flag_states(dialog: Dialog) -> list[str]:
    """The emergency and urgent red-flag questions."""
    return [s.name for s in dialog.states.values()
            if s.red_flag and s.red_flag.level in ("emergency", "urgent")]


def red_flag_groups(dialog: Dialog, files: dict[str, dict[str, Any]], intent: str,
                     every: int) -> list[list[Task]]:
    """One decode per fixture and distinct grammar of the red-flag questions."""
    matcher = IntentMatcher(dialog)
    by_grammar: dict[tuple[str, ...], str] = {}
    for state in red_flag_states(dialog):
        by_grammar.setdefault(matcher.grammar(state), state)
    names = [n for n in phrase_order(files) if any(
        Path(p).name == n and m["intent"] == intent for p, m in files.items())][::every]
    return [[(rel, state, False) for rel in sorted(files) if Path(rel).name == name
             for state in by_grammar.values()] for name in names]
