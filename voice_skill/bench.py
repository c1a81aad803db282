"""`voice-skill bench`: accuracy, speed and footprint measured on this machine, written to docs/.

The parent process measures accuracy and red-flag recall; everything timed or sized runs in
fresh worker subprocesses (`python -m voice_skill.bench WORKER`), once on the whole machine
and once confined to one CPU core with `taskset -c 0` (a Raspberry-Pi-like run).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import importlib.metadata
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_skill.audio import WavSource, read_wav, silence
from voice_skill.clock import VirtualClock
from voice_skill.dialog import Dialog, load_dialog
from voice_skill.endpointing import Endpointer
from voice_skill.errors import ModelError, VoiceSkillError
from voice_skill.events import Escalated, Intent, Reply
from voice_skill.intents import NO_MATCH, IntentMatcher
from voice_skill.manager import DialogueManager
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.recognizers import Recognizer

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "audio"
SCENARIOS = REPO / "tests" / "scenarios"
ENGINES = ("pocketsphinx", "vosk")
ANSWER_STATE = {
    "yes": "rf_bladder", "no": "rf_bladder", "unsure": "rf_bladder", NO_MATCH: "rf_bladder",
    "pain": "pain_start", "ready": "back_1", "back": "choose_position",
    "side": "choose_position", "cannot": "can_move",
}
"""a state where each intent is an answer; global commands are heard in rf_bladder"""
GLOBAL_STATE = "rf_bladder"
NOISE_LEVELS = ("clean", "20 dB", "10 dB")
SECTIONS = ("Machine", "How to reproduce", "Targets", "Accuracy", "Red-flag recall", "Speed",
            "Footprint", "Raspberry-Pi-like run", "Closing note")
"""the report's sections, in order (the test checks each is there)"""


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or a quick smoke-test sample. Budgets are wall time,
    so a slow recognizer gives a smaller (still balanced) sample, never an endless run."""

    quick: bool
    accuracy_s: float
    """decode phrases (each in every voice and noise set) for this long"""
    free_every: int
    """... decoding every n-th phrase as free dictation too"""
    yes_every: int
    """red-flag recall: every n-th "yes" phrase (1: all of them, always decoded in full)"""
    no_s: float
    """then "no" fixtures for false escalations, for this long"""
    latency_turns: int
    speed_s: float
    """turn-latency sample: at most this long"""
    startup_runs: int
    session_scenario: str
    soak_minutes: float
    soak_min_passes: int
    """passes over every scenario the soak makes at least (memory needs many sessions) ..."""
    soak_s: float
    """... unless it has run this long (wall seconds) and done the virtual minutes"""
    soak_scenarios: tuple[str, ...] = ()
    """scenario folders to loop (empty: all)"""
    voices: tuple[str, ...] = ()
    """fixture voices decoded for accuracy and recall (empty: all)"""
    clean_only: bool = False
    """decode only the recordings without added noise"""

    @staticmethod
    def make(quick: bool, soak_minutes: float) -> Plan:
        if quick:
            return Plan(True, accuracy_s=6, free_every=4, yes_every=26, no_s=0, latency_turns=3,
                        speed_s=6, startup_runs=1, session_scenario="red_flag_bladder",
                        soak_minutes=min(soak_minutes, 0.1), soak_min_passes=1, soak_s=4,
                        soak_scenarios=("red_flag_bladder",), voices=("slt",),
                        clean_only=True)
        return Plan(False, accuracy_s=150, free_every=3, yes_every=1, no_s=45, latency_turns=40,
                    speed_s=50, startup_runs=3, session_scenario="happy_path_ice",
                    soak_minutes=max(soak_minutes, 30.0), soak_min_passes=2, soak_s=60)


# ---------------------------------------------------------------------------- small helpers


def _pct(ok: int, n: int) -> float | None:
    return round(100.0 * ok / n, 1) if n else None


def _summary(xs: list[float]) -> dict[str, Any]:
    """Median, 95th percentile, mean and count of a list of seconds (or ratios)."""
    if not xs:
        return {"n": 0, "median": None, "p95": None, "mean": None, "max": None}
    s = sorted(xs)
    p95 = s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]
    return {"n": len(s), "median": round(statistics.median(s), 4), "p95": round(p95, 4),
            "mean": round(statistics.fmean(s), 4), "max": round(s[-1], 4)}


def _noise(snr_db: float | None) -> str:
    return "clean" if snr_db is None else f"{snr_db:g} dB"


def _manifest(voices: tuple[str, ...] | list[str] = (),
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


def _state_for(intent: str) -> str:
    return ANSWER_STATE.get(intent, GLOBAL_STATE)


def _phrase_order(files: dict[str, dict[str, Any]]) -> list[str]:
    """Phrase file names, intents taken in turn, so any prefix is a balanced sample."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for name in sorted({Path(p).name for p in files}):
        meta = next(m for p, m in files.items() if Path(p).name == name)
        by_intent[meta["intent"]].append(name)
    lists = [by_intent[k] for k in sorted(by_intent)]
    return [lst[i] for i in range(max(map(len, lists))) for lst in lists if i < len(lst)]


def _endpoint(audio: np.ndarray, settings: Settings) -> tuple[np.ndarray | None, float, int]:
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


def _open(settings: Settings, engine: str) -> tuple[Recognizer | None, str]:
    """The engine's recognizer, or None and the reason it cannot be measured here."""
    from voice_skill.recognizers import recognizer_for

    try:
        return recognizer_for(settings, engine), ""
    except ModelError as exc:
        if engine == "vosk":
            first = str(exc).splitlines()[0].removesuffix(" Looked in:")
            return None, f"not measured: no English model installed ({first})"
        return None, f"not measured: {exc}"


# ---------------------------------------------------------------------------- decoding


Task = tuple[str, str, bool]
"""(fixture path relative to FIXTURES, dialogue state, free dictation?)"""

_POOL: dict[str, Any] = {}


