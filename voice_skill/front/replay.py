"""Replay recorded-audio scenarios through the whole pipeline on a virtual clock; `recognize` WAVs."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import ModelError, VoiceSkillError
from voice_skill.events import (
    Escalated,
    Recognized,
    Reply,
    SessionEnded,
    SessionEvent,
    Unanswered,
    Understood,
)
from voice_skill.front.scenario import Scenario, Turn, load_scenario
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, frame_samples_for, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.listening import EndOfInput, Heard
from voice_skill.hearing.recognizers import recognizer_for
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import AudioListener, hear_recording
from voice_skill.session import Session
from voice_skill.session_log import record
from voice_skill.settings import Settings
from voice_skill.speaking.tts import NullSpeaker, Speaker, WavSpeaker

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

FRAME_S = 0.03
"""less listening time than one audio frame is no time to start a recording in"""


class ScenarioAudio:
    """A scenario's recordings as the microphone would deliver them, on a virtual clock.

    A recording is played when the skill listens (nothing is heard while it speaks), followed
    by the quiet that ends a turn; each frame read moves the clock on by its length.
    """

    def __init__(self, settings: Settings, clock: VirtualClock) -> None:
        self.frame_samples = frame_samples_for(settings.frame_ms)
        self.clock = clock
        self.read_samples = 0
        """the stream position: samples read, and the quiet and replies in between"""
        self._tail = silence(max(settings.end_silence_s, settings.patient_end_silence_s) + 0.3)
        self._audio = np.zeros(0, np.int16)
        self._pos = 0

    def play(self, recording: np.ndarray) -> None:
        """Start a new answer: the skill's reply lies between it and the last one."""
        self.read_samples += REPLY_GAP_SAMPLES
        self._audio, self._pos = np.concatenate([recording, self._tail]), 0

    def wait(self, seconds: float) -> None:
        """Quiet passes (a silent turn): the clock and the stream move on."""
        self.clock.advance(seconds)
        self.read_samples += round(seconds * PIPELINE_RATE_HZ)

    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The next frame of the recording; None once it and its quiet are over."""
        if self._pos >= len(self._audio):
            return None
        frame = self._audio[self._pos: self._pos + self.frame_samples]
        self._pos += self.frame_samples
        self.read_samples += self.frame_samples
        self.clock.advance(self.frame_samples / PIPELINE_RATE_HZ)
        if len(frame) < self.frame_samples:
            frame = np.concatenate([frame, np.zeros(self.frame_samples - len(frame), np.int16)])
        return frame

    def flush(self) -> None:
        """Nothing to discard: nothing is played while the skill speaks."""

    def close(self) -> None:
        """Nothing to release."""


REPLY_GAP_SAMPLES = 2 * PIPELINE_RATE_HZ
"""stream time between two answers (the skill's reply takes no virtual time): more than the
silence within which speech counts as the rest of the last answer"""


class ScenarioListener:
    """Plays a scenario's turns to the microphone path's listener, on a virtual clock."""

    def __init__(self, turns: tuple[Turn, ...], settings: Settings, clock: VirtualClock,
                 recognizer: Recognizer, matcher: IntentMatcher) -> None:
        self.turns, self.clock = turns, clock
        self.audio = ScenarioAudio(settings, clock)
        self.hearing = AudioListener(self.audio, Endpointer(settings), recognizer,
                                     settings.no_input_timeout_s, announce=lambda _: None,
                                     judge=TurnJudge(recognizer, matcher, settings))
        self.no_input_timeout_s: float | None = settings.no_input_timeout_s
        self.turn = -1
        """index of the turn being played (-1 before the first)"""
        self._silence_left = 0.0

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        """The next turn's answer: a recording heard as the microphone hears it, or quiet."""
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
                    self.audio.play(read_wav(turn.audio))
                    heard = self.hearing.listen(state, phrases, left, hint)
                    # a recording with no speech in it is an answer of nothing
                    return heard if heard.utterance is not None else Heard(empty=True)
                self._silence_left = turn.silence_s
            step = min(self._silence_left, left)
            self.audio.wait(step)
            self._silence_left -= step
            left -= step
            if left <= 0:
                return Heard()  # the listen timed out: no input, or a timer is due


@dataclass
class ReplayResult:
    """What happened in a replay, and which expectations failed."""

    scenario: Scenario
    events: list[tuple[int, SessionEvent]] = field(default_factory=list)
    """each event with the index of the turn being played when it happened"""
    failures: list[str] = field(default_factory=list)
    outcome: str = ""
    level: str | None = None

    @property
    def passed(self) -> bool:
        """Every expectation held."""
        return not self.failures

    def transcript(self) -> str:
        """The conversation as a person would read it: said, heard, decided."""
        lines = []
        for turn, e in self.events:
            if isinstance(e, Reply):
                lines.append(f"  skill [{e.state}]: {e.text}")
            elif isinstance(e, Recognized):
                label = self.scenario.turns[turn].label if turn >= 0 else "?"
                lines.append(f"  turn {turn + 1} ({label}) heard: {e.utterance.text!r}"
                             f" (confidence {e.utterance.confidence:.2f})")
            elif isinstance(e, Understood):
                value = f"={e.intent.value}" if e.intent.value is not None else ""
                lines.append(f"      -> intent {e.intent.name}{value}")
            elif isinstance(e, Unanswered):
                lines.append(f"  turn {turn + 1}: no input")
            elif isinstance(e, Escalated):
                lines.append(f"  ** ESCALATED {e.level.upper()}: {e.reason}")
            elif isinstance(e, SessionEnded):
                lines.append(f"  end: {e.outcome}" + (f" ({e.level})" if e.level else ""))
        return "\n".join(lines)


def run_scenario(scenario: Scenario, settings: Settings, dialog: Dialog,
                 engine: str | None = None, speaker: Speaker | None = None) -> ReplayResult:
    """Play the scenario through the whole pipeline and check its expectations."""
    settings = settings.replace(**{**scenario.settings, "log_enabled": False})
    clock = VirtualClock()
    recognizer = recognizer_for(settings, engine or scenario.engine)
    listener = ScenarioListener(scenario.turns, settings, clock, recognizer,
                                IntentMatcher(dialog, settings.emergency_number))
    result = ReplayResult(scenario)
    session = Session(dialog, settings, clock, listener, speaker or NullSpeaker(),
                      [lambda e: result.events.append((listener.turn, e))])
    ended = session.run()
    result.outcome, result.level = ended.outcome, ended.level
    result.failures = _check(scenario, result)
    return result


def _check(sc: Scenario, r: ReplayResult) -> list[str]:
    failures = []
    for i, turn in enumerate(sc.turns):
        ex, mine = turn.expect, [e for t, e in r.events if t == i]
        where = f"{sc.path}:{turn.line}: turn {i + 1} ({turn.label})"
        heard = next((e.utterance for e in mine if isinstance(e, Recognized)), None)
        understood = next((e for e in mine if isinstance(e, Understood)), None)
        intent = understood.intent if understood else None
        got = (f"heard {heard.text!r} (confidence {heard.confidence:.2f}) -> intent "
               f"{intent.name if intent else '-'}") if heard else "heard nothing"
        state = understood.state if understood else next(
            (e.state for e in mine if isinstance(e, Unanswered)), None)
        if ex.state and state != ex.state:
            failures.append(f"{where}: expected to be in state {ex.state}, was in {state}; {got}")
        if ex.intent and (intent is None or intent.name != ex.intent):
            failures.append(f"{where}: expected intent {ex.intent}, {got}")
        if ex.value is not None and (intent is None or intent.value != ex.value):
            failures.append(f"{where}: expected value {ex.value}, {got}"
                            f" (value {intent.value if intent else None})")
        said = [e for e in mine if isinstance(e, Reply)]
        for want in ex.reply:
            if not any(_says(e, want) for e in said):
                failures.append(f"{where}: expected the reply {want!r}; {got}; the skill said: "
                                + (" / ".join(e.text for e in said) or "nothing"))
        if ex.escalation and not any(isinstance(e, Escalated) and e.level == ex.escalation
                                     for e in mine):
            failures.append(f"{where}: expected a {ex.escalation} escalation; {got}")
    if sc.outcome and r.outcome != sc.outcome:
        failures.append(f"{sc.path}: expected outcome {sc.outcome}, got {r.outcome}")
    if sc.level and (r.level or "none") != sc.level:
        failures.append(f"{sc.path}: expected level {sc.level}, got {r.level or 'none'}")
    all_said = [e for _, e in r.events if isinstance(e, Reply)]
    for want in sc.said:
        if not any(_says(e, want) for e in all_said):
            failures.append(f"{sc.path}: expected the skill to say {want!r} at some point")
    return failures


def _says(reply: Reply, want: str) -> bool:
    return reply.key == want or want in reply.text


EXIT_SKIPPED = 77
"""`voice-skill replay` of a scenario whose engine is not installed (the Vosk model): skipped,
as the test suite skips it (77: the usual exit status of a skipped test)"""


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill replay SCENARIO`: print the transcript; exit 0 when every expectation held."""
    dialog = load_dialog(settings.dialog_path)
    scenario = load_scenario(args.scenario, dialog, settings.no_input_timeout_s)
    speaker = WavSpeaker(args.speak_to, settings) if args.speak_to else None
    try:
        result = run_scenario(scenario, settings, dialog, args.engine, speaker)
    except ModelError:
        if (args.engine or scenario.engine) != "vosk":
            raise
        # as the test suite does: a scenario for an engine whose model is not here is skipped
        why = ("it needs the Vosk English model, which is not installed (get it with "
               "`voice-skill models download`, or set VOSK_MODEL_PATH)")
        if args.json:
            print(json.dumps({"event": "result", "skipped": True, "reason": why}))
        else:
            print(f"SKIP {scenario.path}: {why}")
        return EXIT_SKIPPED
    if args.json:
        for turn, e in result.events:
            print(json.dumps({"turn": turn + 1, **record(e)}, ensure_ascii=False, default=str))
        print(json.dumps({"event": "result", "passed": result.passed,
                          "failures": result.failures}))
    else:
        print(result.transcript())
        if result.passed:
            print(f"PASS {scenario.path}")
        else:
            print(f"FAIL {scenario.path}: {len(result.failures)} expectation"
                  f"{'' if len(result.failures) == 1 else 's'} not met")
            for f in result.failures:
                print(f"  - {f}")
    return 0 if result.passed else 1


def recognize_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill recognize --state S WAV...`: one JSON object per file."""
    dialog = load_dialog(settings.dialog_path)
    if args.state not in dialog.states:
        raise VoiceSkillError(f"unknown state {args.state!r} (see: voice-skill dialog states)")
    matcher = IntentMatcher(dialog, settings.emergency_number)
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
        heard = hear_recording(audio, settings, recognizer, args.state, phrases,
                               "" if args.free else dialog.question(args.state))
        # no speech found: the recognizer still gets the file (a very quiet recording), as
        # much of it as one answer can be (Whisper takes at most 30 s)
        longest = audio[:round(settings.max_utterance_s * PIPELINE_RATE_HZ)]
        u = heard.utterance or recognizer.recognize(longest, phrases, "" if args.free
                                                    else dialog.question(args.state))
        intent = matcher.match(u.text, args.state, u.confidence)
        print(json.dumps({"file": str(wav), "text": u.text, "intent": intent.name,
                          "value": intent.value, "confidence": round(u.confidence, 3),
                          "engine": recognizer.name}), flush=True)
    return status
