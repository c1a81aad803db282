"""Timed and sized measurements, each in a fresh process
(`.venv/bin/python -m voice_skill.dev.bench.workers`, started by `voice-skill bench`)."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.clock import VirtualClock
from voice_skill.dev.bench.corpus import (
    drive_to,
    endpoint,
    endpoint_wait_s,
    fixture_manifest,
    open_engine,
    state_for,
)
from voice_skill.dev.bench.plan import (
    FIXTURES,
    REPO,
    SCENARIOS,
    Plan,
    settings_from_json,
    settings_json,
    summarize,
)
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.events import Recognized, Reply, SessionEvent
from voice_skill.hearing.audio import read_wav
from voice_skill.settings import Settings


def run_worker(kind: str, engine: str, settings: Settings, plan: Plan,
               one_core: bool) -> dict[str, Any]:
    """Run a measuring worker in a fresh Python process (on one core if asked); its JSON."""
    cmd = [sys.executable, "-m", "voice_skill.dev.bench.workers", kind, engine, settings_json(settings),
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
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"worker {kind} took over 900 s (a loaded machine?)",
                "load_before": round(load_before, 2)}
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
    settings = settings_from_json(settings_text)
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
    so a worker started by a big process reports the parent's size: see peak_mb."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of one process as the kernel tracks it (VmHWM, MB)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)
    return None


def speech_worker_peak_mb() -> float | None:
    """Peak memory of this process's pyttsx3 worker (a multiprocessing child), while it runs."""
    me = os.getpid()
    with contextlib.suppress(OSError):
        for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return peak_mb(pid)
    return None


@contextlib.contextmanager
def audio_output() -> Iterator[str]:
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
    from voice_skill.speaking.tts import Pyttsx3Speaker, WavSpeaker

    dialog = load_dialog(settings.dialog_path)
    recognizer, why = open_engine(settings, engine)
    if recognizer is None:
        return {"error": why}
    files = fixture_manifest()
    # A spread of voices, noise levels and phrases: every k-th file of the sorted corpus.
    names = sorted(files)
    step = max(1, len(names) // plan.latency_turns)
    chosen = names[::step][: plan.latency_turns]
    deadline = time.perf_counter() + plan.speed_s
    matcher = IntentMatcher(dialog)
    turns: list[dict[str, Any]] = []
    with audio_output() as device, tempfile.TemporaryDirectory() as tmp:
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
            state = state_for(meta["intent"])
            segment, vad_s, frames = endpoint(read_wav(FIXTURES / rel), settings)
            if segment is None:
                continue
            u = recognizer.recognize(segment, matcher.grammar(state), dialog.question(state))
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
            "summary": {k: summarize(v) for k, v in split.items()}, "turns": turns}


def _work_startup(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Start-up to the first spoken word, several fresh processes; each phase timed."""
    runs: list[dict[str, Any]] = []
    for _ in range(plan.startup_runs):
        env = dict(os.environ, VOICE_SKILL_BENCH_SPAWNED=repr(time.time()))
        try:
            proc = subprocess.run([sys.executable, "-m", "voice_skill.dev.bench.startup",
                                   settings_json(settings), engine], capture_output=True,
                                  text=True, env=env, timeout=300, check=False)
        except subprocess.TimeoutExpired:  # named in the report, never a crash of the bench
            return {"error": "a start-up run took over 300 s (a loaded machine?)"}
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"start-up run exited {proc.returncode}: {tail}"}
        runs.append(json.loads(lines[-1]))
    keys = ("interpreter_s", "imports_s", "dialog_s", "model_load_s", "tts_engine_ready_s",
            "greeting_first_audio_s", "first_word_s", "peak_mb", "tts_worker_peak_mb")
    return {"runs": runs, "device": runs[0]["device"],
            "summary": {k: summarize([r[k] for r in runs if r.get(k) is not None]) for k in keys}}


def _work_session(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Peak resident memory of this process over one full replayed session."""
    from voice_skill.front.replay import run_scenario
    from voice_skill.front.scenario import load_scenario
    from voice_skill.speaking.tts import NullSpeaker

    before = peak_mb()
    dialog = load_dialog(settings.dialog_path)
    scenario = load_scenario(SCENARIOS / plan.session_scenario / "scenario.yaml", dialog,
                             settings.no_input_timeout_s)
    t0 = time.perf_counter()
    result = run_scenario(scenario, settings, dialog, engine, NullSpeaker())
    return {"scenario": plan.session_scenario, "passed": result.passed,
            "failures": result.failures[:5], "wall_s": round(time.perf_counter() - t0, 2),
            "peak_before_mb": before, "peak_mb": peak_mb(), "rss_end_mb": round(_rss_mb(), 1),
            "getrusage_maxrss_mb": _maxrss_mb()}


def _work_soak(engine: str, settings: Settings, plan: Plan) -> dict[str, Any]:
    """Loop every scenario on virtual clocks with real decoding; sample RSS after each one."""
    from voice_skill.front.replay import ScenarioListener
    from voice_skill.front.scenario import load_scenario
    from voice_skill.hearing.recognizers import recognizer_for
    from voice_skill.session import Session
    from voice_skill.speaking.tts import NullSpeaker

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
            listener = ScenarioListener(scenario.turns, s, clock, recognizer, IntentMatcher(dialog))
            heard: list[float] = []

            def sink(e: SessionEvent, heard: list[float] = heard) -> None:
                if isinstance(e, Recognized):
                    heard.append(e.utterance.audio_s)

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
            "rss_after_gc_mb": round(_rss_mb(), 2), "peak_mb": peak_mb(),
            "second_half_slope_mb_per_1000_turns": round(1000 * slope, 3),
            "samples": samples}


WORKER_USAGE = ("usage: .venv/bin/python -m voice_skill.dev.bench.workers KIND ENGINE SETTINGS_JSON "
                "PLAN_JSON\n"
                "A measuring process that `voice-skill bench` starts for itself (KIND: speed, "
                "startup, session or soak);\nnot for running by hand: run `.venv/bin/voice-skill "
                "bench` (see its --help).")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] in ("-h", "--help"):
        print(WORKER_USAGE, file=sys.stdout if sys.argv[1:2] in (["-h"], ["--help"]) else sys.stderr)
        sys.exit(0 if sys.argv[1:2] in (["-h"], ["--help"]) else 2)
    sys.exit(_worker_main(sys.argv[1:]))