def _pool_init(settings_text: str, engine: str) -> None:
    settings = _settings_from_json(settings_text)
    recognizer, why = _open(settings, engine)
    if recognizer is None:
        raise ModelError(why)
    dialog = load_dialog(settings.dialog_path)
    _POOL.update(settings=settings, recognizer=recognizer, matcher=IntentMatcher(dialog))


def _decode(task: Task) -> dict[str, Any]:
    """Endpoint one fixture, recognize it in a state (or freely), match the intent."""
    rel, state, free = task
    settings, recognizer = _POOL["settings"], _POOL["recognizer"]
    matcher: IntentMatcher = _POOL["matcher"]
    segment, vad_s, frames = _endpoint(read_wav(FIXTURES / rel), settings)
    out: dict[str, Any] = {"vad_ms_per_frame": round(1000 * vad_s / frames, 4),
                           "speech_found": segment is not None, "text": "", "intent": NO_MATCH,
                           "value": None, "confidence": 0.0, "decode_s": 0.0, "audio_s": 0.0}
    if segment is not None:
        u = recognizer.recognize(segment, None if free else matcher.grammar(state))
        got = matcher.match(u.text, state, u.confidence)
        out.update(text=u.text, intent=got.name, value=got.value, confidence=round(
            u.confidence, 3), decode_s=round(u.decode_s, 4), audio_s=round(u.audio_s, 3))
    return out


class Decodes:
    """Fixture decodes in a pool of worker processes (one per core), each done once."""

    def __init__(self, settings: Settings, engine: str) -> None:
        import multiprocessing

        self.procs = max(1, len(os.sched_getaffinity(0)))
        ctx = multiprocessing.get_context("spawn")
        self.pool = ctx.Pool(self.procs, _pool_init, (_settings_json(settings), engine))
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
        self.pool.terminate()
        self.pool.join()


# ---------------------------------------------------------------------------- accuracy


def measure_accuracy(decodes: Decodes, plan: Plan, budget_s: float) -> dict[str, Any]:
    """Intent accuracy per voice x noise, under each state's grammar and as free dictation."""
    files = _manifest(plan.voices, plan.clean_only)
    by_name: dict[str, list[str]] = defaultdict(list)
    for rel in sorted(files):
        by_name[Path(rel).name].append(rel)
    order = _phrase_order(files)
    groups = [[(rel, _state_for(files[rel]["intent"]), free) for rel in by_name[name]
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
                                   "noise": _noise(meta["snr_db"]), "want": meta["intent"],
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
            "cells": {v: {n: {"ok": c[0], "n": c[1], "pct": _pct(c[0], c[1])}
                          for n, c in by.items()} for v, by in cells.items()},
            "confusions": confusions.most_common(8),
            "rtf": _summary(rtf),
        }
    return out


# ---------------------------------------------------------------------------- red-flag recall


def red_flag_states(dialog: Dialog) -> list[str]:
    """The emergency and urgent red-flag questions."""
    return [s.name for s in dialog.states.values()
            if s.red_flag and s.red_flag.level in ("emergency", "urgent")]


def _red_flag_groups(dialog: Dialog, files: dict[str, dict[str, Any]], intent: str,
                     every: int) -> list[list[Task]]:
    """One decode per fixture and distinct grammar of the red-flag questions."""
    matcher = IntentMatcher(dialog)
    by_grammar: dict[tuple[str, ...], str] = {}
    for state in red_flag_states(dialog):
        by_grammar.setdefault(matcher.grammar(state), state)
    names = [n for n in _phrase_order(files) if any(
        Path(p).name == n and m["intent"] == intent for p, m in files.items())][::every]
    return [[(rel, state, False) for rel in sorted(files) if Path(rel).name == name
             for state in by_grammar.values()] for name in names]


def measure_red_flags(decodes: Decodes, settings: Settings, dialog: Dialog,
                      plan: Plan) -> dict[str, Any]:
    """Every decoded "yes" and "no" fixture answered to every emergency/urgent question."""
    files = _manifest(plan.voices, plan.clean_only)
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
            confirm = any(isinstance(o, Reply) and o.key == "messages.confirm_red_flag"
                          for o in outs)
            want = meta["intent"]
            verdict = ("escalated" if escalated else
                       "confirm" if stayed and confirm else "re-ask" if stayed else "passed on")
            for label in (f"{meta['voice']} / {_noise(meta['snr_db'])}", "all"):
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
                cell["recall_pct"] = _pct(n - c["passed on"], n)
            else:
                cell["false_escalation_pct"] = _pct(c["escalated"], n)
            cell["reask_pct"] = _pct(c["confirm"] + c["re-ask"], n)
            table[want][label] = cell
    total = {i: sum(1 for m in files.values() if m["intent"] == i) for i in ("yes", "no")}
    return {"states": states, "table": table, "misses": misses[:40],
            "miss_count": len(misses), "fixtures_total": total}


# ---------------------------------------------------------------------------- workers


def _settings_json(settings: Settings) -> str:
    raw = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)}
    return json.dumps(raw, default=lambda v: str(v) if isinstance(v, Path) else list(v))


def _settings_from_json(text: str) -> Settings:
    raw: dict[str, Any] = json.loads(text)
    for key in ("dialog_path", "vosk_model_path", "log_dir"):
        if raw.get(key) is not None:
            raw[key] = Path(raw[key])
    raw["notify_command"] = tuple(raw.get("notify_command") or ())
    return Settings(**raw)


def run_worker(kind: str, engine: str, settings: Settings, plan: Plan,
               one_core: bool) -> dict[str, Any]:
    """Run a measuring worker in a fresh Python process (on one core if asked); its JSON."""
    cmd = [sys.executable, "-m", "voice_skill.bench", kind, engine, _settings_json(settings),
           json.dumps(dataclasses.asdict(plan))]
    if one_core:
        if shutil.which("taskset") is None:
            return {"error": "taskset is not installed"}
        cmd = ["taskset", "-c", "0", *cmd]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    t_spawn = time.time()
    env["VOICE_SKILL_BENCH_SPAWNED"] = repr(t_spawn)
    load_before = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900,
                          check=False)
    load = {"load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "worker_wall_s": round(time.time() - t_spawn, 1)}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker {kind} exited {proc.returncode}: {tail}", **load}
    result: dict[str, Any] = json.loads(lines[-1])
    return {**result, **load}


