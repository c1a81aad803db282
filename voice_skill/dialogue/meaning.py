"""What a sentence says about the red flags: stated, denied, or neither.

People in pain answer in their own words. "No control of my bladder" starts with "no" and states
the symptom; "no problems with my bladder" denies it; "no, but my chest hurts" denies one flag
and states another. The reading is clause by clause: a negation denies what follows it in its
clause, unless it falls on an ability ("no control", "can't feel", "haven't been able to"),
which makes it a loss, and a loss is a symptom. A symptom may be told by what it does
("it just came out before I knew": a red flag's `effects`). Structure comes before words: a
"no" that opens an answer and is followed by more that does not itself deny the flag, or by a
hedge ("no ... well, I did ..."), is taken back, and the answer is asked about again. The words
are data (`meaning` and each red flag's `about`, `signs`, `tells`, `denials`, `effects` in the
dialogue); this is only the mechanism. Every decision is noted in `Reading.why`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from voice_skill.dialogue.dialog import Dialog, RedFlag
from voice_skill.dialogue.when import in_passing

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
    taken_back: str | None = None
    """an opening "no" followed by more that does not deny the flag: "hedge" when a hedge
    came after it ("no ... well, I did ..."), "affirmed" when the rest says that something
    happened ("no, I did go a bit")"""
    why: list[str] = field(default_factory=list)
    """how each decision was made, in order: "rf_bladder stated (effect): 'it came out'" """

    def mark(self, flag: str, stated: bool, how: str, words: list[str]) -> None:
        """Note `flag` stated or denied, and why."""
        (self.stated if stated else self.denied).add(flag)
        self.why.append(f"{flag} {'stated' if stated else 'denied'} ({how}): '{' '.join(words)}'")


def read_phrases(items: Iterable[str], tokens: Callable[[str], list[str]]) -> tuple[Phrase, ...]:
    """Phrases as the matcher reads words (contractions expanded, fillers dropped), longest
    first (shared with the call reader)."""
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
    effects: tuple[Phrase, ...]
    """the symptom told by what happens, on the flag's own question"""
    excuses: tuple[Phrase, ...]
    """reasons that make what was stated no symptom ("dieting" for weight lost)"""

    @classmethod
    def of(cls, state: str, rf: RedFlag, tokens: Callable[[str], list[str]]) -> _Flag:
        def p(items: Iterable[str]) -> tuple[Phrase, ...]:
            return read_phrases(items, tokens)
        return cls(state, p(rf.about), p(rf.signs), p(rf.tells), p(rf.denials),
                   p(rf.alone if rf.alone is not None else rf.signs), p(rf.effects),
                   p(rf.excuses))


