"""The dialogue as data: one loader turns dialogs/*.yaml into frozen, cross-checked objects."""

from __future__ import annotations

import re
import string
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from voice_skill.errors import DialogError
from voice_skill.events import Level
from voice_skill.yamlfile import LineDict, YamlFileError, load_yaml

Kind = Literal["question", "say", "timed", "escalation", "final"]
KINDS: tuple[Kind, ...] = ("question", "say", "timed", "escalation", "final")
LEVELS: tuple[Level, ...] = ("emergency", "urgent", "routine")
RESUME = "@resume"
"""A target meaning: back to where the dialogue was before an URGENT escalation."""
RESERVED_STATES = ("_start", "_ended")
"""the state machine's own states, before the first and after the last"""

REQUIRED_MESSAGES = (
    "not_understood", "moving_on", "slower", "paused", "still_paused", "resumed",
    "pause_expired", "confirm_red_flag", "red_flag_default", "goodbye", "safety_line",
    "emergency_ended",
)
MESSAGES_FOR_INTENT = {"time_left": ("time_left", "time_left_short", "no_timer")}
"""messages a dialogue needs when it lets the person say that intent"""
WHEN_HEARD = {False: "when_heard", True: "when_heard_over_speech"}
"""the message that fills {when_heard} in what is said, by the barge_in setting: what the
skill tells the person about interrupting it must be true"""
REQUIRED_GLOBALS = ("repeat", "slower", "pause", "resume", "stop", "help", "emergency")
TEMPLATE_FIELDS = frozenset(
    {"emergency_number", "pain_start", "pain_end", "cold_or_heat", "minutes", "rounds",
     "urgent_reasons", "routine_reasons", "minutes_left", "when_heard", "start_phrase",
     "wake_word"}
)
OPPOSITES = (("yes", "no"), ("ready", "cannot"), ("stop", "resume"), ("pause", "resume"),
             ("back", "side"))
"""answers that must never be heard as each other: no phrase of one is made only of words
that answer the other ("no": [..., "yes"] would make "yes" a no)"""
SAFETY = ("help", "emergency")
"""no phrase of another intent holds a one-word phrase of these ("no help" would be a "no")"""
MAX_TIMED_S = 3 * 3600.0
"""a timed state runs at most this long, as do its cues (ice and heat take 1,200 s)"""
MAX_ROUNDS = 100
MAX_CUES = 100
"""per state"""
MAX_SPOKEN_CUES = 500
"""cues times rounds: the timers a timed state sets at once (breathing sets 40)"""
MAX_VISITS = 100


def bundled_dialog_path() -> Path:
    """The back-spasm dialogue shipped with the package."""
    return Path(str(resources.files("voice_skill.dialogs") / "back_spasm.yaml"))


@dataclass(frozen=True)
class SummaryLine:
    """A line of the closing summary: message `say` when every field it names is known, else
    message `otherwise` (if any)."""

    say: str
    otherwise: str | None = None
    same: str | None = None
    """said instead when the numbers `say` names are all equal ("from 3 to 3")"""
    one: str | None = None
    """said instead when the number `say` names is 1 ("1 minutes")"""

    def messages(self) -> tuple[str, ...]:
        """Every message the line may say."""
        return tuple(k for k in (self.say, self.otherwise, self.same, self.one) if k)


@dataclass(frozen=True)
class Cue:
    """Something a timed state says `at_s` seconds into a round."""

    at_s: float
    text: str


@dataclass(frozen=True)
class RedFlag:
    """A screening question whose "yes" raises `level`, and the words that tell its symptom."""

    level: Level
    reason: str
    confirm: str = ""
    """the question in plain words, asked when an answer was heard but not clearly understood"""
    about: tuple[str, ...] = ()
    """what the question is about ("bladder", "legs"): with a sign, a trouble or a lost ability,
    the symptom is stated; with a negation, denied"""
    signs: tuple[str, ...] = ()
    """what is wrong when it is this symptom ("numb", "weak"); alone, on its own question"""
    tells: tuple[str, ...] = ()
    """phrases that state the symptom on any question ("i fell", "chest pain")"""
    denials: tuple[str, ...] = ()
    """phrases that answer no without a "no" ("it is lower down", "lying still helps")"""
    alone: tuple[str, ...] | None = None
    """signs that state the symptom on its own question with no topic named (default: all the
    signs); "hurts" alone is not chest pain"""
    excuses: tuple[str, ...] = ()
    """reasons that make a stated sign no symptom of this flag ("dieting", for weight lost
    without trying)"""
    effects: tuple[str, ...] = ()
    """the symptom told by what happens, on its own question ("it just came out", "my trousers
    were soaked"): stated unless negated, a lost ability with them is the symptom"""


@dataclass(frozen=True)
class Meaning:
    """Words that say how a sentence answer is meant: negation, loss, trouble, wellness."""

    negations: tuple[str, ...] = ()
    abilities: tuple[str, ...] = ()
    losses: tuple[str, ...] = ()
    troubles: tuple[str, ...] = ()
    fine: tuple[str, ...] = ()
    clause_breaks: tuple[str, ...] = ()
    scope_ends: tuple[str, ...] = ()
    answer_words: tuple[str, ...] = ()
    hedges: tuple[str, ...] = ()
    """words that take back what went before ("no ... well, I mean ..."): after a leading "no"
    the rest must itself deny the flag, or the answer is confirmed"""
    others: tuple[str, ...] = ()
    """other people ("my mum"): with `not_me` in the answer, a clause they open is theirs"""
    not_me: tuple[str, ...] = ()
    """"not me": what the other people in the answer had is not the person's own"""
    feelings: tuple[str, ...] = ()
    """after "feel", a state, not an ability: "I don't feel ill" is no loss of feeling"""
    affirmations: tuple[str, ...] = ()
    """after an opening "no", these affirm that something happened ("no, I did go a bit"):
    the no is taken back"""
    comparisons: tuple[str, ...] = ()
    """between a negation and a sign, these put the negation on the degree: "never been this
    weak" states the weakness"""