def _worker_main(argv: list[str]) -> int:
    kind, engine, settings_text, plan_text = argv
    settings = _settings_from_json(settings_text)
    plan = Plan(**json.loads(plan_text))
    work = {"speed": _work_speed, "startup": _work_startup, "session": _work_session,
            "soak": _work_soak}[kind]
    result = work(engine, settings, plan)
    result["cpus"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result), flush=True)
    return 0


def _rss_mb() -> float:
    """Current resident memory of this process (MB)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    """getrusage's peak (MB). On Linux it carries over the parent's peak through fork and exec,
    so a worker started by a big process reports the parent's size: see _peak_mb."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _peak_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of one process as the kernel tracks it (VmHWM, MB)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)
    return None


def _speech_worker_peak_mb() -> float | None:
    """Peak memory of this process's pyttsx3 worker (a multiprocessing child), while it runs."""
    me = os.getpid()
    with contextlib.suppress(OSError):
        for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return _peak_mb(pid)
    return None


# ---- speech output for the latency measurement


@contextlib.contextmanager
def _audio_output() -> Iterator[str]:
    """A real output device: the system's, or else a private PulseAudio null sink we start."""
    import sounddevice as sd

    with contextlib.suppress(Exception):
        sd.query_devices(kind="output")
        yield "the system's default audio output"
        return
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        yield ""
        return
    base = Path(tempfile.mkdtemp(prefix="voice-skill-bench-pulse-"))
    runtime = base / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"PULSE_RUNTIME_PATH": str(runtime), "PULSE_STATE_PATH": str(base / "state"),
           "PULSE_SERVER": f"unix:{runtime / 'native'}"}
    os.environ.update(env)
    daemon = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
         "--load=module-null-sink sink_name=bench_speaker",
         "--load=module-native-protocol-unix auth-anonymous=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], capture_output=True, check=False).returncode:
            if daemon.poll() is not None or time.monotonic() > deadline:
                yield ""
                return
            time.sleep(0.05)
        sd._terminate()  # PortAudio lists devices when it starts: let it see the new one
        sd._initialize()
        yield "a PulseAudio null sink (no sound card here) through PortAudio/ALSA"
    finally:
        subprocess.run(["pactl", "exit"], capture_output=True, check=False, timeout=10)
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(base, ignore_errors=True)


def first_audio_s(speaker: Any, text: str) -> float | None:
    """Seconds from say() to the reply's first audio; the rest is cut short (barge-in)."""
    done = threading.Event()

    def speak() -> None:
        speaker.say(text)
        done.set()

    thread = threading.Thread(target=speak, daemon=True)
    thread.start()
    while not done.is_set() and speaker.last_first_audio_s is None:
        time.sleep(0.002)
    first: float | None = speaker.last_first_audio_s
    speaker.stop()
    thread.join(30)
    return first


