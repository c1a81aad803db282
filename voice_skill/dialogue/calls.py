"""A call for help in ordinary words: "call 911", "ring nine nine nine", "get the paramedics".

A verb of calling (the dialogue's `calls.verbs`, or `calls.made` for a call already made), at
most a few small words (`calls.between`: "me", "an", "for"), then whom it calls: one of
`calls.services`, or an emergency number in any spelling. A number is read from its digits
("911", "9-1-1" reaches here as nine one one), its digit words ("nine one one"), digits said in
groups ("nine eleven", "one twelve") and repeats ("triple nine"). The emergency numbers are
the settings' own and the well-known ones of other countries (`calls.numbers`): a visitor says
the one they know. With no verb, an emergency number of three digits or more is a call too
(see `_bare`; two digits are too easily a garbled pain score). The words are data; this is
only the mechanism.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voice_skill.dialogue.dialog import Dialog
from voice_skill.dialogue.meaning import Phrase, read_phrases

MAX_BETWEEN = 3
"""small words between the verb and whom it calls: "call me an ambulance" has two"""
UNMADE_REACH = 3
"""how many words before "called" a "not" or "nobody" says the call is not made"""
BARE_MIN_DIGITS = 3
"""an emergency number said with no verb is a call from this many digits: "one five" or
"one one" are too easily a garbled pain score"""

@dataclass(frozen=True)
class Call:
    """A call for help found in the words."""

    made: bool
    """the call is already made ("I have called 911", "I rang for an ambulance")"""
    start: int
    end: int
    """the words it spans"""


def _at(words: list[str], i: int, phrases: tuple[Phrase, ...]) -> int:
    """The length of the longest phrase found at word i (0 when none)."""
    return next((len(p) for p in phrases if tuple(words[i:i + len(p)]) == p), 0)


class CallReader:
    """Finds a call for help in words already normalized by the intent matcher."""

    def __init__(self, dialog: Dialog, tokens: Callable[[str], list[str]],
                 emergency_number: str) -> None:
        c = dialog.calls
        self._verbs = read_phrases(c.verbs, tokens)
        self._made = read_phrases(c.made, tokens)
        self._between = read_phrases(c.between, tokens)
        self._services = read_phrases(c.services, tokens)
        self._unmade = read_phrases(c.unmade, tokens)
        self.own = emergency_number
        self.numbers = frozenset((emergency_number, *c.numbers))
        self._digits = {w: str(i) for i, w in enumerate(dialog.language.numbers)}
        self._groups = {w: str(v) for w, v in c.group_words.items()}
        self._repeats = dict(c.repeats)

    def read(self, words: list[str]) -> Call | None:
        """The call for help in the words, or None. A call already made comes first (it is
        what the person tells), then a call asked for, then a number said alone."""
        asked: Call | None = None
        for i in range(len(words)):
            for verbs, made in ((self._made, True), (self._verbs, False)):
                n = _at(words, i, verbs)
                if n and (end := self._whom(words, i + n)) is not None:
                    call = Call(made and not self.unmade_before(words, i), i, end)
                    if call.made:
                        return call
                    asked = asked or call
        return asked or self._bare(words)

    def unmade_before(self, words: list[str], i: int) -> bool:
        """Whether the words just before word i say a call is not made ("have not called",
        "nobody has called", "they are not on their way")."""
        return any(_at(words, j, self._unmade) for j in range(max(0, i - UNMADE_REACH), i))

    def _whom(self, words: list[str], i: int) -> int | None:
        """Where a service or an emergency number said from word i (after at most a few small
        words) ends; None when neither is there."""
        for _ in range(MAX_BETWEEN + 1):
            if i >= len(words):
                return None
            if n := _at(words, i, self._services):
                return i + n
            if (end := self._number_at(words, i)) is not None:
                return end
            n = _at(words, i, self._between)
            if not n:
                return None
            i += n
        return None

    def _number_at(self, words: list[str], i: int) -> int | None:
        """Where an emergency number said from word i ends, or None."""
        digits = ""
        while (piece := self._piece(words, i)) is not None:
            said, n = piece
            digits += said
            i += n
            if any(digits.startswith(x) for x in self.numbers):
                return i  # "call 1122": Whisper heard the last digit twice
            if not any(x.startswith(digits) for x in self.numbers):
                return None
        return None

    def _bare(self, words: list[str]) -> Call | None:
        """An emergency number with no verb: written as one number ("999", as Whisper writes
        a number it heard as one: "bring 999" for a spoken "ring nine nine nine"); the
        settings' own said in any spelling, even among other digits ("three nine one one");
        or another said digit by digit when its digits differ ("nine one one", "one one two":
        no garbled pain score, where "nine nine nine" or "one one one" may be)."""
        for i, w in enumerate(words):
            if w in self.numbers and len(w) >= BARE_MIN_DIGITS:
                return Call(False, i, i + 1)
        i = 0
        while i < len(words):
            start, digits = i, ""
            while (piece := self._piece(words, i)) is not None:
                digits += piece[0]
                i += piece[1]
            if (len(self.own) >= BARE_MIN_DIGITS and self.own in digits) or (
                    digits in self.numbers and len(digits) >= BARE_MIN_DIGITS
                    and len(set(digits)) > 1):
                return Call(False, start, i)
            i = max(i, start + 1)
        return None

    def _piece(self, words: list[str], i: int) -> tuple[str, int] | None:
        """The digits said by the word(s) at i, and how many words: "911" is 911, "nine" 9,
        "ninety nine" 99, "triple nine" 999; None when no number starts there."""
        if i >= len(words):
            return None
        w = words[i]
        if w.isdigit():
            return w, 1
        if w in self._digits:
            return self._digits[w], 1
        if w in self._groups:
            tens = self._groups[w]
            unit = self._digits.get(words[i + 1], "") if i + 1 < len(words) else ""
            if len(tens) == 2 and tens.endswith("0") and len(unit) == 1 and unit != "0":
                return tens[0] + unit, 2  # "ninety nine"
            return tens, 1
        if w in self._repeats and (nxt := self._piece(words, i + 1)) is not None \
                and len(nxt[0]) == 1:
            return nxt[0] * self._repeats[w], 1 + nxt[1]
        return None