class MeaningReader:
    """Reads answers for the symptoms of every red flag of a dialogue."""

    def __init__(self, dialog: Dialog, tokens: Callable[[str], list[str]],
                 words: Callable[[str], list[str]] | None = None) -> None:
        """`tokens`: the words as matched (fillers dropped); `words`: every word said, hedges
        such as "well" and "hmm" too (default: `tokens`)."""
        m = dialog.meaning
        self._language = dialog.language
        self._tokens = tokens
        self._words = words or tokens
        self._hedges = read_phrases(m.hedges, self._words)
        self._comparisons = read_phrases(m.comparisons, tokens)
        self._affirmations = read_phrases(m.affirmations, tokens)
        self._feelings = read_phrases(m.feelings, tokens)
        self._others = read_phrases(m.others, tokens)
        self._not_me = read_phrases(m.not_me, tokens)
        self._negations = read_phrases(m.negations, tokens)
        self._abilities = read_phrases(m.abilities, tokens)
        self._losses = read_phrases(m.losses, tokens)
        self._troubles = read_phrases(m.troubles, tokens)
        self._fine = read_phrases(m.fine, tokens)
        self._breaks = frozenset(m.clause_breaks)
        self._scope_ends = frozenset(m.scope_ends)
        self._answer_words = frozenset(m.answer_words)
        self._yes = read_phrases((*dialog.intents.get("yes", ()), *dialog.understood.get("yes", ())),
                             tokens)
        self._no = read_phrases((*dialog.intents.get("no", ()), *dialog.understood.get("no", ())),
                            tokens)
        self.flags = tuple(_Flag.of(name, s.red_flag, tokens)
                           for name, s in dialog.states.items() if s.red_flag)
        self._all_signs = tuple(p for f in self.flags for p in f.signs)
        self._topics = frozenset(
            p[0] for f in self.flags for p in (*f.about, *f.signs, *f.denials)
        ) | {p[0] for p in (*self._abilities, *self._troubles)} | {
            p[1] for f in self.flags for p in f.effects if len(p) > 1 and p[0] in m.negations}
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
        more: list[list[str]] = []
        """what follows an opening "no": it must deny the flag itself, or the no is taken back"""
        clauses = self.clauses(text)
        if any(_spans(c, self._not_me) for c in clauses):
            # "my mum had cancer, but not me": what another person had is not this answer
            theirs = [c for c in clauses if c[:2] and any(c[:len(o)] == list(o) for o in self._others)]
            reading.why.extend(f"another person's, not read: '{' '.join(c)}'" for c in theirs)
            clauses = [c for c in clauses if c not in theirs]
        first = clauses[0] if clauses else []
        opening = next((p for p in self._no if tuple(first[:len(p)]) == p), None)
        if opening:
            # "no, I did go": the rest after a one-word "no"; a longer one ("no I have not had
            # any") keeps its words under its own negation
            more = [first[len(opening):] if len(opening) == 1 else [], *clauses[1:]]
        for clause in clauses:
            self._read_clause(self._split_head(clause, reading), current, reading)
        if any(more):
            self._taken_back(text, more, current, reading)
        own = next(f for f in self.flags if f.state == current)
        words = self._tokens(text)
        negations = {a for a, _ in _spans(words, self._negations)}
        if current in reading.stated and any(not negations & set(range(a - 3, a))
                                             for a, _ in _spans(words, own.excuses)):
            reading.stated.discard(current)  # "I've lost weight, but I've been dieting"
            reading.mark(current, False, "excused", words)
        return reading

    def _taken_back(self, text: str, more: list[list[str]], current: str,
                    reading: Reading) -> None:
        """Whether an opening "no" stands, given what follows it. After a hedge ("no ... well,
        ...") the rest must deny the flag itself; without one, the rest may explain ("no, I was
        just hoovering"), but not affirm that something happened ("no, I did go a bit"). What
        does not stand is asked about again: never a plain no."""
        if current in reading.stated:
            return
        said = self._words(text)
        after = next((i + 1 for i, w in enumerate(said) if w in self._answer_words), 1)
        # a hedge that something follows: "no ... well, I did"; not "worse in the morning actually"
        hedges = [(a, b, h) for h in self._hedges for a, b in _spans(said[after:], (h,))
                  if b < len(said) - after]
        hedged = " ".join(max(hedges)[2]) if hedges else None
        if hedges:
            # what comes after the last hedge is what the person now says: "no no, well, I did"
            more = self.clauses(" ".join(said[after + max(hedges)[1]:]))
        rest = Reading()
        for clause in more:
            self._read_clause(self._split_head(clause, rest), current, rest)
        words = [w for c in more for w in c]
        negations = {a for a, _ in _spans(words, self._negations)}
        affirmed = next((" ".join(words[a:b]) for a, b in _spans(words, self._affirmations)
                         if b not in negations and a - 1 not in negations), None)
        quoted = f"'{' '.join(words)}'"
        if current in rest.denied or "no" in rest.heads:
            reading.why.append(f"{current} no stands (the rest denies it): {quoted}")
        elif rest.stated - {current} and not hedged:
            reading.why.append(f"{current} no stands (another flag is its answer): {quoted}")
        elif hedged or affirmed:
            reading.taken_back = "hedge" if hedged else "affirmed"
            reading.why.append(f"{current} no taken back ({'hedge' if hedged else 'affirmed'} "
                               f"{hedged or affirmed!r}, nothing denies it): {quoted}")
        else:
            reading.why.append(f"{current} no stands (the rest explains it): {quoted}")

    def _split_head(self, words: list[str], reading: Reading) -> list[str]:
        """A plain "yes" / "no" opening a clause is an answer of its own ("no, my chest hurts");
        not when the words after it are what it denies ("no control", "no pain in my chest")."""
        for name, phrases in (("yes", self._yes), ("no", self._no)):
            if tuple(words) in phrases:  # the whole clause is an answer: "not really, ..."
                reading.heads.add(name)
                reading.why.append(f"plain {name}: '{' '.join(words)}'")
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
                    reading.why.append(f"opens with {name}: '{' '.join(p)}'")
                    # a longer one keeps its words: the "not" of "no I am not having any
                    # trouble" still denies what follows
                    return rest if len(p) == 1 else words
        return words

    def _read_clause(self, said_words: list[str], current: str, reading: Reading) -> None:
        own = next(f for f in self.flags if f.state == current)
        denials = _spans(said_words, own.denials)
        if in_passing(said_words, self._language):  # "the weather is nice today": no denial
            denials = [(a, b) for a, b in denials
                       if b - a > 1 or said_words[a] not in self._language.days_ago]
        # the longest phrase wins: "I fell asleep" is no fall, "lower back" no upper back
        held = {i for a, b in denials if b - a > 1 for i in range(a, b)}
        words = ["_" if i in held else w for i, w in enumerate(said_words)]
        tells = {f.state: _spans(words, f.tells) for f in self.flags}
        in_tell = {i for spans in tells.values() for a, b in spans for i in range(a, b)}
        negations = sorted(a for a, _ in _spans(words, self._negations) if a not in in_tell)
        abilities = {a for a, _ in _spans(words, self._abilities)}
        stops = {a for a, _ in _spans(words, self._troubles + self._all_signs)}
        # after an ability these make it a state, not a loss: "no sensation problems", "I don't
        # feel ill"
        described = {a for a, _ in _spans(words, self._troubles + self._fine + self._feelings)}
        lost_words = {a for a, _ in _spans(words, self._losses)}
        loss_at = [i for i in negations + sorted(lost_words)
                   if self._denies_ability(i, abilities, stops, described)
                   and not (i in lost_words and i - 1 in negations)]  # "not lost control"
        loss_at = [i for i in loss_at if not (i + 1 in lost_words and i in negations)]
        lost = bool(loss_at)
        ends = [i for i, w in enumerate(words) if w in self._scope_ends]
        scopes = [(i, min((e for e in ends if e > i), default=len(words)))
                  for i in negations if i not in loss_at]
        # "never been this weak": the negation falls on the degree, and the weakness is there
        compared = {b for _, b in _spans(words, self._comparisons)}

        def negated(spans: list[tuple[int, int]]) -> bool:
            return any(n < a < e and a not in compared for a, _ in spans for n, e in scopes)

        def right_after_negation(spans: list[tuple[int, int]]) -> bool:
            return any(a - 1 in negations for a, _ in spans)

        def said(spans: list[tuple[int, int]], flag: str, how: str) -> None:
            """Stated if any of them is said without a negation ("no weakness, my legs feel
            numb"); denied only when every one is negated."""
            free = [s for s in spans if not negated([s])]
            if any(a in compared for a, _ in free):
                how = "comparison"
            reading.mark(flag, bool(free), how if free else f"{how} negated", said_words)

        troubles, fine = _spans(words, self._troubles), _spans(words, self._fine)
        topical = False
        for f in self.flags:
            about, signs = _spans(words, f.about), _spans(words, f.signs)
            topical = topical or bool(about)
            if tells[f.state] and f.state == current and any(
                    b <= a < b + 3 for _, b in tells[f.state] for a, _ in fine) and not troubles:
                reading.mark(f.state, False, "told, then fine", said_words)  # "shoulders are fine"
            elif tells[f.state]:
                said(tells[f.state], f.state, "told")
            if not about:
                continue
            complaint = signs + troubles
            if lost:
                reading.mark(f.state, True, "loss", said_words)
            elif complaint:
                said(complaint, f.state, "sign")
            elif fine:
                # "my waterworks are fine"; "my bladder is not working" states the trouble
                reading.mark(f.state, right_after_negation(fine), "fine", said_words)
            elif right_after_negation(about):
                reading.mark(f.state, False, "denied", said_words)  # "no fever", "I haven't fallen"
                # (a lost ability was read above: "can't urinate" is a loss)
        alone, effects = _spans(words, own.alone), _spans(words, own.effects)
        if effects and lost:
            # "I didn't know it was coming out": a lost knowing or feeling with what happens
            reading.mark(current, True, "loss with effect", said_words)
        elif effects:
            said(effects, current, "effect")  # "it just came out", "my trousers were soaked"
        if alone:
            said(alone, current, "sign")  # "I had an accident" on the bladder question
        elif not topical and not effects:
            if lost:
                reading.loss = True
                reading.why.append(f"{current} loss, of what not said: '{' '.join(said_words)}'")
            elif troubles and negated(troubles):
                reading.mark(current, False, "trouble negated", said_words)  # "no problems"
            elif fine and not troubles and not negated(fine) and len(words) > 2:
                reading.mark(current, False, "fine", said_words)  # "I feel fine"; not a bare "okay"
        if denials and not right_after_negation(denials) and current not in reading.stated:
            reading.mark(current, False, "denial", said_words)  # "it is lower down"; not "not better"

    @staticmethod
    def _denies_ability(i: int, abilities: set[int], stops: set[int], described: set[int]
                        ) -> bool:
        """Whether the negation or loss word at `i` falls on an ability: a loss ("no control"),
        not a denial ("no trouble peeing")."""
        for j in range(i + 1, i + 1 + LOSS_REACH):
            if j in stops:
                return False
            if j in abilities:
                return j + 1 not in described
        return False
