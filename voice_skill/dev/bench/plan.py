"""How much to measure, where the corpus is, and settings passed to worker processes."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path
from typing import Any

from voice_skill.dialogue.intents import NO_MATCH
from voice_skill.settings import Settings

REPO = Path(__file__).resolve().parents[3]
"""the repository checkout: the benchmark is a developer tool and needs its tests/ corpus"""


FIXTURES = REPO / "tests" / "fixtures" / "audio"


SCENARIOS = REPO / "tests" / "scenarios"


ENGINES = ("whisper", "vosk", "pocketsphinx")
"""in the order `auto` prefers them, when installed"""


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
        """The full plan, or the quick smoke-test sample."""
        if quick:
            return Plan(True, accuracy_s=6, free_every=4, yes_every=26, no_s=0, latency_turns=3,
                        speed_s=6, startup_runs=1, session_scenario="red_flag_bladder",
                        soak_minutes=min(soak_minutes, 0.1), soak_min_passes=1, soak_s=4,
                        soak_scenarios=("red_flag_bladder",), voices=("slt",),
                        clean_only=True)
        return Plan(False, accuracy_s=150, free_every=3, yes_every=1, no_s=45, latency_turns=40,
                    speed_s=50, startup_runs=3, session_scenario="happy_path_ice",
                    soak_minutes=max(soak_minutes, 30.0), soak_min_passes=2, soak_s=60)


def percent(ok: int, n: int) -> float | None:
    """ok out of n as a percentage with one decimal (None for n = 0)."""
    return round(100.0 * ok / n, 1) if n else None


def summarize(xs: list[float]) -> dict[str, Any]:
    """Median, 95th percentile, mean and count of a list of seconds (or ratios)."""
    if not xs:
        return {"n": 0, "median": None, "p95": None, "mean": None, "max": None}
    s = sorted(xs)
    p95 = s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]
    return {"n": len(s), "median": round(statistics.median(s), 4), "p95": round(p95, 4),
            "mean": round(statistics.fmean(s), 4), "max": round(s[-1], 4)}


def settings_json(settings: Settings) -> str:
    """Settings as JSON, to hand to a worker process."""
    raw = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)}
    return json.dumps(raw, default=lambda v: str(v) if isinstance(v, Path) else list(v))


def settings_from_json(text: str) -> Settings:
    """Settings back from `settings_json`."""
    raw: dict[str, Any] = json.loads(text)
    for key in ("dialog_path", "vosk_model_path", "log_dir"):
        if raw.get(key) is not None:
            raw[key] = Path(raw[key])
    raw["notify_command"] = tuple(raw.get("notify_command") or ())
    return Settings(**raw)
