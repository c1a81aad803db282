"""What a sentence says about the red flags: stated, denied, or neither.

People in pain answer in their own words. "No control of my bladder" starts with "no" and states
the symptom; "no problems with my bladder" denies it; "no, but my chest hurts" denies one flag
and states another. The reading is clause by clause: a negation denies what follows it in its
clause, unless it falls on an ability ("no control", "can't feel", "haven't been able to"),
which makes it a loss, and a loss is a symptom. The words are data (`meaning` and each red
flag's `about`, `signs`, `tells`, `denials` in the dialogue); this is only the mechanism.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from voice_skill.dialogue.dialog import Dialog, RedFlag

LOSS_REACH = 3
"""how many words after a negation an ability may be and still be what it denies"""
_PUNCTUATION = re.compile(r"[,.;:!?…]+|\s[-–—]+\s")

Phrase = tuple[str, ...]


@dataclass
class Reading:
    """What one answer says of the red flags (states named by their dialogue state)."""

    stated: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    heads: set[str] = field(default_factory=set)
    """"yes" / "no" said plainly at the start of a clause"""
    loss: bool = False
    """an ability lost with nothing to say what of ("I can't hold it")"""


def _phrases(items: Iterable[str], tokens: Callable[[str], list[str]]) -> tuple[Phrase, ...]:
    """Phrases as the matcher reads words (contractions expanded, fillers dropped), longest
    first."""
    return tuple(sorted({tuple(tokens(p)) for p in items if tokens(p)}, key=len, reverse=True))


def _spans(words: list[str], phrases: tuple[Phrase, ...]) -> list[tuple[int, int]]:
    """Where any of the phrases occur, as (start, end) word positions."""
    return [(i, i + len(p)) for p in phrases for i in range(len(words) - len(p) + 1)
            if tuple(words[i:i + len(p)]) == p]


@dataclass(frozen=True)
class _Flag:
    state: str
    about: tuple[Phrase, ...]
    signs: tuple[Phrase, ...]
    tells: tuple[Phrase, ...]
    denials: tuple[Phrase, ...]
    alone: tuple[Phrase, ...]
    """signs that state the symptom without naming its topic, on the flag's own question"""

    @classmethod
    def of(cls, state: str, rf: RedFlag, tokens: Callable[[str], list[str]]) -> _Flag:
        def p(items: Iterable[str]) -> tuple[Phrase, ...]:
            return _phrases(items, tokens)
        return cls(state, p(rf.about), p(rf.signs), p(rf.tells), p(rf.denials),
                   p(rf.alone if rf.alone is not None else rf.signs))


