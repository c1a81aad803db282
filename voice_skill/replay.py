"""Replay recorded-audio scenarios through the whole pipeline on a virtual clock; `recognize` WAVs."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_skill.audio import WavSource, read_wav, silence
from voice_skill.clock import VirtualClock
from voice_skill.dialog import Dialog, load_dialog
from voice_skill.endpointing import Endpointer
from voice_skill.errors import VoiceSkillError
from voice_skill.intents import IntentMatcher
from voice_skill.recognizers import recognizer_for
from voice_skill.scenario import Scenario, Turn, load_scenario
from voice_skill.session import EndOfInput, Heard, Session
from voice_skill.settings import Settings
from voice_skill.tts import NullSpeaker, Speaker, WavSpeaker

FRAME_S = 0.03
"""less listening time than one audio frame is no time to start a recording in"""
if TYPE_CHECKING:
    from voice_skill.recognizers import Recognizer

class ScenarioListener:
    """Plays a scenario's turns as audio, keeping the virtual clock in step with the audio."""

    def __init__(self, turns: tuple[Turn, ...], settings: Settings, clock: VirtualClock,
                 recognizer: Recognizer) -> None:
        self.turns, self.settings, self.clock = turns, settings, clock
        self.recognizer = recognizer
        self.endpointer = Endpointer(settings)
        self.no_input_timeout_s: float | None = settings.no_input_timeout_s
        self.turn = -1
        """index of the turn being played (-1 before the first)"""
        self._silence_left = 0.0
        self._trailing = np.zeros(0, np.int16)

    def listen(self, state: str, phrases: tuple[str, ...], timeout_s: float | None,
               hint: str = "") -> Heard:
        left = math.inf if timeout_s is None else timeout_s
        while True:
            if self._silence_left <= 0:
                if self.turn + 1 >= len(self.turns):
                    raise EndOfInput
                if left < FRAME_S:
                    return Heard()  # a timer is due: the next turn waits for it
                self.turn += 1
                turn = self.turns[self.turn]
                if turn.audio is not None:
                    return self._say(turn.audio, phrases, left, hint)
                self._silence_left = turn.silence_s
            step = min(self._silence_left, left)
            self.clock.advance(step)
            self._silence_left -= step
            left -= step
            if left <= 0:
                return Heard()  # the listen timed out: no input, or a timer is due

    def _say(self, path: Path, phrases: tuple[str, ...], left: float, hint: str) -> Heard:
        # Trailing silence lets the endpointer hear the end of speech as it would live.
        tail = silence(self.settings.end_silence_s + 0.3)
        source = WavSource(np.concatenate([read_wav(path), tail]), self.settings)
        segment = self.endpointer.listen(source, left)
        self.clock.advance(source.position_s)
        if segment is None:
            return Heard(empty=True)  # a recording with no speech in it
        return Heard(self.recognizer.recognize(segment.audio, phrases, hint),
                     ended_at=segment.ended_at)


@dataclass
class ReplayResult:
    """What happened in a replay, and which expectations failed."""

    scenario: Scenario
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    outcome: str = ""
    level: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def transcript(self) -> str:
        """The conversation as a person would read it: said, heard, decided."""
        lines = []
        for turn, e in self.entries:
            ev = e["event"]
            if ev == "said":
                lines.append(f"  skill [{e['state']}]: {e['text']}")
            elif ev == "heard":
                label = self.scenario.turns[turn].label if turn >= 0 else "?"
                lines.append(f"  turn {turn + 1} ({label}) heard: {e['text']!r}"
                             f" (confidence {e['confidence']:.2f})")
            elif ev == "intent":
                value = f"={e['value']}" if e.get("value") is not None else ""
                lines.append(f"      -> intent {e['name']}{value}")
            elif ev == "no_input":
                lines.append(f"  turn {turn + 1}: no input")
            elif ev == "escalated":
                lines.append(f"  ** ESCALATED {e['level'].upper()}: {e['reason']}")
            elif ev == "ended":
                lines.append(f"  end: {e['outcome']}" + (f" ({e['level']})" if e["level"] else ""))
        return "\n".join(lines)


def run_scenario(scenario: Scenario, settings: Settings, dialog: Dialog,
                 engine: str | None = None, speaker: Speaker | None = None) -> ReplayResult:
    """Play the scenario through the whole pipeline and check its expectations."""
    settings = settings.replace(log_enabled=False, **scenario.settings)
    clock = VirtualClock()
    recognizer = recognizer_for(settings, engine or scenario.engine)
    listener = ScenarioListener(scenario.turns, settings, clock, recognizer)
    result = ReplayResult(scenario)
    session = Session(dialog, settings, clock, listener, speaker or NullSpeaker(),
                      [lambda e: result.entries.append((listener.turn, e))])
    ended = session.run()
    result.outcome, result.level = ended.outcome, ended.level
    result.failures = _check(scenario, result)
    return result