@dataclass(frozen=True)
class State:
    """One state of the dialogue; which fields matter depends on `kind`."""

    name: str
    kind: Kind
    line: int
    source: tuple[str, ...] = ()
    say: tuple[str, ...] = ()
    ask: str | None = None
    reprompts: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    on: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None
    """where to go when re-asks run out (not for red flags: they escalate)"""
    then: str | None = None
    """where a say or timed state goes when it is done"""
    red_flag: RedFlag | None = None
    level: Level | None = None
    """the level of an escalation state"""
    store: str | None = None
    """name under which a pain answer is kept"""
    duration_s: float = 0.0
    rounds: int = 1
    round_s: float = 0.0
    cues: tuple[Cue, ...] = ()
    record: Mapping[str, str | int] = field(default_factory=dict)
    max_visits: int | None = None
    when_exhausted: str | None = None
    summary: tuple[SummaryLine, ...] = ()
    """the closing summary said on arrival, line by line"""
    on_stop: tuple[str, ...] = ()
    """said before goodbye when the person stops here ("Take the ice off now.")"""
    within_days: float | None = None
    """a yes/no question about a time: an answer given as a time ("yesterday", "last week") is
    a yes when it is at most this many days ago, a no when more"""
    clarify: str | None = None
    """asked when an answer was heard but could not be placed ("it started on Monday")"""

    @property
    def is_question(self) -> bool:
        """Whether the state asks something (and so waits for an answer)."""
        return self.ask is not None

    @property
    def total_s(self) -> float:
        """How long a timed state runs (seconds)."""
        return self.duration_s if self.duration_s else self.rounds * self.round_s

    def targets(self) -> dict[str, str]:
        """Every way out of this state, labelled (intent, default, then, ...)."""
        out = dict(self.on)
        for label, target in (("default", self.default), ("then", self.then),
                              ("when_exhausted", self.when_exhausted)):
            if target:
                out[label] = target
        return out


@dataclass(frozen=True)
class Language:
    """How people say things: normalization tables and the spoken forms of pain scores."""

    fillers: frozenset[str] = frozenset()
    """words dropped before an answer is matched ("um", "well")"""
    lead_ins: tuple[str, ...] = ()
    """what people say before an answer, that a recognizer's grammar lets through ("i think")"""
    contractions: Mapping[str, str] = field(default_factory=dict)
    numbers: tuple[str, ...] = ()
    """number words, index = value ("zero" .. "ten")"""
    number_words: Mapping[str, int] = field(default_factory=dict)
    pain_words: Mapping[str, int] = field(default_factory=dict)
    """a score said in words ("mild", "bad"), for a person who finds a number hard"""
    scale_words: tuple[str, ...] = ()
    pain_phrases: tuple[str, ...] = ()
    """templates with {n}, e.g. "about a {n}" """
    pain_negated: int | None = None
    """the score of a pain word after a negation ("not too bad", "not terrible")"""
    pain_corrections: tuple[str, ...] = ()
    """between two scores, these make the later one the answer ("five, no, four")"""
    onset_words: tuple[str, ...] = ()
    """words that make a time in a longer answer the time something started ("it started")"""
    agreeing: tuple[str, ...] = ()
    """`ready` phrases that also agree to a yes-or-no question ("okay"; never "done")"""
    days_ago: Mapping[str, float] = field(default_factory=dict)
    """named times, in days before now ("yesterday": 1, "last week": 7)"""
    day_units: Mapping[str, float] = field(default_factory=dict)
    """units of time in days ("week": 7), counted by a number before them ("two weeks")"""
    vague_counts: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """counts that are a range ("a few": 2 to 5): a time is placed only if the whole range is"""
    vague_times: tuple[str, ...] = ()
    """times that cannot be placed without asking ("on monday", "the other day")"""


@dataclass(frozen=True)
class Wake:
    """What `voice-skill serve` listens for while it waits."""

    start: tuple[str, ...] = ()
    """phrases that start a session ("first aid")"""
    emergency: tuple[str, ...] = ()
    """phrases that go straight to the emergency instruction (those of `emergency_intents`)"""
    emergency_intent: str = "emergency"
    """the intent a session starts with when an emergency phrase is heard"""


@dataclass(frozen=True)
class Calls:
    """How a call for help is said in ordinary words: a verb of calling, a few words, then the
    emergency number in any spelling or a name of the emergency services."""

    verbs: tuple[str, ...] = ()
    """asking for the call: "call", "dial", "ring", "get" """
    made: tuple[str, ...] = ()
    """the call already made: "called", "rang" """
    unmade: tuple[str, ...] = ()
    """said just before, these say the call is not made: "not", "nobody" """
    between: tuple[str, ...] = ()
    """words that may stand between the verb and whom it calls: "me", "an", "for" """
    told: tuple[str, ...] = ()
    """just before a one-word command, these make it another subject's verb, not a call:
    "resting does help", "that would help" """
    services: tuple[str, ...] = ()
    """whom a call for help calls: "ambulance", "paramedics", "emergency services" """
    numbers: tuple[str, ...] = ()
    """the well-known emergency numbers, as digits (the settings' own number is added)"""
    group_words: Mapping[str, int] = field(default_factory=dict)
    """digits said as a group: "eleven" (nine eleven), "twelve" (one twelve), "ninety" """
    repeats: Mapping[str, int] = field(default_factory=dict)
    """a digit said this many times: "triple" (triple nine), "double" """


