"""When the keyword judge's second opinion changes what Whisper heard of a one-word answer.

Each rule was kept only where the held-out half of the room benchmark's speakers said so
(docs/benchmarks.md, "keyword judge"); the thresholds are class probabilities of the judge.
A red-flag "yes" is never taken away (one the judge hears as "no" is confirmed), and a "no"
on a red flag is never guessed: one the judge did not hear said is confirmed, not taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voice_skill.hearing.keyword_judge import Verdict


@dataclass(frozen=True)
class OpinionRules:
    """The thresholds; a rule whose threshold is None is off."""

    veto_no_below: float | None = None
    """red flag: Whisper's "no" is asked again when the judge gives "no" less than this"""
    doubt_no_at: float | None = None
    """red flag: a lone "no" Whisper was sure of is confirmed, not taken, when the judge
    gives "other" (a word that is no answer: "go", "so", a TV) at least this ..."""
    doubt_no_below: float = 1.0
    """... and "no" less than this"""
    doubt_yes_below: float | None = None
    """red flag: a lone "yes" Whisper heard is confirmed, not taken, when the judge gives
    "yes" less than this ..."""
    doubt_yes_no_at: float = 0.0
    """... and "no" at least this (a real "no" Whisper heard as "yeah" through noise)"""
    restore_at: float | None = None
    """a lone yes or no that Whisper heard but the unsure-answer check set aside (to ask
    again) is kept as an unsure answer, to be confirmed, when the judge gives that word this
    much"""
    rescue_at: float | None = None
    """a lone word Whisper heard but that answers nothing ("now") is the judge's yes or no
    when the judge gives it this much (confirmed on a red flag)"""
    rescue_near: bool = True
    """the rescue only when Whisper's word begins as the judge's does ("now" for no, not "go")"""
    rescue_silent: bool = False
    """the rescue also when Whisper heard no word at all"""
    stop_at: float | None = None
    """a lone word that answers nothing (or none) is an unsure "stop", confirmed before it is
    acted on, when the judge gives stop this much"""
    stop_near: bool = False
    """the stop only when Whisper's word begins with an s (or there is none, unless
    stop_silent is off)"""
    stop_words: int = 1
    """the stop only when Whisper heard at most this many words ("it's done" for a stop)"""
    stop_never_first: str = ""
    """the stop never when one of Whisper's words begins with one of these letters ("gny":
    not "go", "no", "yes" or their like, which the judge may hear as stop in noise)"""
    stop_silent: bool = True
    """the stop also when Whisper heard no word at all (noise it heard as nothing)"""
    stop_on_red_flag: bool = False
    """the stop on a red-flag question too (off: a red-flag "yes" taken for a stop and
    confirmed with "say yes to stop" could end the screening)"""


@dataclass(frozen=True)
class Opinion:
    """What the second opinion did: the answer it makes ("" asks again; None: left as
    Whisper heard it), and whether that answer must be confirmed (on a red flag)."""

    answer: str | None
    confirm: bool = False
    why: str = ""


class LazyVerdict:
    """The judge's verdict, worked out only when a rule asks for it. Most answers are sure and
    are left as Whisper heard them whatever the judge says, and the judge runs after the turn
    has ended: 60-70 ms of one core here, several times that on a Pi, added to the reply."""

    def __init__(self, judge: Callable[[], Verdict]) -> None:
        self._judge = judge
        self.ran: Verdict | None = None
        """the verdict, once a rule (or get) has asked for it"""

    def get(self) -> Verdict:
        if self.ran is None:
            self.ran = self._judge()
        return self.ran

    def __getitem__(self, word: str) -> float:
        return self.get()[word]


