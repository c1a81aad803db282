"""End of turn: how much silence ends what a person is saying, judged by what they have said.

A pause after "no" or "seven" (a whole answer of this state) ends the turn quickly; a pause
after "I'd say..." or "no, I..." (not yet an answer, or the start of a longer one) waits. The
recognizer is asked for the text at the pause, whatever engine it is; its answer is kept, so
the turn that ends there needs no second decode.
An engine held to a grammar of whole answers can force a beginning onto a whole answer
(PocketSphinx hears "I'd say" as "i would say eight", measured, even with the beginnings in
its grammar); a free-decoding engine (Whisper) hears "I'd say" and the turn waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from voice_skill.dialogue.intents import NO_MATCH, IntentMatcher
from voice_skill.events import Intent, Utterance
from voice_skill.hearing.audio import PIPELINE_RATE_HZ
from voice_skill.hearing.endpointing import TAIL_S
from voice_skill.settings import Settings

if TYPE_CHECKING:  # the engines load their libraries on import: not needed to type-check
    from voice_skill.hearing.recognizers import Recognizer

log = logging.getLogger(__name__)


class TurnJudge:
    """Decodes at each pause and says how much more silence the words so far need."""

    def __init__(self, recognizer: Recognizer, matcher: IntentMatcher, settings: Settings) -> None:
        self.recognizer, self.matcher, self.settings = recognizer, matcher, settings
        self._phrases: dict[str, dict[tuple[str, ...], str]] = {}
        self._longer: dict[str, dict[tuple[str, ...], set[str]]] = {}
        self._last: tuple[np.ndarray, Utterance] | None = None
        self._margin: tuple[str, float] | None = None  # a lone yes/no's, at the last pause
        self.unsure: Callable[[Utterance, np.ndarray], bool] | None = None
        """which answers the listener will check for a clear answer (None: every lone yes/no);
        only those are scored at the pause, so a sure one costs the judge nothing more"""
        self.state, self.hint = "", ""
        self.grammar: tuple[str, ...] = ()
        self.decoded_again = False
        """the last utterance() decoded the turn again (its pause's decode did not hold)"""

    def start(self, state: str, grammar: tuple[str, ...], hint: str = "") -> None:
        """A new turn in `state`, with its recognizer grammar and the question just asked."""
        self.state, self.grammar, self.hint = state, grammar, hint
        self._last = self._margin = None
        if state not in self._phrases:
            self._index(state, grammar)

    def end_silence_s(self, audio: np.ndarray) -> float:
        """Silence that ends a turn whose speech so far is `audio` (seconds)."""
        u = self.recognizer.recognize(audio, self.grammar, self.hint)
        need = self.silence_for(u)
        log.info("at a pause after %.2f s: %r, the turn ends after %.2f s of quiet",
                 len(audio) / PIPELINE_RATE_HZ, u.text, need)
        # Kept: if nothing more is said, the turn's text is this one, whenever it ends.
        self._last = (audio, u)
        self._margin = self._lone_answer_margin(audio, u)
        return need

    def _lone_answer_margin(self, audio: np.ndarray, u: Utterance) -> tuple[str, float] | None:
        """For a lone yes or no, how clearly its word wins without the question (the
        recognizer's answer_margin), scored here at the pause so the clear-answer check at the
        end of the turn waits for nothing: (word, margin), or None."""
        margin_of = getattr(self.recognizer, "answer_margin", None)
        words = self.matcher.tokens(u.text)
        if (margin_of is None or not self.hint or len(words) != 1
                or self.matcher.match(u.text, self.state).name not in ("yes", "no")
                or (self.unsure is not None and not self.unsure(u, audio))):
            return None
        margin = margin_of(audio, words[0])
        return None if margin is None else (words[0], float(margin))

    def margin(self, audio: np.ndarray, word: str) -> float | None:
        """The margin scored at the turn's last pause for `word`, if that pause's decode is the
        turn's (as utterance() says); None otherwise."""
        if self._margin is None or self._margin[0] != word or not self._holds(audio):
            return None
        return self._margin[1]

    def _holds(self, audio: np.ndarray) -> bool:
        """Whether the turn's audio is the one judged at its last pause, plus at most a tail."""
        if self._last is None:
            return False
        seen = self._last[0]
        extra = len(audio) - len(seen)
        return 0 <= extra <= TAIL_S * PIPELINE_RATE_HZ and np.array_equal(audio[: len(seen)], seen)

    def silence_for(self, u: Utterance) -> float:
        """Quick for a whole answer that cannot grow into another; patient when not an answer."""
        s = self.settings
        words = tuple(self.matcher.tokens(u.text))
        intent = self.matcher.match(u.text, self.state, u.confidence)
        if intent.name == NO_MATCH or words not in self._phrases[self.state]:
            # Not an answer yet, or words beyond a whole phrase ("no, I..."): let them finish.
            return max(s.patient_end_silence_s, s.end_silence_s)
        if self._longer[self.state].get(words, set()) - {_meaning(intent)}:
            # "no" may still become "no idea": doubt must never pass as a no.
            return s.end_silence_s
        if _ends_hesitating(u.text, self.matcher):
            return s.end_silence_s
        return s.quick_end_silence_s

    def utterance(self, audio: np.ndarray) -> Utterance:
        """The text of a finished turn: the decode made at its last pause when nothing followed."""
        self.decoded_again = False
        if self._last is not None and self._holds(audio):
            return self._last[1]
        self.decoded_again = True
        return self.recognizer.recognize(audio, self.grammar, self.hint)

    def _index(self, state: str, grammar: tuple[str, ...]) -> None:
        """Each phrase's words and meaning, and what each strict prefix may still become."""
        phrases: dict[tuple[str, ...], str] = {}
        longer: dict[tuple[str, ...], set[str]] = {}
        for p in grammar:
            words = tuple(self.matcher.tokens(p))
            if not words:
                continue
            meaning = _meaning(self.matcher.match(p, state))
            phrases[words] = meaning
            for k in range(1, len(words)):
                longer.setdefault(words[:k], set()).add(meaning)
        self._phrases[state], self._longer[state] = phrases, longer


def _meaning(intent: Intent) -> str:
    """An intent with its value: "seven" and "seven out of ten" mean the same, "one" does not."""
    return intent.name if intent.value is None else f"{intent.name}={intent.value}"


def _ends_hesitating(text: str, matcher: IntentMatcher) -> bool:
    """Whether the last word heard is a filler ("no, um"): the person is still thinking."""
    raw = text.lower().split()
    return bool(raw) and raw[-1].strip(".,!?") in matcher.dialog.language.fillers