@dataclass(frozen=True)
class Dialog:
    """A whole dialogue, validated."""

    path: Path
    start: str
    sources: Mapping[str, str]
    intents: Mapping[str, tuple[str, ...]]
    global_intents: tuple[str, ...]
    messages: Mapping[str, str]
    states: Mapping[str, State]
    language: Language = Language()
    wake: Wake = Wake()
    meaning: Meaning = Meaning()
    understood: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """more phrases per intent that the matcher reads and the recognizer is not told to expect"""
    calls: Calls = Calls()

    def question(self, state: str) -> str:
        """What the person was asked in `state`, as context for the recognizer.

        A state that asks nothing (a timer running) gives the `listening_hint` message: the
        commands a person may say then. "" when the dialogue has no such message.
        """
        return self.states[state].ask or self.messages.get("listening_hint", "")

    def accepted_intents(self, state: str) -> tuple[str, ...]:
        """What may be said in `state`: its answers, then the global commands.

        A red-flag question always hears "unsure": it is answered by confirming, then escalating.
        """
        s = self.states[state]
        own = s.expect + (("unsure",) if s.red_flag and "unsure" not in s.expect else ())
        return own + tuple(i for i in self.global_intents if i not in own)

    def resume_targets(self) -> tuple[str, ...]:
        """Where an URGENT escalation may return to: the "no" of each urgent red flag."""
        return tuple(
            s.on["no"] for s in self.states.values()
            if s.red_flag and s.red_flag.level == "urgent" and "no" in s.on
        )


# ----------------------------------------------------------------------------------------------
# loading


class _Reader:
    """Typed access to one YAML mapping, raising DialogError with file, line and field."""

    def __init__(self, path: Path, data: Any, where: str, line: int = 0) -> None:
        if not isinstance(data, LineDict):
            raise DialogError(str(path), "must be a mapping (key: value)", line or None, where)
        self.path, self.data, self.where = path, data, where

    def fail(self, key: str, message: str) -> DialogError:
        """A DialogError naming the file, line and key."""
        return DialogError(str(self.path), message, self.data.line_of(key), self._field(key))

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def only(self, allowed: set[str]) -> None:
        """Refuse keys other than these (a typo is an error, not ignored)."""
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown field (expected one of: {', '.join(sorted(allowed))})")

    def text(self, key: str, required: bool = False) -> str | None:
        """A text value (None when absent and not required); templates checked."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise DialogError(str(self.path), "missing", self.data.line, self._field(key))
            return None
        if not isinstance(value, str) or not visible(value):
            raise self.fail(key, "must be non-empty text (letters, not only spaces or invisible"
                                 " characters)")
        _check_template(self, key, value)
        return value.strip()

    def texts(self, key: str) -> tuple[str, ...]:
        """A text or a list of texts, as a list."""
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and visible(v) for v in value):
            raise self.fail(key, "must be a list of non-empty texts (letters, not only spaces or"
                                 " invisible characters)")
        for v in value:
            _check_template(self, key, v)
        return tuple(v.strip() for v in value)

    def number(self, key: str, default: float = 0.0, minimum: float = 0.0,
               maximum: float = MAX_TIMED_S) -> float:
        """A number value from `minimum` to `maximum` (never NaN or infinite)."""
        value = self.data.get(key, default)
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not minimum <= value <= maximum):  # NaN compares false
            raise self.fail(key, f"must be a number from {minimum:g} to {maximum:g}")
        return float(value)

    def whole(self, key: str, default: int | None, minimum: int, maximum: int) -> int | None:
        """A whole number from `minimum` to `maximum` (None when absent and no default)."""
        value = self.data.get(key)
        value = default if value is None else value  # `rounds:` with nothing is left out
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(key, f"must be a whole number from {minimum} to {maximum}")
        return value

    def mapping(self, key: str) -> _Reader | None:
        """A nested mapping, as a reader."""
        value = self.data.get(key)
        if value is None:
            return None
        return _Reader(self.path, value, self._field(key), self.data.line_of(key))


def visible(text: str) -> bool:
    """Whether `text` shows anything: a zero-width space or a lone control character would be
    said as nothing (an emergency instruction of silence)."""
    return any(c.isprintable() and not c.isspace() for c in text)


def template_fields(text: str) -> set[str]:
    """The {fields} a message names. Raises ValueError for a malformed one."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def template_problem(text: str, known: frozenset[str]) -> str | None:
    """Why `text` cannot be filled safely with the `known` fields, or None.

    Only a bare {field}: a format spec or conversion ({emergency_number:d}, {x!r}) raises or
    misquotes when the sentence is finally said, which may be at the escalation.
    """
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"bad {{placeholder}}: {exc}"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in known:
            return f"unknown placeholder {{{name}}} (known: {', '.join(sorted(known))})"
        if spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            return f"placeholder {{{shown}}}: write {{{name}}}, without a format or conversion"
    return None


def _check_template(reader: _Reader, key: str, value: str) -> None:
    if (problem := template_problem(value, TEMPLATE_FIELDS)) is not None:
        raise reader.fail(key, problem)


_STATE_FIELDS = {
    "kind", "source", "say", "ask", "reprompts", "expect", "on", "default", "then", "red_flag",
    "level", "store", "duration_s", "rounds", "round_s", "cues", "record", "max_visits",
    "when_exhausted", "summary", "on_stop", "within_days", "clarify",
}