def second_opinion(heard_words: list[str], heard_meaning: str, taken_meaning: str,
                   red_flag: bool, verdict: Verdict | LazyVerdict, rules: OpinionRules,
                   yes_no: bool = True) -> Opinion:
    """The judge's say on one answer. `heard_words`: Whisper's words (the matcher's tokens);
    `heard_meaning`: their intent; `taken_meaning`: the intent after the skill's own checks
    (the unsure-answer check may have made it nothing, to ask again); `yes_no`: whether the
    question takes yes or no (a near word is made one only there)."""
    if (rules.veto_no_below is not None and red_flag and taken_meaning == "no"
            and verdict["no"] < rules.veto_no_below):
        return Opinion("", why=f"judge hears no only {verdict['no']:.2f}")
    if (rules.doubt_no_at is not None and red_flag and taken_meaning == "no"
            and heard_meaning == "no" and len(heard_words) == 1
            and verdict["other"] >= rules.doubt_no_at and verdict["no"] < rules.doubt_no_below):
        return Opinion("no", confirm=True, why=f"judge hears no {verdict['no']:.2f}, "
                                               f"no answer {verdict['other']:.2f}")
    if (rules.doubt_yes_below is not None and red_flag and taken_meaning == "yes"
            and heard_meaning == "yes" and len(heard_words) == 1
            and verdict["yes"] < rules.doubt_yes_below and verdict["no"] >= rules.doubt_yes_no_at):
        return Opinion("yes", confirm=True, why=f"judge hears yes {verdict['yes']:.2f}, "
                                                f"no {verdict['no']:.2f}")
    if (rules.restore_at is not None and not taken_meaning and heard_meaning in ("yes", "no")
            and len(heard_words) == 1 and verdict[heard_meaning] >= rules.restore_at):
        return Opinion(heard_meaning, confirm=True,
                       why=f"judge hears {heard_meaning} {verdict[heard_meaning]:.2f}")
    if taken_meaning in ("yes", "no", "stop", "unsure") or heard_meaning not in ("no_match", ""):
        return Opinion(None)  # an answer, or words that mean something else here ("repeat")
    first = heard_words[0][:1] if heard_words else ""
    if (rules.stop_at is not None and (heard_words or rules.stop_silent)
            and len(heard_words) <= rules.stop_words
            and (not rules.stop_near or first in ("s", ""))
            and not any(w[:1] in rules.stop_never_first for w in heard_words if w)
            and (rules.stop_on_red_flag or not red_flag) and verdict["stop"] >= rules.stop_at):
        return Opinion("stop", confirm=True, why=f"judge hears stop {verdict['stop']:.2f}")
    if len(heard_words) > 1:
        return Opinion(None)
    if rules.rescue_at is not None and yes_no and (heard_words or rules.rescue_silent):
        for word in ("yes", "no"):
            if (not rules.rescue_near or not heard_words or first == word[0]) and (
                    verdict[word] >= rules.rescue_at):
                return Opinion(word, confirm=red_flag,
                               why=f"judge hears {word} {verdict[word]:.2f}")
    return Opinion(None)


DEFAULT_RULES = OpinionRules(restore_at=0.5, rescue_at=0.9, doubt_no_at=0.9, stop_at=0.97,
                             stop_words=3, stop_never_first="gny", doubt_yes_below=0.5,
                             doubt_yes_no_at=0.5)
"""the rules kept on the held-out half of the room benchmark's speakers (docs/benchmarks.md,
"Keyword judge"): a set-aside yes/no the judge gives 0.5 or more (so its likeliest word) is
confirmed instead of asked again;
a lone near word ("now") the judge is sure is yes or no is taken (confirmed on a red flag); a
lone red-flag "no" the judge is sure is no answer at all (a "go", "so", a TV) is confirmed
instead of taken; a lone red-flag "yes" the judge hears as "no" (at least 0.5, "yes" under
0.5: a real "no" Whisper heard as "yeah" through noise) is confirmed, never dropped; and
nothing, or up to three words that answer nothing and none of which begins as "go", "no" or
"yes" ("huh", "ah", "it's done"), that the judge is very sure is "stop" is an unsure stop,
which the session asks about ("Did you say stop?") before it ends anything: live, noise
Whisper heard as nothing was once judged "stop" 0.92 and, before that question, ended a
session. The veto of a red-flag "no" (asked again) lost more real "no"s than "go"s."""