class MeaningReader:
    """Reads answers for the symptoms of every red flag of a dialogue."""

    def __init__(self, dialog: Dialog, tokens: Callable[[str], list[str]]) -> None:
        m = dialog.meaning
        self._tokens = tokens
        self._negations = _phrases(m.negations, tokens)
        self._abilities = _phrases(m.abilities, tokens)
        self._losses = _phrases(m.losses, tokens)
        self._troubles = _phrases(m.troubles, tokens)
        self._fine = _phrases(m.fine, tokens)
        self._breaks = frozenset(m.clause_breaks)
        self._scope_ends = frozenset(m.scope_ends)
        self._answer_words = frozenset(m.answer_words)
        self._yes = _phrases(dialog.intents.get("yes", ()), tokens)
        self._no = _phrases(dialog.intents.get("no", ()), tokens)
        self.flags = tuple(_Flag.of(name, s.red_flag, tokens)
                           for name, s in dialog.states.items() if s.red_flag)
        self._all_signs = tuple(p for f in self.flags for p in f.signs)
        self._topics = frozenset(
            p[0] for f in self.flags for p in (*f.about, *f.signs, *f.denials)
        ) | {p[0] for p in (*self._abilities, *self._troubles)}
        """first words of what a "no" may deny: after "no" they make it a denial, not an answer"""

    def clauses(self, text: str) -> list[list[str]]:
        """The answer's words, cut at punctuation and at words like "but"."""
        out: list[list[str]] = []
        for piece in _PUNCTUATION.split(text):
            clause: list[str] = []
            for w in self._tokens(piece):
                if w in self._breaks:
                    out.append(clause)
                    clause = []
                else:
                    clause.append(w)
            out.append(clause)
        return [c for c in out if c]

    def read(self, text: str, current: str) -> Reading:
        """What `text`, said in answer to red-flag state `current`, states and denies."""
        reading = Reading()
        for clause in self.clauses(text):
            self._read_clause(self._split_head(clause, reading), current, reading)
        return reading

    def _split_head(self, words: list[str], reading: Reading) -> list[str]:
        """A plain "yes" / "no" opening a clause is an answer of its own ("no, my chest hurts");
        not when the words after it are what it denies ("no control", "no pain in my chest")."""
        for name, phrases in (("yes", self._yes), ("no", self._no)):
            if tuple(words) in phrases:  # the whole clause is an answer: "not really, ..."
                reading.heads.add(name)
                return []
        if not words or words[0] not in self._answer_words:
            return words
        if any(a == 0 for f in self.flags for a, _ in _spans(words, f.tells)):
            return words  # "no position helps" is one statement
        for name, phrases in (("yes", self._yes), ("no", self._no)):
            for p in phrases:
                rest = words[len(p):]
                if tuple(words[:len(p)]) == p and (name == "yes" or not rest
                                                   or rest[0] not in self._topics):
                    reading.heads.add(name)
                    # a longer one keeps its words: the "not" of "no I am not having any
                    # trouble" still denies what follows
                    return rest if len(p) == 1 else words
        return words

    def _read_clause(self, words: list[str], current: str, reading: Reading) -> None:
        tells = {f.state: _spans(words, f.tells) for f in self.flags}
        in_tell = {i for spans in tells.values() for a, b in spans for i in range(a, b)}
        negations = sorted(a for a, _ in _spans(words, self._negations) if a not in in_tell)
        abilities = {a for a, _ in _spans(words, self._abilities)}
        stops = {a for a, _ in _spans(words, self._troubles + self._all_signs)}
        loss_at = [i for i in negations + [a for a, _ in _spans(words, self._losses)]
                   if self._denies_ability(i, abilities, stops)]
        lost = bool(loss_at)
        ends = [i for i, w in enumerate(words) if w in self._scope_ends]
        scopes = [(i, min((e for e in ends if e > i), default=len(words)))
                  for i in negations if i not in loss_at]

        def negated(spans: list[tuple[int, int]]) -> bool:
            return any(n < a < e for a, _ in spans for n, e in scopes)

        def right_after_negation(spans: list[tuple[int, int]]) -> bool:
            return any(a - 1 in negations for a, _ in spans)

        def said(spans: list[tuple[int, int]], flag: str) -> None:
            """Stated if any of them is said without a negation ("no weakness, my legs feel
            numb"); denied only when every one is negated."""
            if any(not negated([span]) for span in spans):
                reading.stated.add(flag)
            else:
                reading.denied.add(flag)

        troubles, fine = _spans(words, self._troubles), _spans(words, self._fine)
        topical = False
        for f in self.flags:
            about, signs = _spans(words, f.about), _spans(words, f.signs)
            topical = topical or bool(about)
            if tells[f.state]:
                said(tells[f.state], f.state)
            if not about:
                continue
            complaint = signs + troubles
            if lost:
                reading.stated.add(f.state)
            elif complaint:
                said(complaint, f.state)
            elif fine:
                # "my waterworks are fine"; "my bladder is not working" states the trouble
                (reading.stated if right_after_negation(fine) else reading.denied).add(f.state)
            elif right_after_negation(about):
                reading.denied.add(f.state)  # "no fever", "I haven't fallen" (a lost ability
                # was read above: "can't urinate" is a loss)
        own = next(f for f in self.flags if f.state == current)
        alone = _spans(words, own.alone)
        if alone:
            said(alone, current)  # "I had an accident" on the bladder question, a topic or not
        elif not topical:
            if lost:
                reading.loss = True
            elif troubles and negated(troubles):
                reading.denied.add(current)  # "no problems", "nothing wrong"
            elif fine and not troubles and not negated(fine) and len(words) > 2:
                reading.denied.add(current)  # "I feel fine", "it is normal"; not a bare "okay"
        denials = _spans(words, own.denials)
        if denials and not right_after_negation(denials) and current not in reading.stated:
            reading.denied.add(current)  # "it is lower down"; not "not better"

    @staticmethod
    def _denies_ability(i: int, abilities: set[int], stops: set[int]) -> bool:
        """Whether the negation or loss word at `i` falls on an ability: a loss ("no control"),
        not a denial ("no trouble peeing")."""
        for j in range(i + 1, i + 1 + LOSS_REACH):
            if j in stops:
                return False
            if j in abilities:
                return True
        return False