def _load_state(path: Path, name: str, raw: Any, line: int) -> State:
    r = _Reader(path, raw, f"states.{name}", line)
    r.only(_STATE_FIELDS)
    d = r.data
    ask = r.text("ask")
    kind = d.get("kind") or ("question" if ask else "timed" if "cues" in d else "say")
    if kind not in KINDS:
        raise r.fail("kind", f"must be one of {', '.join(KINDS)}")
    red_flag = None
    if (rf := r.mapping("red_flag")) is not None:
        rf.only({"level", "reason", "confirm", "about", "signs", "tells", "denials", "alone",
                 "effects", "excuses"})
        level = rf.data.get("level")
        if level not in LEVELS:
            raise rf.fail("level", f"must be one of {', '.join(LEVELS)}")
        red_flag = RedFlag(
            level=level, reason=cast(str, rf.text("reason", required=True)),
            confirm=rf.text("confirm") or "", about=_phrases(rf, "about"),
            signs=_phrases(rf, "signs"), tells=_phrases(rf, "tells"),
            denials=_phrases(rf, "denials"), effects=_phrases(rf, "effects"),
            excuses=_phrases(rf, "excuses"),
            alone=_phrases(rf, "alone") if "alone" in rf.data else None)
    level = d.get("level")
    if kind == "escalation" and level not in LEVELS:
        raise r.fail("level", f"an escalation needs a level: one of {', '.join(LEVELS)}")
    if kind != "escalation" and level is not None:
        raise r.fail("level", "only an escalation has a level (a red flag: red_flag.level)")
    on_raw = r.mapping("on")
    on: dict[str, str] = {}
    if on_raw is not None:
        for intent, target in on_raw.data.items():
            if not isinstance(target, str):
                raise on_raw.fail(intent, "must name a state")
            on[intent] = target
    expect = r.texts("expect")
    cues = []
    raw_cues = d.get("cues") or []
    if not isinstance(raw_cues, list) or len(raw_cues) > MAX_CUES:
        raise r.fail("cues", f"must be a list of at most {MAX_CUES} {{at_s: seconds, say: text}}")
    for i, cue in enumerate(raw_cues):
        c = _Reader(path, cue, f"states.{name}.cues[{i}]", d.line_of("cues"))
        c.only({"at_s", "say"})
        cues.append(Cue(at_s=c.number("at_s"), text=cast(str, c.text("say", required=True))))
    record: dict[str, str | int] = {}
    if (rec := r.mapping("record")) is not None:
        record = {k: v for k, v in rec.data.items() if isinstance(v, str | int)}
    max_visits = r.whole("max_visits", None, 1, MAX_VISITS)
    return State(
        name=name, kind=kind, line=line,
        source=r.texts("source"), say=r.texts("say"), ask=ask, reprompts=r.texts("reprompts"),
        expect=expect, on=MappingProxyType(on), default=r.text("default"), then=r.text("then"),
        red_flag=red_flag, level=level, store=r.text("store"),
        duration_s=r.number("duration_s"), rounds=cast(int, r.whole("rounds", 1, 1, MAX_ROUNDS)),
        round_s=r.number("round_s"), cues=tuple(cues), record=MappingProxyType(record),
        max_visits=max_visits, when_exhausted=r.text("when_exhausted"),
        summary=_summary_lines(r), on_stop=r.texts("on_stop"),
        within_days=r.number("within_days") if "within_days" in d else None,
        clarify=r.text("clarify"),
    )


def _phrases(r: _Reader, key: str) -> tuple[str, ...]:
    """Lower-case phrases of words only, as the intent matcher reads them."""
    phrases = tuple(p.lower() for p in r.texts(key))
    for p in phrases:
        if not all(w.isalpha() for w in p.split()):
            raise r.fail(key, f"phrase {p!r}: words only, no digits or punctuation")
    return phrases


def _load_meaning(r: _Reader | None) -> Meaning:
    if r is None:
        return Meaning()
    keys = ("negations", "abilities", "losses", "troubles", "fine", "clause_breaks", "scope_ends",
            "answer_words", "hedges", "comparisons",
            "affirmations", "feelings", "others", "not_me")
    r.only(set(keys))
    return Meaning(**{k: _phrases(r, k) for k in keys})


def _load_calls(r: _Reader | None) -> Calls:
    if r is None:
        return Calls()
    r.only({"verbs", "made", "unmade", "between", "services", "numbers", "group_words",
            "repeats", "told"})
    numbers = r.texts("numbers")
    for n in numbers:
        if not re.fullmatch(r"[0-9]{2,6}", n):
            raise r.fail("numbers", f"{n!r}: 2-6 digits, quoted (\"000\", not 000)")

    def table(key: str, low: int, high: int) -> dict[str, int]:
        value = r.data.get(key, {})
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and k.isalpha() and isinstance(v, int)
                and not isinstance(v, bool) and low <= v <= high for k, v in value.items()):
            raise r.fail(key, f"must map a word to a whole number from {low} to {high}")
        return {k.lower(): v for k, v in value.items()}

    return Calls(verbs=_phrases(r, "verbs"), made=_phrases(r, "made"),
                 unmade=_phrases(r, "unmade"), told=_phrases(r, "told"),
                 between=_phrases(r, "between"), services=_phrases(r, "services"),
                 numbers=numbers, group_words=MappingProxyType(table("group_words", 0, 99)),
                 repeats=MappingProxyType(table("repeats", 2, 9)))


def _summary_lines(r: _Reader) -> tuple[SummaryLine, ...]:
    raw = r.data.get("summary", [])
    if not isinstance(raw, list):
        raise r.fail("summary", "must be a list of {say: message, otherwise: message}")
    lines = []
    for i, item in enumerate(raw):
        line = _Reader(r.path, item, f"{r.where}.summary[{i}]", r.data.line_of("summary"))
        line.only({"say", "otherwise", "same", "one"})
        lines.append(SummaryLine(cast(str, line.text("say", required=True)), line.text("otherwise"),
                                 line.text("same"), line.text("one")))
    return tuple(lines)


