"""Transcripts become intents: yes / no / unsure, pain scores, commands, from the dialogue's phrases."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voice_skill.dialogue.calls import CallReader
from voice_skill.dialogue.dialog import Dialog
from voice_skill.dialogue.meaning import MeaningReader
from voice_skill.dialogue.when import TimeReader, in_passing
from voice_skill.events import Intent
from voice_skill.settings import Settings

NO_MATCH = "no_match"
MAX_INPUT_CHARS = 500
"""Longer input is cut: nobody answers a yes/no question in a paragraph."""
SAFETY_INTENTS = ("emergency", "help")
"""Heard first, whatever else the sentence holds."""
CALL_MADE = "called"
"""the emergency state's answer: the call is made ("I called them", "they are on their way")"""

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")


@dataclass(frozen=True)
class _Hit:
    intent: str
    start: int
    length: int


class IntentMatcher:
    """Matches what a person said against the intents a dialogue state accepts."""

    def __init__(self, dialog: Dialog, emergency_number: str | None = None) -> None:
        """`emergency_number`: the settings' own (911 when not given), heard in any spelling."""
        self.dialog = dialog
        lang = dialog.language
        self._phrases: dict[str, tuple[tuple[str, ...], ...]] = {
            intent: tuple(tuple(self.tokens(p))
                          for p in (*phrases, *dialog.understood.get(intent, ())))
            for intent, phrases in dialog.intents.items()
        }
        self._numbers = {w: i for i, w in enumerate(lang.numbers)}
        self._number_phrases = {tuple(k.split()): v for k, v in lang.number_words.items()}
        self._pain_words = [(tuple(k.split()), v) for k, v in lang.pain_words.items()]
        self._scale = tuple(tuple(s.split()) for s in lang.scale_words)
        self._grammars: dict[str, tuple[str, ...]] = {}
        self.calls = CallReader(dialog, self.tokens, emergency_number or Settings.emergency_number)
        self.meaning = MeaningReader(dialog, self.tokens, lambda t: self.tokens(t, fillers=True))
        self.when = TimeReader(lang, self.tokens)

    def tokens(self, text: str, fillers: bool = False) -> list[str]:
        """Lower-case words with contractions expanded and fillers dropped (kept with
        `fillers`: "no ... well, I did" is read for its hedge)."""
        lang = self.dialog.language
        out: list[str] = []
        for tok in _TOKEN.findall(text[:MAX_INPUT_CHARS].lower().replace("’", "'")):
            if tok.isdigit() and int(tok) < len(lang.numbers) and tok == str(int(tok)):
                tok = lang.numbers[int(tok)]  # "7 out of 10" reads like "seven out of ten"
                # ("000" stays a number: Australia's emergency number, not a zero)
            if tok not in lang.contractions and tok.endswith("'s"):
                tok = f"{tok[:-2]} is"  # "bladder's fine": the one sense a first-aid answer needs
            out.extend(lang.contractions.get(tok, tok).split())
        return out if fillers else [t for t in out if t not in lang.fillers]

    def match(self, text: str, state: str, confidence: float = 1.0) -> Intent:
        """The intent of `text` in `state`; "no_match" when nothing fits (a normal result)."""
        accepted = self.dialog.accepted_intents(state)
        words = self.tokens(text)
        if not words and "pain" in accepted and (
                score := self._pain(words, self.tokens(text, fillers=True))) is not None:
            return Intent("pain", value=score, confidence=confidence, text=text)  # "so so"
        if not words:
            # "hmm": a hesitation is doubt, asked about in plain words where a question can be
            # (`clarify`); nothing at all stays a plain no_match
            hesitant = bool(self.tokens(text, fillers=True)) and not self.dialog.states[
                state].red_flag
            return Intent(NO_MATCH, confidence=confidence, text=text, understood=not hesitant)
        # Phrases of every intent compete, so "not sure" beats "sure" even where unsure is not
        # an answer; only then are the intents this state does not accept dropped.
        hits = [h for h in self._hits(words) if h.intent in accepted
                and not (h.intent in self.dialog.global_intents and self._denied_call(words, h))
                and not (h.intent == CALL_MADE and self.calls.unmade_before(words, h.start))]
        chosen = {h.intent for h in hits}

        def found(name: str) -> Intent:
            return Intent(name, confidence=confidence, text=text)

        call = self.calls.read(words)
        if CALL_MADE in accepted and (CALL_MADE in chosen or (call and call.made)):
            return found(CALL_MADE)  # "help is on the way": told, not asked for
        for safety in SAFETY_INTENTS:
            if safety in chosen:
                return found(safety)
        if call and SAFETY_INTENTS[0] in accepted:
            return found(SAFETY_INTENTS[0])  # "ring nine nine nine" is never pain 9
        own = [i for i in accepted if i not in self.dialog.global_intents]
        answers = [h.intent for h in hits if h.intent in own]
        if "pain" in own and (score := self._pain(words, self.tokens(text, fillers=True))
                              ) is not None:
            return Intent("pain", value=score, confidence=confidence, text=text)
        if self.dialog.states[state].red_flag:
            return self._red_flag(text, state, words, hits, confidence)
        if (timed := self._timed(state, words, hits, confidence, text)) is not None:
            return timed
        if self._says(words, "unsure"):
            if "unsure" in own:
                return found("unsure")
            if self.dialog.states[state].clarify:
                # "I don't know" where doubt is no answer: the question asked in plain words
                return Intent(NO_MATCH, confidence=confidence, text=text, understood=False)
        if "cannot" in answers:
            return found("cannot")  # "I'm frozen, I can't budge": never taken as a weak "yes"
        if "yes" in own and "ready" not in own and "yes" not in answers and any(
                h.intent == "ready" and " ".join(words[h.start:h.start + h.length])
                in self.dialog.language.agreeing for h in self._hits(words)):
            return found("yes")  # "ok" to a yes-or-no question agrees
        if answers:
            if "yes" in answers and "no" in answers:
                # an opening "yes" or "no" says it ("no, it's in the other room"); "yes ... no"
                # both opening is contradictory: unsure, the safe reading on a red flag
                opening = {h.intent for h in hits if h.intent in ("yes", "no")
                           and words[h.start] in self.dialog.meaning.answer_words}
                if len(opening) == 1:
                    return found(opening.pop())
                return found("unsure") if "unsure" in own else found(NO_MATCH)
            return found(answers[0])
        return found(hits[0].intent) if hits else found(NO_MATCH)

    def _red_flag(self, text: str, state: str, words: list[str], hits: list[_Hit],
                  confidence: float) -> Intent:
        """An answer to a red-flag question, read for what it means, not for its first word.

        A symptom stated anywhere is a "yes" ("no control of my bladder"); any doubt is unsure;
        a plain or stated "no" is a no; another flag's symptom rides along in `also`; a sentence
        understood as none of these is a no_match not understood: asked about in plain words.
        """
        reading = self.meaning.read(text, state)
        states = self.dialog.states
        also = tuple(f.state for f in self.meaning.flags
                     if f.state in reading.stated and f.state != state
                     and (rf := states[f.state].red_flag) and rf.level != "routine")

        def found(name: str, how: str, understood: bool = True) -> Intent:
            why = (*reading.why, f"{state} read as {name}: {how}")
            return Intent(name, confidence=confidence, text=text, also=also, understood=understood,
                          why=why)

        if self._says(words, "unsure"):
            # Any doubt ("no idea", "no... I don't know", "sort of tingly") is unsure, even where
            # a longer "no" phrase overlaps it: confirmed, never a "no" on a red flag.
            return found("unsure", "doubt said")
        if state in reading.stated:
            return found("yes", "stated")
        if reading.loss and state not in reading.denied:
            # "no, I can barely walk": a lost ability with nothing to say of what: asked about
            return found(NO_MATCH, "a loss, of what not said", understood=False)
        covered = {i for h in hits for i in range(h.start, h.start + h.length)}
        heads = set(reading.heads) | ({"no"} if state in reading.denied else set())
        said = {h.intent for h in hits if h.intent in ("yes", "no")
                and (len(covered) == len(words)  # every word an answer or a command: plain
                     or words[h.start] in self.dialog.meaning.answer_words)}
        heads |= said  # "yes no I mean no", "no accidents ... oh wait, yes I have": contradictory
        if heads == {"yes", "no"}:
            return found("unsure", "yes and no both said")  # contradictory, so confirmed
        if heads == {"no"} and reading.taken_back:
            # "no ... well, I did go": asked about again in plain words
            return found(NO_MATCH, f"no taken back ({reading.taken_back})", understood=False)
        if heads:
            name = heads.pop()
            return found(name, "denied" if state in reading.denied else "answered plainly")
        commands = [h.intent for h in hits if h.intent in self.dialog.global_intents]
        if commands and not also:
            return found(commands[0], "a command")
        # heard but not understood: a sentence is asked about in plain words, a word re-asked
        return found(NO_MATCH, "not understood", understood=not (also or len(words) > 1))

    def _timed(self, state: str, words: list[str], hits: list[_Hit], confidence: float,
               text: str) -> Intent | None:
        """An answer given as a time to a question about one ("yesterday": within three days):
        yes or no; a time that cannot be placed, or that disagrees with the yes or no said, is
        a sentence not understood, asked about in plain words (the state's `clarify`)."""
        within = self.dialog.states[state].within_days
        days = None if within is None else self.when.days(words)
        if within is None or days is None:
            return None
        if in_passing(words, self.dialog.language):
            return None  # "the weather is nice today" says nothing of when it started
        placed = "yes" if days[1] <= within else "no" if days[0] > within else None
        said = {h.intent for h in hits if h.intent in ("yes", "no")
                and words[h.start] in self.dialog.meaning.answer_words}  # not "it is"
        if placed is not None and said <= {placed}:
            return Intent(placed, confidence=confidence, text=text)
        return Intent(NO_MATCH, confidence=confidence, text=text, understood=False)

    def _denied_call(self, words: list[str], hit: _Hit) -> bool:
        """ "Lying still doesn't help" is no call for help, "please don't stop" no stop: a
        one-word command just after a negation; nor "resting does help": just after a word
        that makes it another subject's verb (`calls.told`)."""
        before = words[max(0, hit.start - 2):hit.start]
        return hit.length == 1 and (any(w in self.dialog.meaning.negations for w in before)
                                    or words[hit.start - 1:hit.start] in
                                    [[w] for w in self.dialog.calls.told])

    def _hits(self, words: list[str]) -> list[_Hit]:
        """Non-overlapping phrase occurrences, longest first (so "not sure" beats "sure")."""
        candidates = [
            _Hit(intent, i, len(p))
            for intent, phrases in self._phrases.items()
            for p in phrases
            for i in range(len(words) - len(p) + 1)
            if p and tuple(words[i:i + len(p)]) == p
        ]
        candidates.sort(key=lambda h: (-h.length, h.start))
        taken: set[int] = set()
        hits = []
        for h in candidates:
            span = set(range(h.start, h.start + h.length))
            if not span & taken:
                taken |= span
                hits.append(h)
        return hits

    def _says(self, words: list[str], intent: str) -> bool:
        """Whether any phrase of `intent` occurs in the words, overlapping others or not."""
        return any(
            tuple(words[i:i + len(p)]) == p
            for p in self._phrases.get(intent, ()) if p
            for i in range(len(words) - len(p) + 1)
        )

    def _pain(self, words: list[str], spoken: list[str] | None = None) -> int | None:
        """A 0-10 score in words or digits; "out of ten" is the scale, not the score.

        Two numbers ("six or seven") give the higher: the safer reading of pain. More than two
        are a garbled repeat ("four four five four"): the number said most, when it is said
        more often than all the others together; else None, and the question is asked again.
        A score corrected as it is told ("five, no, four", "a nine earlier, now a seven")
        is the one after the correction. `spoken`: the words with fillers ("so so").
        """
        words = list(words)
        for scale in self._scale:
            for i in range(len(words) - len(scale) + 1):
                if tuple(words[i:i + len(scale)]) == scale:
                    words[i:i + len(scale)] = ["_"] * len(scale)
        found: list[tuple[int, int]] = []
        for i, w in enumerate(words):
            if w in self._numbers:
                found.append((i, self._numbers[w]))
            for phrase, value in self._number_phrases.items():
                if tuple(words[i:i + len(phrase)]) == phrase:
                    found.append((i, value))
        corrected = [i for c in self.dialog.language.pain_corrections
                     for i in range(len(words)) if tuple(words[i:i + len(c.split())]) == tuple(
                         c.split()) and any(j < i for j, _ in found) and any(j > i for j, _ in found)]
        if corrected:
            found = [(j, v) for j, v in found if j > max(corrected)]
        if scores := [v for _, v in found]:
            return _most_said(scores)
        words = list(spoken) if spoken is not None else words
        # no number: a word for it, longest first ("not bad" is not "bad")
        said = [(i, len(p), v) for p, v in self._pain_words
                for i in range(len(words) - len(p) + 1) if tuple(words[i:i + len(p)]) == p]
        taken: set[int] = set()
        low = self.dialog.language.pain_negated
        negations = self.dialog.meaning.negations
        for i, n, v in sorted(said, key=lambda s: -s[1]):
            if not taken & set(range(i, i + n)):
                taken |= set(range(i, i + n))
                if low is not None and v > low and any(w in negations
                                                       for w in words[max(0, i - 2):i]):
                    v = low  # "not too bad", "isn't terrible": mild to medium, never bad
                scores.append(v)
        return max(scores) if scores else None

    def grammar(self, state: str) -> tuple[str, ...]:
        """Every phrase the recognizer may expect in `state`, in spoken forms too ("i can't")."""
        if state not in self._grammars:  # asked on every listen; a state's grammar never changes
            self._grammars[state] = self._build_grammar(state)
        return self._grammars[state]

    def _build_grammar(self, state: str) -> tuple[str, ...]:
        lang = self.dialog.language
        phrases: list[str] = []
        for intent in self.dialog.accepted_intents(state):
            phrases.extend(self.dialog.intents.get(intent, ()))
            if intent == "pain":
                phrases.extend(
                    t.format(n=n) for t in lang.pain_phrases for n in lang.numbers
                )
                phrases.extend(lang.number_words)
        spoken = {v: k for k, v in lang.contractions.items() if "'" in k}
        out: dict[str, None] = {}
        for p in phrases:
            out[p] = None
            for full, short in spoken.items():
                if re.search(rf"\b{full}\b", p):
                    out[re.sub(rf"\b{full}\b", short, p)] = None
        return tuple(out)


def _most_said(scores: list[int]) -> int | None:
    """One number, or two ("six or seven": the higher); of more, the one said more than half
    the time ("one two one one" is one), or None when none is."""
    if len(scores) <= 2:
        return max(scores)
    best = max(set(scores), key=scores.count)
    return best if scores.count(best) * 2 > len(scores) else None
