"""Spoken answers: an audio source, endpointing and a recognizer with the state's grammar."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from voice_skill.audio import AudioSource
from voice_skill.endpointing import Endpointer
from voice_skill.errors import AudioError
from voice_skill.session import Heard, Listener
from voice_skill.turns import TurnJudge

if TYPE_CHECKING:  # the engines load their libraries on import: not needed to type-check
    from voice_skill.recognizers import Recognizer

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""while the microphone is gone, how often to try to open it again (seconds)"""


class AudioListener:
    """Listens for one utterance per call; says once, in plain words, when the microphone fails.

    While the microphone is gone the session goes on: timers still fire, and answers can be
    typed when a `fallback` listener (a terminal) is given. It retries the device meanwhile.
    """

    def __init__(self, source: AudioSource, endpointer: Endpointer, recognizer: Recognizer,
                 no_input_timeout_s: float, announce: Callable[[str], None],
                 fallback: Listener | None = None, judge: TurnJudge | None = None) -> None:
        self.source, self.endpointer, self.recognizer = source, endpointer, recognizer
        self.judge = judge
        """decides the end of a turn by what was said; None: a fixed end silence"""
        self.no_input_timeout_s: float | None = no_input_timeout_s
        self.announce, self.fallback = announce, fallback
        self._broken: str | None = None
        self._next_retry = 0.0

    def listen(self, state: str, phrases: tuple[str, ...], timeout_s: float | None) -> Heard:
        if self._broken and not self._retry():
            return self._without_microphone(state, phrases, timeout_s)
        self.source.flush()  # whatever the microphone caught while the skill spoke
        judge = self.judge
        if judge is not None:
            judge.start(state, phrases)
        try:
            segment = self.endpointer.listen(self.source,
                                             math.inf if timeout_s is None else timeout_s,
                                             judge.end_silence_s if judge else None)
        except AudioError as exc:
            self._lost(str(exc))
            return self._without_microphone(state, phrases, timeout_s)
        if segment is None:
            return Heard()
        t0 = time.perf_counter()
        utterance = (judge.utterance(segment.audio) if judge
                     else self.recognizer.recognize(segment.audio, phrases))
        # decode_s is the time spent after the end was decided (a reused decode costs none)
        utterance = dataclasses.replace(utterance, decode_s=time.perf_counter() - t0)
        return Heard(utterance, ended_at=segment.ended_at)

    def _lost(self, why: str) -> None:
        self._broken = why
        self._next_retry = time.monotonic() + RETRY_S
        extra = " You can type your answers meanwhile." if self.fallback else ""
        self.announce(f"The microphone stopped working: {why}. I will keep trying.{extra}")

    def _retry(self) -> bool:
        if time.monotonic() < self._next_retry:
            return False
        reopen = getattr(self.source, "reopen", None)
        try:
            if reopen is None:
                return False
            reopen()
        except AudioError as exc:
            log.info("microphone still unavailable: %s", exc)
            self._next_retry = time.monotonic() + RETRY_S
            return False
        self.announce("The microphone is working again.")
        self._broken = None
        return True

    def _without_microphone(self, state: str, phrases: tuple[str, ...],
                            timeout_s: float | None) -> Heard:
        wait = RETRY_S if timeout_s is None else min(timeout_s, RETRY_S)
        if self.fallback is not None:
            return self.fallback.listen(state, phrases, wait)
        time.sleep(wait)
        return Heard(unavailable=True)