def load_dialog(path: Path | None = None) -> Dialog:
    """Load and cross-check one dialogue file; any fault is a DialogError naming file/line/field."""
    path = path or bundled_dialog_path()
    try:
        raw = load_yaml(path)
    except YamlFileError as exc:
        raise DialogError(str(path), exc.reason, exc.line) from None
    top = _Reader(path, raw, "")
    top.only({"version", "start", "sources", "intents", "global_intents", "language", "messages",
              "states", "wake", "meaning", "understood", "calls"})
    if top.data.get("version") != 1:
        raise top.fail("version", "must be 1")

    sources_r = top.mapping("sources")
    sources: dict[str, str] = {}
    for key, value in (sources_r.data.items() if sources_r else ()):
        if not isinstance(value, str) or not value.strip():
            raise cast(_Reader, sources_r).fail(key, "must be non-empty text: what the source is")
        sources[key] = value

    intents_r = top.mapping("intents")
    if intents_r is None:
        raise top.fail("intents", "missing")
    owner: dict[str, str] = {}
    intents = _intent_phrases(intents_r, owner)
    understood_r = top.mapping("understood")
    understood = _intent_phrases(understood_r, owner) if understood_r else {}
    for name in understood:
        if name not in intents:
            raise understood_r.fail(name, "not an intent (not under intents)")  # type: ignore
    heard = {name: phrases + understood.get(name, ()) for name, phrases in intents.items()}
    _check_opposites(heard, lambda name, p: understood_r if understood_r is not None
                     and p in understood.get(name, ()) else intents_r)

    global_intents = top.texts("global_intents")
    for g in REQUIRED_GLOBALS:
        if g not in global_intents:
            raise top.fail("global_intents", f"must include {g!r}")
    for g in global_intents:
        if g not in intents:
            raise top.fail("global_intents", f"{g!r} has no phrases under intents")
        if not heard[g]:  # an empty `help: []`: "help" would never be understood
            raise intents_r.fail(g, f"no phrases: {g!r} is said at any time, so it needs at"
                                    " least one phrase")

    messages_r = top.mapping("messages")
    if messages_r is None:
        raise top.fail("messages", "missing")
    messages = {k: cast(str, messages_r.text(k, required=True)) for k in messages_r.data}
    needed = [m for i, ms in MESSAGES_FOR_INTENT.items() if i in intents for m in ms]
    for m in (*REQUIRED_MESSAGES, *needed):
        if m not in messages:
            raise DialogError(str(path), "missing", messages_r.data.line, f"messages.{m}")

    states_r = top.mapping("states")
    if states_r is None or not states_r.data:
        raise top.fail("states", "missing or empty")
    states = {
        name: _load_state(path, name, raw_state, states_r.data.line_of(name))
        for name, raw_state in states_r.data.items()
    }
    texts = [*messages.values(), *(t for st in states.values()
                                   for t in (*st.say, st.ask or "", *st.reprompts))]
    if any("{when_heard}" in t for t in texts):
        for m in WHEN_HEARD.values():
            if m not in messages:
                raise DialogError(str(path), "missing (a text says {when_heard})",
                                  messages_r.data.line, f"messages.{m}")
    language = _load_language(top.mapping("language"))
    _check_rewrites(language, heard, top)
    dialog = Dialog(
        language=language,
        path=path, start=cast(str, top.text("start", required=True)),
        sources=MappingProxyType(sources), intents=MappingProxyType(intents),
        global_intents=global_intents, messages=MappingProxyType(messages),
        states=MappingProxyType(states), wake=_load_wake(top.mapping("wake"), intents),
        meaning=_load_meaning(top.mapping("meaning")), understood=MappingProxyType(understood),
        calls=_load_calls(top.mapping("calls")),
    )
    _cross_check(dialog, states_r)
    _check_crossings(dialog, intents_r, understood_r)
    if problems := check(dialog):
        raise DialogProblems(problems)
    return dialog