def _check(sc: Scenario, r: ReplayResult) -> list[str]:
    failures = []
    for i, turn in enumerate(sc.turns):
        ex, mine = turn.expect, [e for t, e in r.entries if t == i]
        where = f"{sc.path}:{turn.line}: turn {i + 1} ({turn.label})"
        heard = next((e for e in mine if e["event"] == "heard"), None)
        intent = next((e for e in mine if e["event"] == "intent"), None)
        got = (f"heard {heard['text']!r} (confidence {heard['confidence']:.2f}) -> intent "
               f"{intent['name'] if intent else '-'}") if heard else "heard nothing"
        state = intent["state"] if intent else next(
            (e["state"] for e in mine if e["event"] == "no_input"), None)
        if ex.state and state != ex.state:
            failures.append(f"{where}: expected to be in state {ex.state}, was in {state}; {got}")
        if ex.intent and (intent is None or intent["name"] != ex.intent):
            failures.append(f"{where}: expected intent {ex.intent}, {got}")
        if ex.value is not None and (intent is None or intent.get("value") != ex.value):
            failures.append(f"{where}: expected value {ex.value}, {got}"
                            f" (value {intent.get('value') if intent else None})")
        said = [e for e in mine if e["event"] == "said"]
        for want in ex.reply:
            if not any(_says(e, want) for e in said):
                failures.append(f"{where}: expected the reply {want!r}; {got}; the skill said: "
                                + (" / ".join(e["text"] for e in said) or "nothing"))
        if ex.escalation and not any(e["event"] == "escalated" and e["level"] == ex.escalation
                                     for e in mine):
            failures.append(f"{where}: expected a {ex.escalation} escalation; {got}")
    if sc.outcome and r.outcome != sc.outcome:
        failures.append(f"{sc.path}: expected outcome {sc.outcome}, got {r.outcome}")
    if sc.level and (r.level or "none") != sc.level:
        failures.append(f"{sc.path}: expected level {sc.level}, got {r.level or 'none'}")
    all_said = [e for _, e in r.entries if e["event"] == "said"]
    for want in sc.said:
        if not any(_says(e, want) for e in all_said):
            failures.append(f"{sc.path}: expected the skill to say {want!r} at some point")
    return failures


def _says(entry: dict[str, Any], want: str) -> bool:
    return entry["key"] == want or want in entry["text"]


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill replay SCENARIO`: print the transcript; exit 0 when every expectation held."""
    dialog = load_dialog(settings.dialog_path)
    scenario = load_scenario(args.scenario, dialog, settings.no_input_timeout_s)
    speaker = WavSpeaker(args.speak_to, settings) if args.speak_to else None
    result = run_scenario(scenario, settings, dialog, args.engine, speaker)
    if args.json:
        for turn, e in result.entries:
            print(json.dumps({"turn": turn + 1, **e}, ensure_ascii=False, default=str))
        print(json.dumps({"event": "result", "passed": result.passed,
                          "failures": result.failures}))
    else:
        print(result.transcript())
        for f in result.failures:
            print(f"FAIL {f}", file=sys.stderr)
        print(("PASS" if result.passed else "FAIL") + f" {scenario.path}")
    return 0 if result.passed else 1


def recognize_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill recognize --state S WAV...`: one JSON object per file."""
    dialog = load_dialog(settings.dialog_path)
    if args.state not in dialog.states:
        raise VoiceSkillError(f"unknown state {args.state!r} (see: voice-skill dialog states)")
    matcher = IntentMatcher(dialog)
    recognizer = recognizer_for(settings, args.engine,
                                lambda m: print(m, file=sys.stderr))
    phrases = None if args.free else matcher.grammar(args.state)
    status = 0
    for wav in args.wavs:
        try:
            audio = read_wav(wav)
        except VoiceSkillError as exc:
            print(json.dumps({"file": str(wav), "error": str(exc)}), flush=True)
            status = 1
            continue
        segment = Endpointer(settings).listen(WavSource(np.concatenate(
            [audio, silence(settings.end_silence_s + 0.3)]), settings), math.inf)
        u = recognizer.recognize(segment.audio if segment else audio, phrases,
                                 "" if args.free else dialog.question(args.state))
        intent = matcher.match(u.text, args.state, u.confidence)
        print(json.dumps({"file": str(wav), "text": u.text, "intent": intent.name,
                          "value": intent.value, "confidence": round(u.confidence, 3),
                          "engine": recognizer.name}), flush=True)
    return status
