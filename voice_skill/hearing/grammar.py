"""Phrase sets as the recognizers see them: normalizing, JSGF building, parsing, a bounded cache."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

PhraseKey = tuple[str, ...]
"""A phrase set, normalized, deduplicated and sorted: the same set always gives the same key."""

_WORD = re.compile(r"[a-z][a-z']*|[^\W\d_a-z][^\W\d_]*")
"""A word: lower-case letters with inner apostrophes, or a word in another script (Korean)."""

V = TypeVar("V")


def normalize(phrase: str) -> str:
    """Lower-case, punctuation other than apostrophes turned into spaces, spaces collapsed."""
    text = re.sub(r"[^\w'\s]|_", " ", phrase.lower())
    return " ".join(word.strip("'") for word in text.split() if word.strip("'"))


def phrase_key(phrases: Iterable[str]) -> PhraseKey:
    """The cache key of a phrase set (order and duplicates do not matter)."""
    return tuple(sorted({p for p in (normalize(x) for x in phrases) if p}))


def is_word(token: str) -> bool:
    """Whether a token can go into a grammar as it is (no digits or symbols)."""
    return _WORD.fullmatch(token) is not None


def split_known(phrases: Sequence[str], known: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """The phrases whose every word is known, and the sorted unknown words."""
    kept: list[str] = []
    missing: set[str] = set()
    for phrase in phrases:
        unknown = [w for w in phrase.split() if not (is_word(w) and known(w))]
        missing.update(unknown)
        if not unknown:
            kept.append(phrase)
    return kept, sorted(missing)


def jsgf(phrases: Sequence[str], fillers: Sequence[str], max_phrases: int = 1) -> str:
    """A JSGF grammar: optional leading fillers, then one to `max_phrases` phrases.

    Bounding the sequence matters: with an unbounded loop, speech outside the grammar is
    explained as a long chain of phrases instead of a poor match that can be rejected. One
    phrase is the default: on the fixture corpus, three in a row made decoding 15 times slower
    (real-time factor 3.0 against 0.2) and recognized fewer answers (55 of 88 against 59).
    """
    if not phrases:
        raise ValueError("a grammar needs at least one phrase")
    tail = ""
    for _ in range(max_phrases - 1):
        tail = f" [<phrase>{tail}]"
    rules = ["#JSGF V1.0;", "grammar voice_skill;", f"<phrase> = {' | '.join(phrases)};"]
    if fillers:
        rules.append(f"<filler> = {' | '.join(fillers)};")
        rules.append(f"public <utterance> = [<filler>] <phrase>{tail};")
    else:
        rules.append(f"public <utterance> = <phrase>{tail};")
    return "\n".join(rules) + "\n"


def _splits(tokens: Sequence[str], units: set[tuple[str, ...]]) -> bool:
    """Whether tokens are a concatenation of one or more units (word sequences)."""
    ok = [True] + [False] * len(tokens)
    for end in range(1, len(tokens) + 1):
        ok[end] = any(ok[start] and tuple(tokens[start:end]) in units for start in range(end))
    return ok[-1] and bool(tokens)


def parse(hypothesis: str, phrases: Sequence[str], fillers: Sequence[str],
          max_phrases: int = 1) -> str:
    """The hypothesis without its leading fillers if the rest is what the grammar allows, else "".

    PocketSphinx reports its best partial path even when it did not reach the end of the
    grammar ("no i am" on the way to "no i am not"); such a path is not an answer.
    """
    tokens = hypothesis.split()
    phrase_units = {tuple(p.split()) for p in phrases}
    filler_units = {tuple(f.split()) for f in fillers}
    for k in range(len(tokens)):
        rest = tokens[k:]
        fits = (tuple(rest) in phrase_units if max_phrases == 1
                else _splits(rest, phrase_units))
        if (k == 0 or _splits(tokens[:k], filler_units)) and fits:
            return " ".join(rest)
    return ""


class LruCache(Generic[V]):
    """A small least-recently-used map; `on_evict` releases what an evicted value holds."""

    def __init__(self, size: int, on_evict: Callable[[V], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"cache size must be 1 or more, got {size}")
        self.size = size
        self._items: OrderedDict[PhraseKey, V] = OrderedDict()
        self._on_evict = on_evict

    def get(self, key: PhraseKey, build: Callable[[], V]) -> V:
        """The cached value for key, built (and the oldest evicted) when absent."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = build()
        self._items[key] = value
        while len(self._items) > self.size:
            _, old = self._items.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(old)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