def _intent_phrases(r: _Reader, owner: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Each intent's phrases: words only, and no phrase for two intents (`owner` remembers)."""
    out: dict[str, tuple[str, ...]] = {}
    for name in r.data:
        phrases = tuple(p.lower() for p in r.texts(name))
        for p in phrases:
            if not all(w.isalpha() for w in p.split()):
                raise r.fail(name, f"phrase {p!r}: words only, no digits or punctuation")
            if p in owner:
                raise r.fail(name, f"phrase {p!r} is also an answer for {owner[p]!r}")
            owner[p] = name
        out[name] = phrases
    return out


def _check_opposites(intents: Mapping[str, tuple[str, ...]],
                     reader: Callable[[str, str], _Reader]) -> None:
    """No answer may be heard as its opposite, and nothing may swallow a call for help.

    `intents` holds every phrase each intent is heard by; `reader` gives the section a phrase
    is written in (intents or understood), for the message.
    """
    words = {name: {p for p in phrases if " " not in p} | {name}
             for name, phrases in intents.items()}
    for name, phrases in intents.items():
        for p in phrases:
            if p in intents and p != name:
                raise reader(name, p).fail(name, f"phrase {p!r} is the name of intent {p!r}: it"
                                                 f" would be heard as {name!r}")
    for a, b in [*OPPOSITES, *((b, a) for a, b in OPPOSITES)]:
        for p in intents.get(a, ()) if b in intents else ():
            if set(p.split()) <= words[b]:  # "yeah sure" under no; "definitely not" is a no
                raise reader(a, p).fail(a, f"phrase {p!r} is said only in answers of {b!r}: it"
                                           f" would be heard as {a!r}")
    for safe in (s for s in SAFETY if s in intents):
        for name, phrases in intents.items():
            held = next((p for p in phrases if set(p.split()) & words[safe]), None)
            if name not in SAFETY and held is not None:
                raise reader(name, held).fail(name, f"phrase {held!r} holds a call for {safe!r}:"
                                                    f" the longer phrase wins, so it would be"
                                                    f" heard as {name!r}")


def _check_crossings(d: Dialog, intents_r: _Reader, understood_r: _Reader | None) -> None:
    """No answer holds a plain answer of its opposite (its name, or one of the dialogue's
    meaning.answer_words that answers it) without a negation to turn it round: "yes please"
    among the no's would pass a red-flag yes as a no; "definitely not" is a no."""
    negations, plain = set(d.meaning.negations), set(d.meaning.answer_words)
    heard = {name: phrases + d.understood.get(name, ()) for name, phrases in d.intents.items()}
    for a, b in [*OPPOSITES, *((b, a) for a, b in OPPOSITES)]:
        if a not in heard or b not in heard:
            continue
        answers_b = {b} | {p for p in heard[b] if p in plain}
        for p in heard[a]:
            crossing = [w for w in p.split() if w in answers_b]
            if crossing and not negations & set(p.split()):
                reader = (understood_r if understood_r is not None
                          and p in d.understood.get(a, ()) else intents_r)
                raise reader.fail(a, f"phrase {p!r} holds {crossing[0]!r}, a plain answer of"
                                     f" {b!r}, and no negation: it would be heard as {a!r}")


def _check_rewrites(language: Language, intents: Mapping[str, tuple[str, ...]],
                    top: _Reader) -> None:
    """A filler is dropped and a contraction rewritten before matching: neither may be an
    answer ("yes" as a filler is never heard; "yes": "no" as a contraction reads yes as no)."""
    answers = {p: name for name, phrases in intents.items() for p in phrases if " " not in p}
    for word in (*language.fillers, *language.contractions):
        if word in answers:
            kind = "filler" if word in language.fillers else "contraction"
            raise DialogError(str(top.path), f"{kind} {word!r} is an answer of {answers[word]!r}:"
                                             " it would never be heard as one",
                              top.data.line_of("language"), "language")


def _load_wake(r: _Reader | None, intents: Mapping[str, tuple[str, ...]]) -> Wake:
    if r is None:
        return Wake()
    r.only({"start", "emergency_intents"})
    start = tuple(p.lower() for p in r.texts("start"))
    names = r.texts("emergency_intents")
    for name in names:
        if name not in intents:
            raise r.fail("emergency_intents", f"unknown intent {name!r} (not under intents)")
    emergency = tuple(p for name in names for p in intents[name])
    return Wake(start, emergency, "emergency" if "emergency" in names else (names or ("",))[0])


def _load_language(r: _Reader | None) -> Language:
    if r is None:
        return Language()
    r.only({"fillers", "lead_ins", "contractions", "numbers", "number_words", "pain_words",
            "scale_words", "pain_phrases", "pain_negated", "days_ago", "day_units",
            "vague_counts", "vague_times", "pain_corrections", "agreeing", "onset_words"})

    def words(key: str) -> tuple[str, ...]:
        value = r.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise r.fail(key, "must be a list of texts")
        return tuple(v.lower() for v in value)

    def table(key: str, kind: type | types.UnionType) -> dict[str, Any]:
        value = r.data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, kind) for v in value.values()):
            raise r.fail(key, f"must map text to {getattr(kind, '__name__', 'numbers')}")
        return {str(k).lower(): v for k, v in value.items()}

    pain_phrases = words("pain_phrases")
    for p in pain_phrases:
        if "{n}" not in p:
            raise r.fail("pain_phrases", f"{p!r} must contain {{n}} (the number)")
        if (problem := template_problem(p, frozenset({"n"}))) is not None:
            raise r.fail("pain_phrases", f"{p!r}: {problem}")
    number_words, pain_words = table("number_words", int), table("pain_words", int)
    for key, scores in (("number_words", number_words), ("pain_words", pain_words)):
        for word, value in scores.items():
            if isinstance(value, bool) or not 0 <= value <= 10:
                raise r.fail(key, f"{word!r}: a pain score is a whole number from 0 to 10")
    return Language(
        fillers=frozenset(words("fillers")),
        lead_ins=words("lead_ins"),
        contractions=MappingProxyType(table("contractions", str)),
        numbers=words("numbers"),
        number_words=MappingProxyType(number_words),
        pain_words=MappingProxyType(pain_words),
        scale_words=words("scale_words"),
        pain_phrases=pain_phrases,
        pain_negated=r.whole("pain_negated", None, 0, 10),
        pain_corrections=words("pain_corrections"),
        agreeing=words("agreeing"),
        onset_words=words("onset_words"),
        days_ago=MappingProxyType({k: float(v) for k, v in table("days_ago", int | float).items()}),
        day_units=MappingProxyType({k: float(v)
                                    for k, v in table("day_units", int | float).items()}),
        vague_counts=MappingProxyType(_ranges(r, table("vague_counts", list))),
        vague_times=words("vague_times"),
    )


def _ranges(r: _Reader, table: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """`{few: [2, 5]}`: each count a range, low to high."""
    out = {}
    for k, v in table.items():
        if (len(v) != 2 or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                   for x in v) or v[0] > v[1]):
            raise r.fail("vague_counts", f"{k!r}: a range is [low, high]")
        out[k] = (float(v[0]), float(v[1]))
    return out


