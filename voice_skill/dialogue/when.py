"""How long ago, from an answer given as a time: "yesterday", "two days ago", "last week".

A yes/no question about a time ("Did this spasm start in the last three days?") is often
answered with the time itself. The words are data (the dialogue's `language`: `days_ago`,
`day_units`, `vague_counts`, `vague_times`); this only places them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from voice_skill.dialogue.dialog import Language

Days = tuple[float, float]
"""how long ago, in days, as a range (low, high): "a few days" is (2, 5)"""
SHORT_TIME_ANSWER = 4
"""words in an answer that is taken as a time all by itself ("about two days ago")"""


def in_passing(words: list[str], lang: Language) -> bool:
    """Whether a time in these words is said in passing ("the weather is nice today"), not as
    when something started: a longer answer with no word of starting (`onset_words`)."""
    return len(words) > SHORT_TIME_ANSWER and not any(
        _at(words, tuple(o.split())) for o in lang.onset_words)


class TimeReader:
    """Places a time said in words as a range of days before now."""

    def __init__(self, lang: Language, split: Callable[[str], list[str]]) -> None:
        def phrases(items: Mapping[str, object] | tuple[str, ...]) -> list[tuple[str, ...]]:
            return sorted((tuple(split(k)) for k in items), key=len, reverse=True)

        self._named = {tuple(split(k)): v for k, v in lang.days_ago.items()}
        self._units = {tuple(split(k)): v for k, v in lang.day_units.items()}
        self._counts: dict[tuple[str, ...], Days] = {
            tuple(split(k)): v for k, v in lang.vague_counts.items()}
        self._counts |= {(w,): (float(i), float(i)) for i, w in enumerate(lang.numbers)}
        self._vague = phrases(lang.vague_times)
        self._named_order = phrases(lang.days_ago)
        self._count_order = sorted(self._counts, key=len, reverse=True)

    def days(self, words: list[str]) -> Days | None:
        """When the words say something happened, as a range of days ago; (0, inf) when a time
        was said that cannot be placed ("on monday"); None when no time was said."""
        found: list[Days] = []
        taken: set[int] = set()
        for p in self._named_order:
            for i in _at(words, p):
                if not taken & set(range(i, i + len(p))):
                    taken |= set(range(i, i + len(p)))
                    found.append((self._named[p], self._named[p]))
        for i, w in enumerate(words):
            unit = self._units.get((w,))
            if unit is None or i in taken:
                continue
            count = self._count_before(words, i)
            found.append((count[0] * unit, count[1] * unit))
        vague = any(_at(words, p) for p in self._vague)
        if vague:
            found.append((0.0, float("inf")))
        if not found:
            return None
        return min(f[0] for f in found), max(f[1] for f in found)

    def _count_before(self, words: list[str], i: int) -> Days:
        """The count of a unit at `i`: "two" days, "a couple of" weeks, "three or four" days;
        alone, one ("weeks": more than one, so at least one)."""
        before = words[max(0, i - 4):i]
        if before and before[-1] == "of":
            before = before[:-1]  # "a couple of days"
        count = self._count(before)
        if len(before) >= 3 and before[-2] == "or" and (other := self._count(before[:-2])):
            return min(count[0], other[0]), max(count[1], other[1])  # "three or four days"
        return count

    def _count(self, before: list[str]) -> Days:
        for p in self._count_order:
            if tuple(before[-len(p):]) == p:
                return self._counts[p]
        if before and before[-1].isdigit():
            n = float(before[-1])
            return n, n
        return 1.0, 1.0


def _at(words: list[str], phrase: tuple[str, ...]) -> list[int]:
    return [i for i in range(len(words) - len(phrase) + 1)
            if tuple(words[i:i + len(phrase)]) == phrase]