def _work_speed(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Turn latency split into endpointing, recognition, dialogue and speech synthesis."""
    from voice_skill.tts import Pyttsx3Speaker, WavSpeaker

    dialog = load_dialog(settings.dialog_path)
    recognizer, why = _open(settings, engine)
    if recognizer is None:
        return {"error": why}
    files = _manifest()
    # A spread of voices, noise levels and phrases: every k-th file of the sorted corpus.
    names = sorted(files)
    step = max(1, len(names) // plan.latency_turns)
    chosen = names[::step][: plan.latency_turns]
    deadline = time.perf_counter() + plan.speed_s
    matcher = IntentMatcher(dialog)
    turns: list[dict[str, Any]] = []
    with _audio_output() as device, tempfile.TemporaryDirectory() as tmp:
        speaker: Any = Pyttsx3Speaker(settings, stream=open(os.devnull, "w"))  # noqa: SIM115
        tts_how = f"pyttsx3 -> espeak-ng, played to {device}"
        if not device:
            speaker.close()
            speaker = WavSpeaker(Path(tmp), settings)
            tts_how = "espeak-ng synthesis to a WAV file (no audio output could be opened)"
        first_audio_s(speaker, "Ready.")  # the engine's start-up is start-up time, not a turn
        for rel in chosen:
            if time.perf_counter() > deadline:
                break
            meta = files[rel]
            state = _state_for(meta["intent"])
            segment, vad_s, frames = _endpoint(read_wav(FIXTURES / rel), settings)
            if segment is None:
                continue
            u = recognizer.recognize(segment, matcher.grammar(state))
            manager = DialogueManager(dialog, settings, VirtualClock())
            drive_to(manager, state)
            t0 = time.perf_counter()
            intent = matcher.match(u.text, state, u.confidence)
            outs = manager.handle(intent)
            dialogue_s = time.perf_counter() - t0
            reply = next((o for o in outs if isinstance(o, Reply)), None)
            tts_s = first_audio_s(speaker, reply.spoken) if reply else None
            if tts_s is None and getattr(speaker, "speaking_enabled", True) is False:
                tts_how += "; the engine failed and was replaced by WAV synthesis"
                speaker = WavSpeaker(Path(tmp), settings)
                tts_s = first_audio_s(speaker, reply.spoken) if reply else None
            turns.append({"file": rel, "state": state, "audio_s": u.audio_s,
                          "vad_frame_s": vad_s / frames, "recognize_s": u.decode_s,
                          "dialogue_s": dialogue_s, "tts_first_audio_s": tts_s})
        speaker.close()
    wait_s = endpoint_wait_s(settings)
    split = {
        "endpointing_s": [wait_s + t["vad_frame_s"] for t in turns],
        "recognize_s": [t["recognize_s"] for t in turns],
        "dialogue_s": [t["dialogue_s"] for t in turns],
        "tts_first_audio_s": [t["tts_first_audio_s"] for t in turns
                              if t["tts_first_audio_s"] is not None],
        "beyond_endpointing_s": [t["vad_frame_s"] + t["recognize_s"] + t["dialogue_s"]
                                 + (t["tts_first_audio_s"] or 0.0) for t in turns],
        "total_s": [wait_s + t["vad_frame_s"] + t["recognize_s"] + t["dialogue_s"]
                    + (t["tts_first_audio_s"] or 0.0) for t in turns],
        "rtf": [t["recognize_s"] / t["audio_s"] for t in turns if t["audio_s"]],
    }
    return {"engine": recognizer.name, "tts_how": tts_how, "endpoint_wait_s": wait_s,
            "summary": {k: _summary(v) for k, v in split.items()}, "turns": turns}


_STARTUP_CODE = """
import json, os, sys, time
t_spawn = float(os.environ["VOICE_SKILL_BENCH_SPAWNED"])
t_start = time.time()
from voice_skill.clock import WallClock
from voice_skill.dialog import load_dialog
from voice_skill.events import Reply
from voice_skill.manager import DialogueManager
from voice_skill.recognizers import recognizer_for
from voice_skill.tts import Pyttsx3Speaker
from voice_skill.bench import (_audio_output, _peak_mb, _settings_from_json,
                               _speech_worker_peak_mb, first_audio_s)
settings = _settings_from_json(sys.argv[1])
engine = sys.argv[2]
with _audio_output() as device:
    t_imported = time.time()
    dialog = load_dialog(settings.dialog_path)
    t_dialog = time.time()
    speaker = Pyttsx3Speaker(settings, stream=open(os.devnull, "w"))
    recognizer = recognizer_for(settings, engine)
    t_model = time.time()
    greeting = next(o for o in DialogueManager(dialog, settings, WallClock()).start()
                    if isinstance(o, Reply))
    t_say = time.time()
    first = first_audio_s(speaker, greeting.spoken)
    worker_s = speaker.worker_start_s
    worker_peak = _speech_worker_peak_mb()
    speaker.close()
print(json.dumps({
    "device": device, "engine": recognizer.name, "speaking": first is not None,
    "interpreter_s": t_start - t_spawn, "imports_s": t_imported - t_start,
    "dialog_s": t_dialog - t_imported, "model_load_s": t_model - t_dialog,
    "tts_engine_ready_s": worker_s,
    "first_word_s": (t_say + first - t_spawn) if first is not None else None,
    "greeting_first_audio_s": first,
    "peak_mb": _peak_mb(), "tts_worker_peak_mb": worker_peak}))
"""
"""a fresh process doing what `voice-skill run` does before its first word, timed"""


def _work_startup(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Start-up to the first spoken word, several fresh processes; each phase timed."""
    runs: list[dict[str, Any]] = []
    for _ in range(plan.startup_runs):
        env = dict(os.environ, VOICE_SKILL_BENCH_SPAWNED=repr(time.time()))
        proc = subprocess.run([sys.executable, "-c", _STARTUP_CODE, _settings_json(settings),
                               engine], capture_output=True, text=True, env=env, timeout=300,
                              check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"start-up run exited {proc.returncode}: {tail}"}
        runs.append(json.loads(lines[-1]))
    keys = ("interpreter_s", "imports_s", "dialog_s", "model_load_s", "tts_engine_ready_s",
            "greeting_first_audio_s", "first_word_s", "peak_mb", "tts_worker_peak_mb")
    return {"runs": runs, "device": runs[0]["device"],
            "summary": {k: _summary([r[k] for r in runs if r.get(k) is not None]) for k in keys}}


def _work_session(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Peak resident memory of this process over one full replayed session."""
    from voice_skill.replay import run_scenario
    from voice_skill.scenario import load_scenario
    from voice_skill.tts import NullSpeaker

    before = _peak_mb()
    dialog = load_dialog(settings.dialog_path)
    scenario = load_scenario(SCENARIOS / plan.session_scenario / "scenario.yaml", dialog,
                             settings.no_input_timeout_s)
    t0 = time.perf_counter()
    result = run_scenario(scenario, settings, dialog, engine, NullSpeaker())
    return {"scenario": plan.session_scenario, "passed": result.passed,
            "failures": result.failures[:5], "wall_s": round(time.perf_counter() - t0, 2),
            "peak_before_mb": before, "peak_mb": _peak_mb(), "rss_end_mb": round(_rss_mb(), 1),
            "getrusage_maxrss_mb": _maxrss_mb()}


def _work_soak(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Loop every scenario on virtual clocks with real decoding; sample RSS after each one."""
    from voice_skill.recognizers import recognizer_for
    from voice_skill.replay import ScenarioListener
    from voice_skill.scenario import load_scenario
    from voice_skill.session import Session
    from voice_skill.tts import NullSpeaker

    dialog = load_dialog(settings.dialog_path)
    paths = sorted(SCENARIOS.glob("*/scenario.yaml"))
    if plan.soak_scenarios:
        paths = [p for p in paths if p.parent.name in plan.soak_scenarios]
    scenarios = [load_scenario(p, dialog, settings.no_input_timeout_s) for p in paths]
    scenarios = [s for s in scenarios if s.engine in (None, engine)]
    recognizer = recognizer_for(settings, engine)
    samples: list[dict[str, float]] = []
    virtual_s = audio_s = 0.0
    sessions = turns = passes = 0
    t0 = time.perf_counter()
    def more() -> bool:
        if virtual_s < plan.soak_minutes * 60:
            return True
        return passes < plan.soak_min_passes and time.perf_counter() - t0 < plan.soak_s

    while more():
        for scenario in scenarios:
            if passes and not more():
                break
            s = settings.replace(log_enabled=False, **scenario.settings)
            clock = VirtualClock()
            listener = ScenarioListener(scenario.turns, s, clock, recognizer)
            heard: list[float] = []

            def sink(e: dict[str, Any], heard: list[float] = heard) -> None:
                if e.get("event") == "heard":
                    heard.append(float(e.get("audio_s") or 0.0))

            Session(dialog, s, clock, listener, NullSpeaker(), [sink]).run()
            virtual_s += clock.now()
            audio_s += sum(heard)
            turns += len(heard)
            sessions += 1
            samples.append({"virtual_min": round(virtual_s / 60, 2), "sessions": sessions,
                            "turns": turns, "wall_s": round(time.perf_counter() - t0, 2),
                            "rss_mb": round(_rss_mb(), 2)})
        passes += 1
    gc.collect()
    rss = [x["rss_mb"] for x in samples]
    half = samples[len(samples) // 2:]
    slope = 0.0
    if len(half) > 2:
        slope = float(np.polyfit([x["turns"] for x in half], [x["rss_mb"] for x in half], 1)[0])
    return {"virtual_minutes": round(virtual_s / 60, 1), "sessions": sessions, "turns": turns,
            "speech_decoded_min": round(audio_s / 60, 1), "passes": passes,
            "wall_s": round(time.perf_counter() - t0, 1), "scenarios": len(scenarios),
            "rss_first_mb": rss[0], "rss_max_mb": max(rss), "rss_last_mb": rss[-1],
            "rss_after_gc_mb": round(_rss_mb(), 2), "peak_mb": _peak_mb(),
            "second_half_slope_mb_per_1000_turns": round(1000 * slope, 3),
            "samples": samples}


# ---------------------------------------------------------------------------- the machine


def describe_machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and library versions, and the date."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram_gb = round(kb / 2**20, 1)
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    libs: dict[str, str | None] = {}
    for dist in ("vosk", "pocketsphinx", "pyttsx3", "webrtcvad-wheels", "numpy", "sounddevice",
                 "soxr", "transitions"):
        try:
            libs[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            libs[dist] = None
    espeak = shutil.which("espeak-ng")
    if espeak:
        out = subprocess.run([espeak, "--version"], capture_output=True, text=True, check=False)
        libs["espeak-ng"] = " ".join(out.stdout.split()[:4]) or None
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "os": os_name,
            "python": platform.python_version(), "libraries": libs, "commit": commit or None,
            "load_1min_start": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------------------- the command


def _progress(started: float, message: str) -> None:
    print(f"bench [{time.perf_counter() - started:3.0f} s] {message}", file=sys.stderr,
          flush=True)


def bench_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill bench`: measure every engine available and write the report into --out."""
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
        recognizer, why = _open(settings, engine)
        if recognizer is None:
            report["engines"][engine] = {"measured": False, "reason": why}
            _progress(started, f"{engine}: {why}")
            continue
        result: dict[str, Any] = {"measured": True, "name": recognizer.name}
        decodes = Decodes(settings, engine)
        try:
            files = _manifest(plan.voices, plan.clean_only)
            _progress(started, f"{engine}: red-flag \"yes\" fixtures")
            decodes.run(_red_flag_groups(dialog, files, "yes", plan.yes_every))
            _progress(started, f"{engine}: accuracy ({plan.accuracy_s:.0f} s)")
            result["accuracy"] = measure_accuracy(decodes, plan, plan.accuracy_s)
            _progress(started, f"{engine}: red-flag \"no\" fixtures")
            decodes.run(_red_flag_groups(dialog, files, "no", 1),
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
    (out / "benchmarks.md").write_text(render_markdown(report), encoding="utf-8")
    print(f"bench: wrote {out / 'benchmarks.md'} and {out / 'benchmarks.json'} "
          f"in {report['wall_s']:.0f} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- targets


def _bundled(report: dict[str, Any]) -> dict[str, Any] | None:
    e: dict[str, Any] | None = report["engines"].get("pocketsphinx")
    return e if e and e.get("measured") else None


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: measured value, met or missed (by how much), and why."""
    out: list[dict[str, Any]] = []
    b = _bundled(report)

    def add(name: str, value: Any, limit: str, met: bool | None, by: str, why: str) -> None:
        out.append({"target": name, "value": value, "limit": limit, "met": met, "by": by,
                    "why": why})

    for engine, e in report["engines"].items():
        if not e.get("measured"):
            continue
        cells = _get(e, "red_flags", "table", "yes") or {}
        worst = min((c["recall_pct"] for k, c in cells.items() if k != "all"), default=None)
        misses = e["red_flags"]["miss_count"]
        yes_misses = [m for m in e["red_flags"]["misses"] if m["verdict"] == "passed on"]
        add(f"red-flag \"yes\" recall, every voice and noise level ({engine})", worst, "100 %",
            None if worst is None else worst >= 100.0,
            "" if worst is None or worst >= 100 else f"{100 - worst:.1f} points",
            "" if not yes_misses else f"{len(yes_misses)} of the {misses} misses passed a yes on, "
            f"e.g. {yes_misses[0]['file']} in {yes_misses[0]['state']} heard as "
            f"{yes_misses[0]['heard']!r} -> {yes_misses[0]['intent']}")
    if b is None:
        return out
    cells = b["accuracy"]["table"]["grammar"]["cells"].get("all voices", {})
    confusions = b["accuracy"]["table"]["grammar"]["confusions"]
    why_acc = "most common errors: " + ", ".join(f"{c} ({n})" for c, n in confusions[:4])
    for noise, limit in (("clean", 97.0), ("10 dB", 90.0)):
        pct = _get(cells, noise, "pct")
        add(f"intent accuracy, {noise}, bundled engine", pct, f">= {limit:g} %",
            None if pct is None else pct >= limit,
            "" if pct is None or pct >= limit else f"{limit - pct:.1f} points short",
            "" if pct is None or pct >= limit else why_acc)
    speed = _get(b, "machine", "speed", "summary")
    if speed:
        med = speed["beyond_endpointing_s"]["median"]
        parts = {k: speed[k]["median"] or 0.0 for k in ("recognize_s", "dialogue_s",
                                                        "tts_first_audio_s")}
        top = max(parts, key=lambda k: parts[k])
        add("turn latency beyond the endpointing silence, median", med, "< 0.300 s",
            med < 0.3, "" if med < 0.3 else f"{1000 * (med - 0.3):.0f} ms over",
            f"largest part: {top.removesuffix('_s').replace('_', ' ')} "
            f"({1000 * parts[top]:.0f} ms median)")
    start = _get(b, "machine", "startup", "summary")
    if start and start["first_word_s"]["median"] is not None:
        med = start["first_word_s"]["median"]
        phases = {k: start[k]["median"] or 0.0 for k in (
            "interpreter_s", "imports_s", "dialog_s", "model_load_s", "greeting_first_audio_s")}
        top = max(phases, key=lambda k: phases[k])
        add("start-up to the first spoken word, median", med, "< 2 s", med < 2.0,
            "" if med < 2.0 else f"{med - 2.0:.2f} s over",
            f"largest phase: {top.removesuffix('_s').replace('_', ' ')} ({phases[top]:.2f} s)")
    session = _get(b, "machine", "session")
    worker = _get(b, "machine", "startup", "summary", "tts_worker_peak_mb", "max")
    if session and session.get("peak_mb") is not None:
        total = session["peak_mb"] + (worker or 0.0)
        add("peak memory of a full session, bundled engine (skill + speech worker)",
            round(total, 1), "< 200 MB", total < 200,
            "" if total < 200 else f"{total - 200:.0f} MB over",
            f"skill process {session['peak_mb']:.0f} MB + speech worker {worker or 0:.0f} MB "
            "(resident peaks added: shared library pages counted twice)")
    return out


# ---------------------------------------------------------------------------- the report


def _f(x: Any, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "-"
    if unit == "ms":
        return f"{1000 * x:.0f} ms"
    return f"{x:.{digits}f}{unit}"


def _acc_cell(cell: dict[str, Any] | None) -> str:
    return "-" if not cell else f"{cell['pct']:.1f} % ({cell['ok']}/{cell['n']})"


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report: every number with how it was measured."""
    m, st, plan = report["machine"], report["settings"], report["plan"]
    L: list[str] = ["# Benchmarks", ""]
    if plan["quick"]:
        L += ["> **Quick sample** (`--quick`): a smoke test on a fraction of the corpus, not the "
              "committed numbers.", ""]
    L += [f"Measured {m['date']} at commit `{m['commit']}` by `voice-skill bench` "
          f"in {report['wall_s']:.0f} s. Raw numbers: `benchmarks.json` beside this file.", ""]
    L += ["## Machine", "",
          f"- CPU: {m['cpu']}, {m['cores']} cores", f"- RAM: {m['ram_gb']} GB",
          f"- OS: {m['os']}", f"- Python {m['python']}",
          f"- Load average (1 minute) {m['load_1min_start']} at the start, "
          f"{m.get('load_1min_end')} at the end: anything else running on the machine competes "
          "with these measurements (each worker's load is in the JSON)",
          "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v),
          f"- Settings: end-of-speech silence {st['end_silence_s']} s "
          f"(decided after {st['endpoint_wait_s']:.2f} s of {st['frame_ms']} ms frames), "
          f"VAD mode {st['vad_aggressiveness']}, red-flag answers below confidence "
          f"{st['low_confidence']} are confirmed, {st['max_reprompts']} re-asks", ""]
    L += ["## How to reproduce", "",
          "```", "voice-skill bench            # the full run, this report (~10 minutes)",
          "voice-skill bench --quick    # a < 1 minute smoke test on a sample",
          "```", "",
          "Accuracy and red-flag recall are decoded by a pool of worker processes, one per core. "
          "Every timing and memory number comes from a fresh worker process "
          "(`python -m voice_skill.bench`), once on the whole machine and once under "
          "`taskset -c 0` (one core). Each part has a wall-time budget, so a slow recognizer "
          "gives a smaller, still balanced, sample; the sample sizes are given with the numbers.",
          ""]
    L += ["## Targets", "", "| target | measured | limit | verdict | why |",
          "|---|---|---|---|---|"]
    for t in report["targets"]:
        verdict = ("not measured" if t["met"] is None else "met" if t["met"]
                   else f"**missed** by {t['by']}")
        L.append(f"| {t['target']} | {t['value']} | {t['limit']} | {verdict} | {t['why']} |")
    L.append("")
    engines = report["engines"]
    for engine, e in engines.items():
        if not e.get("measured"):
            L += [f"- **{engine}**: {e['reason']}"]
    L.append("")
    L += _accuracy_md(engines, plan)
    L += _red_flag_md(engines)
    L += _speed_md(engines, "machine")
    L += _footprint_md(engines, "machine")
    L += _pi_md(engines)
    L += _closing_md(report)
    return "\n".join(L) + "\n"


def _accuracy_md(engines: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    L = ["## Accuracy", "",
         "How measured: each fixture WAV (`tests/fixtures/audio`, flite voices slt, kal16, awb "
         "and espeak-ng; noisy copies at 20 and 10 dB SNR for slt and kal16) is endpointed with "
         "the real VAD, recognized under the grammar of a state where its intent is an answer "
         "(yes/no/unsure and sentences that must not match: rf_bladder; pain: pain_start; "
         "ready: back_1; back/side: choose_position; cannot: can_move; global commands: "
         "rf_bladder), and the intent matcher's result is compared with the manifest (pain "
         "scores must match too). Free dictation: the same segment decoded with no grammar "
         "(phrases=None), matched the same way" + (
             f" (every {plan['free_every']}th phrase of the sample)." if plan["free_every"] > 1
             else "."), ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        a = e["accuracy"]
        t = a["table"]
        g, fr = t["grammar"]["cells"], t["free"]["cells"]
        L += [f"### {engine}: intent accuracy, per-state grammar vs free dictation", "",
              f"Sample: {a['phrases']} of the {a['phrases_total']} phrases (intents taken in "
              "turn), each in every voice and noise set it was recorded in, decoded in a "
              f"{a['budget_s']:.0f} s budget by {len(os.sched_getaffinity(0))} worker processes"
              + ("." if a["phrases"] < a["phrases_total"] else ": the whole corpus."), "",
              "| voice | " + " | ".join(f"{n} grammar | {n} free" for n in NOISE_LEVELS)
              + " | all grammar | all free |",
              "|---|" + "---|" * (2 * len(NOISE_LEVELS) + 2)]
        for voice in sorted(g, key=lambda v: (v == "all voices", v)):
            row = [voice]
            for n in (*NOISE_LEVELS, "all"):
                row += [_acc_cell(_get(g, voice, n)), _acc_cell(_get(fr, voice, n))]
            L.append("| " + " | ".join(row) + " |")
        gain_g, gain_f = _get(g, "all voices", "all", "pct"), _get(fr, "all voices", "all", "pct")
        L += ["", f"Gain from per-state grammars: {gain_g} % vs {gain_f} % with free dictation"
              + (f" ({gain_g - gain_f:+.1f} points)." if gain_g is not None and gain_f is not None
                 else "."),
              "Most common errors with grammars: " + (", ".join(
                  f"{c} ({n})" for c, n in t["grammar"]["confusions"]) or "none") + ".",
              "Real-time factor in this run (decode time / speech length, median): grammar "
              f"{_f(t['grammar']['rtf']['median'])}, free {_f(t['free']['rtf']['median'])}.", ""]
    return L


def _red_flag_md(engines: dict[str, Any]) -> list[str]:
    L = ["## Red-flag recall", "",
         "How measured: every \"yes\" fixture is answered to every emergency and urgent "
         "red-flag question, each in a fresh dialogue manager driven to that question with "
         "typed answers. Recalled: the skill escalated at once, asked to confirm, or re-asked "
         "(still on the question; a question left unclear ends in the safer \"yes\") - never "
         "passed on to the next question. False escalation: a \"no\" fixture that escalated "
         "at once. Re-ask rate: answers that led to a confirmation or re-ask.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        rf = e["red_flags"]
        tot = rf["fixtures_total"]
        n_yes = _get(rf, "table", "yes", "all", "n") or 0
        n_no = _get(rf, "table", "no", "all", "n") or 0
        L += [f"### {engine}", "", f"Questions: {', '.join(rf['states'])}. Answers: "
              f"{n_yes // max(1, len(rf['states']))} of the {tot['yes']} \"yes\" fixtures and "
              f"{n_no // max(1, len(rf['states']))} of the {tot['no']} \"no\" fixtures, each "
              "to every question.", "",
              "| voice / noise | \"yes\" answers | recall | escalated at once | confirmed "
              "| re-asked | passed on | \"no\" answers | false escalations | no re-asked |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        yes, no = rf["table"].get("yes", {}), rf["table"].get("no", {})
        for label in sorted(set(yes) | set(no), key=lambda k: (k == "all", k)):
            y, n = yes.get(label, {}), no.get(label, {})
            L.append(f"| {label} | {y.get('n', 0)} | **{y.get('recall_pct', '-')} %** | "
                     f"{y.get('escalated', 0)} | {y.get('confirm', 0)} | {y.get('re-ask', 0)} | "
                     f"{y.get('passed on', 0)} | {n.get('n', 0)} | "
                     f"{n.get('false_escalation_pct', '-')} % | {n.get('reask_pct', '-')} % |")
        L.append("")
        if rf["misses"]:
            L += ["Misses (first few): " + "; ".join(
                f"{x['file']} in {x['state']}: heard {x['heard']!r} -> {x['intent']} "
                f"({x['verdict']})" for x in rf["misses"][:6]), ""]
    return L


def _speed_rows(sp: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    s = sp["summary"]
    return [("endpointing (end silence + VAD frame)", s["endpointing_s"]),
            ("recognition", s["recognize_s"]), ("dialogue (match + manager)", s["dialogue_s"]),
            ("speech synthesis to first audio", s["tts_first_audio_s"]),
            ("**beyond endpointing**", s["beyond_endpointing_s"]),
            ("**end of speech to first audio**", s["total_s"])]


def _speed_md(engines: dict[str, Any], where: str) -> list[str]:
    L = ["## Speed", "",
         "How measured (worker process): for a spread of corpus files, the endpointing part is "
         "the configured end-of-speech wait (whole frames) plus the VAD compute of one frame; "
         "recognition is the recognizer's decode time for the segment under the state's "
         "grammar; dialogue is the intent matcher plus DialogueManager.handle; speech synthesis "
         "is Pyttsx3Speaker.last_first_audio_s for the reply's first sentence (real espeak-ng, "
         "audio played to the device named below, then cut short). Real-time factor: decode "
         "time / speech length. Start-up: a fresh `python` process doing what `voice-skill run` "
         "does (imports, load the dialogue, start the speech worker, open the recognizer, say "
         "the greeting), from spawn to the greeting's first audio. Model load: opening the "
         "recognizer in that process.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        sp, su = _get(e, where, "speed"), _get(e, where, "startup")
        L += [f"### {engine}", ""]
        if sp and "summary" in sp:
            L += [f"Turn latency over {sp['summary']['recognize_s']['n']} turns; speech out: "
                  f"{sp['tts_how']}.", "", "| part | median | p95 |", "|---|---|---|"]
            L += [f"| {name} | {_f(v['median'], 'ms')} | {_f(v['p95'], 'ms')} |"
                  for name, v in _speed_rows(sp)]
            rtf = sp["summary"]["rtf"]
            L += ["", f"Real-time factor of recognition: median {_f(rtf['median'])}, p95 "
                  f"{_f(rtf['p95'])}.", ""]
        elif sp:
            L += [f"Turn latency: {sp.get('error')}", ""]
        if su and "summary" in su:
            s = su["summary"]
            L += [f"Start-up over {s['first_word_s']['n']} fresh processes (median):", "",
                  "| phase | median |", "|---|---|"]
            for key, name in (("interpreter_s", "Python start"), ("imports_s", "imports"),
                              ("dialog_s", "load the dialogue"),
                              ("model_load_s", "model load (open the recognizer)"),
                              ("tts_engine_ready_s", "speech worker ready (in parallel)"),
                              ("greeting_first_audio_s", "greeting: say() to first audio"),
                              ("first_word_s", "**spawn to the first spoken word**")):
                L.append(f"| {name} | {_f(s[key]['median'], ' s', 2)} |")
            L.append("")
        elif su:
            L += [f"Start-up: {su.get('error')}", ""]
    return L


def _footprint_md(engines: dict[str, Any], where: str) -> list[str]:
    L = ["## Footprint", "",
         "How measured: peak resident memory of a worker process that replays the "
         "happy_path_ice scenario (a full session, real decoding, speech to a null speaker), "
         "read from the kernel's VmHWM: getrusage's ru_maxrss would do, but on Linux it keeps "
         "the parent's peak across fork and exec, so a worker started by the big bench process "
         "reports the bench's size (the raw value is in the JSON). The speech worker's own peak "
         "is read the same way in the start-up runs, after it has spoken the greeting. "
         "Soak: every scenario looped on virtual clocks with real audio decoding, resident "
         "memory (/proc/self/statm) sampled after each session.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        se, so = _get(e, where, "session"), _get(e, where, "soak")
        worker = _get(e, where, "startup", "summary", "tts_worker_peak_mb", "max")
        L += [f"### {engine}", ""]
        if se and "peak_mb" in se:
            L += [f"- Full session (happy_path_ice, {'passed' if se['passed'] else 'FAILED'}, "
                  f"{se['wall_s']} s wall): peak {se['peak_mb']} MB in the skill process "
                  f"({se['peak_before_mb']} MB after the imports); speech worker peak "
                  f"{worker} MB."]
        if so and "samples" in so:
            L += [f"- Soak: {so['virtual_minutes']} virtual minutes, {so['sessions']} sessions, "
                  f"{so['turns']} decoded turns ({so['speech_decoded_min']} minutes of speech), "
                  f"{so['wall_s']} s wall. Resident memory: {so['rss_first_mb']} MB after the "
                  f"first session, max {so['rss_max_mb']} MB, {so['rss_last_mb']} MB at the end; "
                  f"trend over the second half {so['second_half_slope_mb_per_1000_turns']:+.2f} "
                  "MB per 1000 turns.", "",
                  "| virtual minutes | sessions | turns | RSS (MB) |", "|---|---|---|---|"]
            samples = so["samples"]
            step = max(1, len(samples) // 8)
            for x in [*samples[::step], samples[-1]][:10]:
                L.append(f"| {x['virtual_min']} | {x['sessions']} | {x['turns']} | "
                         f"{x['rss_mb']} |")
        for part in (se, so):
            if part and "error" in part:
                L.append(f"- {part['error']}")
        L.append("")
    return L


def _pi_md(engines: dict[str, Any]) -> list[str]:
    L = ["## Raspberry-Pi-like run", "",
         "The same workers confined to one CPU core (`taskset -c 0`; the speech worker inherits "
         "it). This machine's core is much faster than a Raspberry Pi's, so this shows what "
         "one core costs, not a Pi's absolute speed.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        L += [f"### {engine}", "", "| measure | whole machine | one core |", "|---|---|---|"]

        def val(where: str, *path: str, unit: str = "ms", e: dict[str, Any] = e) -> str:
            x = _get(e, where, *path)
            return _f(x, unit, 2) if unit != "MB" else ("-" if x is None else f"{x} MB")

        rows = [("turn: beyond endpointing, median", ("speed", "summary",
                                                      "beyond_endpointing_s", "median"), "ms"),
                ("turn: beyond endpointing, p95", ("speed", "summary", "beyond_endpointing_s",
                                                   "p95"), "ms"),
                ("turn: recognition, median", ("speed", "summary", "recognize_s", "median"), "ms"),
                ("turn: speech synthesis, median", ("speed", "summary", "tts_first_audio_s",
                                                    "median"), "ms"),
                ("real-time factor, median", ("speed", "summary", "rtf", "median"), ""),
                ("start-up to first word, median", ("startup", "summary", "first_word_s",
                                                    "median"), " s"),
                ("model load, median", ("startup", "summary", "model_load_s", "median"), " s"),
                ("peak memory, full session (skill process)", ("session", "peak_mb"), "MB"),
                ("peak memory, speech worker", ("startup", "summary", "tts_worker_peak_mb",
                                                "max"), "MB"),
                ("soak: RSS at the end", ("soak", "rss_last_mb"), "MB"),
                ("soak: wall time", ("soak", "wall_s"), " s")]
        for name, path, unit in rows:
            L.append(f"| {name} | {val('machine', *path, unit=unit)} | "
                     f"{val('one_core', *path, unit=unit)} |")
        L.append("")
    return L


def _closing_md(report: dict[str, Any]) -> list[str]:
    L = ["## Closing note", ""]
    b = _bundled(report)
    sp = _get(b, "machine", "speed", "summary")
    missed = [t for t in report["targets"] if t["met"] is False]
    L.append("Targets missed: " + ("none." if not missed else "; ".join(
        f"{t['target']} (by {t['by']})" for t in missed) + "."))
    if sp:
        parts = {"the end-of-speech silence": sp["endpointing_s"]["median"],
                 "recognition": sp["recognize_s"]["median"],
                 "speech synthesis to first audio": sp["tts_first_audio_s"]["median"],
                 "the dialogue": sp["dialogue_s"]["median"]}
        ranked = sorted(((v or 0.0, k) for k, v in parts.items()), reverse=True)
        (c1, n1), (c2, n2) = ranked[0], ranked[1]
        L += ["", f"Biggest remaining cost: {n1} ({1000 * c1:.0f} ms of every turn at the "
              f"median), then {n2} ({1000 * c2:.0f} ms)."]
    return [*L, ""]


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