def _cross_check(d: Dialog, states_r: _Reader) -> None:
    """References and per-kind requirements; graph properties live in check.py."""
    path = str(d.path)
    if d.start not in d.states:
        raise DialogError(path, f"unknown state {d.start!r}", None, "start")

    def fail(s: State, fld: str, message: str) -> DialogError:
        return DialogError(path, message, s.line, f"states.{s.name}.{fld}")

    escalation_levels = {s.level for s in d.states.values() if s.kind == "escalation"}
    for s in d.states.values():
        for src in s.source:
            if src not in d.sources:
                raise fail(s, "source", f"unknown source {src!r} (not under sources)")
        for label, target in s.targets().items():
            if target == RESUME:
                if s.kind != "escalation":
                    raise fail(s, f"on.{label}", f"{RESUME} is only for escalation states")
                continue
            if target not in d.states:
                raise fail(s, label if label in ("default", "then", "when_exhausted")
                           else f"on.{label}", f"unknown target state {target!r}")
        for intent in s.expect:
            if intent not in d.intents:
                raise fail(s, "expect", f"unknown intent {intent!r} (not under intents)")
        for line in s.summary:
            for key in line.messages():
                if key not in d.messages:
                    raise fail(s, "summary", f"unknown message {key!r} (not under messages)")
        for intent in s.on:
            if intent not in s.expect:
                raise fail(s, f"on.{intent}", f"{intent!r} is not in expect")
        if s.kind in ("question", "escalation") and s.ask is not None:
            for intent in s.expect:
                if intent not in s.on:
                    raise fail(s, "on", f"no transition for expected answer {intent!r}")
        if s.kind == "question" and s.ask is None:
            raise fail(s, "ask", "a question needs an ask")
        if s.kind == "say" and not s.then:
            raise fail(s, "then", "a say state needs `then`: where to go next")
        listens = s.kind == "question" or (s.kind == "escalation" and s.level != "emergency")
        if listens and not s.red_flag and not s.default:
            raise fail(s, "default", "a question needs a default: where unclear answers go after"
                                     " the re-asks (a red-flag question has red_flag instead)")
        for label, target in s.targets().items():
            esc = d.states.get(target)
            if esc is None or esc.kind != "escalation":
                continue
            if not s.red_flag or label != "yes" or s.red_flag.level != esc.level:
                raise fail(s, label if label in ("default", "then", "when_exhausted")
                           else f"on.{label}", f"leads to escalation {target!r}: only the yes of"
                           f" a red-flag question of level {esc.level} may (red_flag: {{level:"
                           f" {esc.level}, reason: ...}})")
        if s.kind == "timed":
            if s.rounds > 1 and (not s.round_s or s.duration_s):
                raise fail(s, "rounds", "rounds over 1 need round_s (seconds a round), and no"
                                        " duration_s")
            if not s.cues:
                raise fail(s, "cues", "a timed state needs cues")
            if len(s.cues) * s.rounds > MAX_SPOKEN_CUES:
                raise fail(s, "rounds", f"{len(s.cues)} cues in each of {s.rounds} rounds: at"
                                        f" most {MAX_SPOKEN_CUES} cues in all")
            if not s.then:
                raise fail(s, "then", "a timed state needs `then`")
            if s.total_s <= 0:
                raise fail(s, "duration_s", "a timed state needs duration_s, or rounds and round_s")
            for cue in s.cues:
                limit = s.round_s if s.rounds > 1 else s.total_s
                if cue.at_s >= limit and not (cue.at_s == 0 and limit == 0):
                    raise fail(s, "cues", f"cue at {cue.at_s:g} s is past the end ({limit:g} s)")
        if s.kind == "final" and (s.on or s.ask):
            raise fail(s, "on", "a final state ends the session: no answers or transitions")
        if s.store and "pain" not in s.expect:
            raise fail(s, "store", "only a pain answer can be stored")
        if s.max_visits and not s.when_exhausted:
            raise fail(s, "when_exhausted", "max_visits needs when_exhausted")
        if s.red_flag:
            rf = s.red_flag
            if not s.is_question or "yes" not in s.expect or "no" not in s.expect:
                raise fail(s, "expect", "a red-flag question must ask and accept yes and no")
            yes = d.states.get(s.on.get("yes", ""))
            if rf.level == "routine":
                if yes is not None and yes.kind == "escalation":
                    raise fail(s, "on.yes", "a routine red flag goes on (it is noted for the close)")
            elif yes is None or yes.kind != "escalation" or yes.level != rf.level:
                raise fail(s, "on.yes", f"the yes of a red flag of level {rf.level} must lead"
                                        f" to an escalation state of level {rf.level}")
            if s.default:
                raise fail(s, "default", "a red-flag question has no default: unclear answers"
                                         " are confirmed, then escalated")
        if s.kind == "escalation" and s.level != "routine" and s.level not in escalation_levels:
            raise fail(s, "level", "no escalation state for this level")
    for g in ("help", "emergency"):
        if g in d.global_intents and "emergency" not in escalation_levels:
            raise DialogError(path, f"global {g!r} needs an escalation state of level emergency",
                              states_r.data.line, "states")


# ----------------------------------------------------------------------------------------------
# checking: what makes a dialogue safe to run (`voice-skill dialog check` lists it; every load
# refuses it)

MAX_WORDS_PER_SENTENCE = 20
"""The voice rule: one idea per sentence, at most about 20 words."""


@dataclass(frozen=True)
class Problem:
    """One property that does not hold, located in the file."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return str(DialogError(self.path, self.message, self.line, self.field))


class DialogProblems(DialogError):
    """A dialogue that loads but is not safe to run: every problem `check` found. Its message
    is the first problem's line, as `voice-skill dialog check` prints it first."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = len(problems) - 1
        super().__init__(first.path, first.message + (
            f" (and {more} more: `voice-skill dialog check` lists them)" if more else ""),
            first.line, first.field)
        self.problems = problems


def edges(d: Dialog) -> dict[str, set[str]]:
    """Where each state can go. An urgent escalation is folded into the red flag that raised it,
    so "@resume" leads back to that red flag's "no" (which is what happens at run time)."""
    out: dict[str, set[str]] = {}
    for s in d.states.values():
        targets = set(s.targets().values())
        if s.red_flag and s.red_flag.level == "urgent":
            esc = d.states[s.on["yes"]]
            targets |= {t for t in esc.targets().values() if t != RESUME}
            targets.add(s.on["no"])
        out[s.name] = {t for t in targets if t != RESUME}
    return out


def _terminal(s: State) -> bool:
    return s.kind == "final" or (s.kind == "escalation" and s.level == "emergency")


def check(d: Dialog) -> list[Problem]:
    """Every property of the graph and of the wording beyond what the file's reading enforces.

    `load_dialog` refuses a dialogue with any of them, so `voice-skill run`, `serve`, `replay`
    and `dialog check` can never disagree; `dialog check` lists them all.
    """
    problems: list[Problem] = []

    def add(s: State, fld: str, message: str) -> None:
        problems.append(Problem(str(d.path), s.line, f"states.{s.name}.{fld}", message))

    # the guide's own states: a dialogue state of the same name would be entered as its end
    for s in d.states.values():
        if s.name.startswith("_"):
            add(s, "name", f"a state name may not start with _ ({', '.join(RESERVED_STATES)}"
                           " are the guide's own)")
    first = d.states[d.start]
    if first.kind in ("escalation", "final"):
        article = "an" if first.kind == "escalation" else "a"
        problems.append(Problem(str(d.path), first.line, "start", f"{d.start!r} is {article}"
                                f" {first.kind} state: a session starts with a greeting or a"
                                " question (a call for help reaches the emergency from there)"))

    graph = edges(d)
    emergency = [s.name for s in d.states.values() if _terminal(s) and s.kind == "escalation"]

    # reachable from the start (every state also reaches the emergency state by "help")
    seen, todo = set(), [d.start, *emergency]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    for s in d.states.values():
        if s.name not in seen:
            add(s, "name", "unreachable: no path from the start leads here")

    # no dead ends, and an ending is reachable from everywhere
    ends = {s.name for s in d.states.values() if _terminal(s)}
    if not any(d.states[e].kind == "final" for e in ends):
        problems.append(Problem(str(d.path), 1, "states", "no final state: a session cannot complete"))
    # backwards from the endings, once over each edge (a chain of thousands of states is
    # checked in linear time)
    sources: dict[str, list[str]] = {name: [] for name in graph}
    for name, targets in graph.items():
        for t in targets:
            sources[t].append(name)
    can_end, todo = set(ends), list(ends)
    while todo:
        for name in sources[todo.pop()]:
            if name not in can_end:
                can_end.add(name)
                todo.append(name)
    for s in d.states.values():
        if not _terminal(s) and not graph[s.name]:
            add(s, "on", "dead end: no way out of this state")
        elif s.name not in can_end:
            add(s, "on", "no path from here reaches an ending")

    # every path ends: with the visit-limited edges cut, no cycle is left
    limited = {s.name for s in d.states.values() if s.max_visits}
    cyclic = _cycle(
        {n: {t for t in ts if t not in limited} for n, ts in graph.items()}
    )
    if cyclic:
        add(d.states[cyclic[0]], "on",
            "loop without a bound: " + " -> ".join(cyclic) + " (give one state max_visits)")

    for s in d.states.values():
        if s.is_question:
            if not re.search(r"\bsay\b", s.ask or "", re.IGNORECASE):
                add(s, "ask", "a question must say how to answer (\"Say yes or no.\")")
            if not s.reprompts:
                add(s, "reprompts", "a question needs at least one simpler re-prompt")
        instructs = s.kind in ("say", "timed", "escalation", "final") or bool(s.say)
        if instructs and not s.source:
            add(s, "source", "an instruction must name its source")
        for fld, text in _texts(s):
            for sentence in re.split(r"(?<=[.?!])\s+", text):
                if len(sentence.split()) > MAX_WORDS_PER_SENTENCE:
                    add(s, fld, f"sentence of {len(sentence.split())} words (at most "
                                f"{MAX_WORDS_PER_SENTENCE}): {sentence[:50]!r}...")
        if s.kind == "escalation" and s.level == "emergency" and not any(
                "{emergency_number}" in t for t in s.say):
            add(s, "say", "an emergency must tell the person to call {emergency_number}")
        if s.red_flag and len(s.reprompts) < 1:
            add(s, "reprompts", "a red-flag question needs a simpler wording to confirm with")
    return problems


def _texts(s: State) -> list[tuple[str, str]]:
    out = [(f"say.{i}", t) for i, t in enumerate(s.say)]
    out += [(f"reprompts.{i}", t) for i, t in enumerate(s.reprompts)]
    out += [(f"cues.{i}", c.text) for i, c in enumerate(s.cues)]
    if s.ask:
        out.append(("ask", s.ask))
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle in `graph` as a path (first == last), or [] when there is none.

    A depth-first search with its own stack: recursion would fail on a long chain of states.
    """
    colour: dict[str, int] = {}  # 1: on the path now, 2: done
    for root in sorted(graph):
        if root in colour:
            continue
        colour[root] = 1
        path = [root]
        branches = [iter(sorted(graph.get(root, ())))]
        while branches:
            t = next(branches[-1], None)
            if t is None:
                colour[path.pop()] = 2
                branches.pop()
            elif colour.get(t) == 1:
                return [*path[path.index(t):], t]
            elif t not in colour:
                colour[t] = 1
                path.append(t)
                branches.append(iter(sorted(graph.get(t, ()))))
    return []
