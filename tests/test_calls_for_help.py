"""A call for help in ordinary words is heard in every state, and the emergency never goes away
because the person keeps talking (issue 23, second hostile round: "A call for help that is not
heard")."""

from __future__ import annotations

import functools

import pytest
from dialogue_driver import HAPPY_PREFIX, Driver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.events import Escalated, Intent, Output, Reply, StateChanged
from voice_skill.settings import Settings

DIALOG = load_dialog()
FOREIGN = ("911", "999", "112", "000", "111", "119")
"""911 US/Canada, 999 UK, 112 Europe and every mobile, 000 Australia, 111 NZ, 119 Japan/Korea"""
INSTRUCTION = "states.emergency.say.0"
CALLS = ("emergency", "help")
"""the two intents of a call for help ("call for help" is help): both escalate at once"""

# ---- the reproduction: 20 ordinary ways, four countries' numbers, three questions -------------

ORDINARY = [
    "call 911", "call nine one one", "please call 911 now", "dial 911", "Call 9-1-1.",
    "someone call 999", "ring nine nine nine", "call 999", "phone 999 please", "call 112",
    "dial one one two", "ring 112 now", "call triple zero", "ring 000", "call an ambulance",
    "get me an ambulance", "get the paramedics", "call the emergency services", "send help",
    "can someone phone for an ambulance",
]
TO_STATE = {"rf_bladder": ["yes"], "pain_start": HAPPY_PREFIX[:-1],
            "can_move": HAPPY_PREFIX}


@pytest.mark.parametrize("where", list(TO_STATE))
@pytest.mark.parametrize("text", ORDINARY)
def test_an_ordinary_call_for_help_escalates_at_a_red_flag_the_pain_and_positioning(
        text: str, where: str) -> None:
    """Before: 24 of these 60 reached the emergency; "ring nine nine nine" was pain 9."""
    d = Driver()
    d.run(TO_STATE[where])
    assert d.state == where
    d.say(text)
    assert d.state == "emergency" and [e.level for e in d.t.escalations] == ["emergency"], text
    assert "Please call 911 now." in d.t.texts()


@pytest.mark.parametrize("number", ["999", "911", "112"])
def test_ring_nine_nine_nine_at_the_pain_question_is_never_pain_nine(number: str) -> None:
    for text in ("ring nine nine nine", "Ring 999.", "call 911", "dial 1 1 2"):
        intent = IntentMatcher(DIALOG, number).match(text, "pain_start")
        assert intent.name == "emergency" and intent.value is None, (number, text, intent)


@pytest.mark.parametrize("text", ["call 911", "call 999", "dial 911", "please call 911 now"])
def test_typed_call_911_is_understood_everywhere_even_in_the_emergency(text: str) -> None:
    for state in ("rf_bladder", "pain_start", "choose_position", "emergency"):
        assert IntentMatcher(DIALOG).match(text, state).name == "emergency", (text, state)
    d = Driver()
    d.run(["yes", "yes"])
    d.t.replies.clear()
    d.say(text)
    assert d.state == "emergency" and d.t.keys()[0] == INSTRUCTION  # the instruction again


def test_the_settings_own_number_is_heard_in_any_spelling() -> None:
    for number, said in [("112", "call one one two"), ("112", "ring one twelve"),
                         ("000", "call triple zero"), ("000", "dial 000"), ("1122", "call 1122"),
                         ("15", "call fifteen"), ("15", "call 15"), ("999", "nine nine nine"),
                         ("911", "nine eleven"), ("911", "9-1-1")]:
        d = Driver(emergency_number=number)
        d.run(HAPPY_PREFIX[:-1])
        d.say(said)
        assert d.state == "emergency", (number, said)


@pytest.mark.parametrize("state,text,means", [
    ("pain_start", "call a doctor", "no_match"),  # a doctor is not the emergency services
    ("pain_start", "call me back", "no_match"),
    ("pain_start", "nine nine nine", "pain"),  # with 911 set: a garbled nine, not a call
    ("pain_start", "one one one", "pain"),
    ("pain_start", "six or seven", "pain"),
    ("rf_bladder", "no", "no"),
    ("can_move", "yes a little", "yes"),
    ("pain_start", "I called them", "no_match"),  # told, not asked: heard only in the emergency
])
def test_what_is_not_a_call_for_help_stays_what_it_was(state: str, text: str, means: str) -> None:
    assert IntentMatcher(DIALOG).match(text, state).name == means


# ---- the fuzz: every spelling of every number, from every state ---------------------------------

WORD = dict(enumerate(DIALOG.language.numbers))
GROUP = {11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen",
         16: "sixteen", 17: "seventeen", 18: "eighteen", 19: "nineteen", 20: "twenty",
         30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty",
         90: "ninety", 10: WORD[10]}


def test_the_dialogue_knows_the_numbers_and_words_the_fuzz_uses() -> None:
    assert set(FOREIGN) <= set(DIALOG.calls.numbers)
    assert {k: v for k, v in GROUP.items() if v != WORD[10]} == {
        v: k for k, v in DIALOG.calls.group_words.items() if v >= 10}


def _group(two: str) -> str | None:
    """Two digits said as one number ("11" eleven, "99" ninety nine); None for "05"."""
    n = int(two)
    if two[0] == "0":
        return None
    if n in GROUP:
        return GROUP[n]
    return f"{GROUP[n - n % 10]} {WORD[n % 10]}"


def spellings(number: str) -> list[str]:
    """Every way the number reaches the matcher: as typed, as Whisper writes it, in words."""
    words = [WORD[int(d)] for d in number]
    out = [number, "-".join(number), " ".join(number), ". ".join(number), ", ".join(number),
           " ".join(words), "-".join(words),
           " ".join("nought" if w == WORD[0] else w for w in words)]
    if (group := _group(number[-2:])) is not None:
        out.append(" ".join([*words[:-2], group]))
    if len(set(number)) == 1 and len(number) == 3:
        out.append(f"triple {words[0]}")
    if len(number) >= 3 and number[0] == number[1]:
        out.append(" ".join(["double", words[0], *words[2:]]))
    return out


VERBS = ["call", "dial", "ring", "phone", "get me", "please call", "someone call",
         "can you call", "could somebody ring", "call up", "somebody phone", "I need you to call"]
BEFORE = ["", "um", "oh god", "please", "quick", "hurry", "oh no"]
AFTER = ["", "now", "please", "right now", "quickly", "for me", "hurry", "now please"]
SERVICES = ["an ambulance", "the paramedics", "paramedics", "emergency services",
            "the emergency services", "the police", "for an ambulance", "for help",
            "the emergency number", "me an ambulance"]


Path = tuple[Intent | None, ...]
"""answers in order; None lets a timed state run to its end"""


@functools.cache
def paths() -> dict[str, Path]:
    """Answers that reach every state the person can speak in (questions, timers, escalations)."""
    found: dict[str, Path] = {}
    todo: list[Path] = [()]
    while todo:
        path = todo.pop(0)
        m = _at(path, Settings())
        s = m.current
        if s is None or m.ended or m.state in found:
            continue
        found[m.state] = path
        todo.extend((*path, Intent(name, value=5 if name == "pain" else None)) for name in s.on)
        if s.kind == "timed":
            todo.append((*path, None))
    return found


def _at(path: Path, s: Settings) -> DialogueManager:
    clock = VirtualClock()
    m = DialogueManager(DIALOG, s, clock)
    m.start()
    for intent in path:
        if intent is not None:
            m.handle(intent)
            continue
        start = m.state
        while m.state == start and (due := m.next_due()) is not None:
            clock.advance_to(due)
            m.tick()
    return m


def test_the_fuzz_reaches_every_state_a_person_can_speak_in() -> None:
    spoken = {n for n, s in DIALOG.states.items() if s.kind not in ("say", "final")}
    assert set(paths()) == spoken


def _escalates(out: list[Output], was: str) -> bool:
    """Escalated to the emergency; already there: the instruction said again."""
    if was == "emergency":
        return any(isinstance(o, Reply) and o.key == INSTRUCTION for o in out)
    return (any(isinstance(o, Escalated) and o.level == "emergency" for o in out)
            and any(isinstance(o, StateChanged) and o.dest == "emergency" for o in out))


@st.composite
def calls_for_help(draw: st.DrawFn) -> tuple[str, str]:
    """(the settings' number, a call for help): a number any setting allows or a well-known
    one, in any spelling, with a verb, or a service by name; fillers and punctuation around."""
    own = draw(st.one_of(st.sampled_from(["911", "999", "112", "000"]),
                         st.from_regex(r"[0-9]{2,6}", fullmatch=True)))
    number = draw(st.sampled_from([own, *FOREIGN]))
    whom = draw(st.one_of(st.sampled_from(spellings(number)), st.sampled_from(SERVICES)))
    text = " ".join(w for w in (draw(st.sampled_from(BEFORE)), draw(st.sampled_from(VERBS)),
                                whom, draw(st.sampled_from(AFTER))) if w)
    if draw(st.booleans()):
        text = text[0].upper() + text[1:]
    return own, text + draw(st.sampled_from(["", ".", "!", "?", "!!"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls_for_help())
def test_any_call_for_help_escalates_from_every_state_through_the_dialogue(
        call: tuple[str, str]) -> None:
    own, text = call
    s = Settings(emergency_number=own)
    matcher = IntentMatcher(DIALOG, own)
    for state, path in paths().items():
        m = _at(path, s)
        intent = matcher.match(text, state)
        assert intent.name in CALLS, (state, text, own, intent)
        assert _escalates(m.handle(intent), state), (state, text, own)


@settings(max_examples=150, deadline=None)
@given(calls_for_help())
def test_any_call_for_help_is_the_emergency_in_every_state(call: tuple[str, str]) -> None:
    """The same, many more phrasings, the matcher alone (the dialogue's part is above)."""
    own, text = call
    matcher = IntentMatcher(DIALOG, own)
    for state in paths():
        assert matcher.match(text, state).name in CALLS, (state, text, own)


KINDS_OF_STATE = ["rf_bladder", "rf_night", "pain_start", "can_move", "ice_on", "breathing",
                  "urgent", "emergency"]
"""a red flag of each level, numbers, yes/no, a timer, counts, both escalations: what the
matcher reads differently (every state is in the fuzz above)"""


@pytest.mark.parametrize("number", sorted({*FOREIGN, "911", "999", "112", "000", "15", "1122"}))
def test_every_spelling_of_each_number_with_each_verb_is_the_emergency(number: str) -> None:
    matcher = IntentMatcher(DIALOG, number)
    for spelled in spellings(number):
        for verb in VERBS:
            text = f"{verb} {spelled}"
            for state in KINDS_OF_STATE:
                assert matcher.match(text, state).name == "emergency", (state, text)


# ---- the emergency state: the guide stays -------------------------------------------------------

def _in_emergency(**settings: object) -> Driver:
    d = Driver(**settings)
    d.run(["yes", "yes"])
    assert d.state == "emergency"
    d.t.replies.clear()
    return d


@pytest.mark.parametrize("text", ["help", "I called them", "call 911", "emergency"])
def test_the_person_saying_it_eleven_times_never_ends_the_emergency(text: str) -> None:
    """Before: the repeat cap counted the person's words, and the 11th ended the session with
    "I will stop talking now"."""
    d = _in_emergency()
    for _ in range(11):
        d.say(text)
    assert not d.manager.ended and d.state == "emergency"
    assert "I will stop talking now" not in d.t.texts()


def test_a_person_who_keeps_talking_is_never_left_and_silence_still_ends_it() -> None:
    d = _in_emergency(emergency_max_repeats=3)
    for _ in range(20):  # twenty minutes, a word every minute: the guide stays
        d.clock.advance(58)  # (Driver.say adds 2 s)
        d._take(d.manager.tick())
        d.say("help")
    assert not d.manager.ended
    for _ in range(4):  # then nothing more is said
        d.clock.advance(60)
        d._take(d.manager.tick())
    assert d.t.ended and d.t.ended.outcome == "escalated" and d.t.ended.level == "emergency"


@pytest.mark.parametrize("text", ["I called them", "they're on their way", "I have called 911",
                                  "I've rung for an ambulance", "help is on the way",
                                  "I already called"])
def test_i_called_them_is_acknowledged_and_the_guide_stays(text: str) -> None:
    d = _in_emergency()
    d.say(text)
    assert d.t.keys() == ["messages.emergency_called"], text
    assert "I will stay with you" in d.t.texts()
    d.t.replies.clear()
    d.clock.advance(60)  # the instruction still comes again on its timer
    d._take(d.manager.tick())
    assert d.t.keys()[0] == INSTRUCTION and d.manager.listening()


@pytest.mark.parametrize("text", ["I haven't called them yet", "nobody is coming",
                                  "they are not on their way", "I can't call"])
def test_a_call_not_yet_made_gets_the_instruction_again(text: str) -> None:
    d = _in_emergency()
    d.say(text)
    assert d.t.keys()[0] == INSTRUCTION, text


@pytest.mark.parametrize("text", ["pause", "wait", "hold on", "not yet", "one moment",
                                  "give me a minute"])
def test_nothing_pauses_the_emergency_instruction(text: str) -> None:
    """Before: "Paused. The timer is on hold", and the repeats stopped."""
    d = _in_emergency()
    d.say(text)
    assert not d.manager.paused
    assert d.t.keys() == ["messages.emergency_stay"], text
    assert "Paused" not in d.t.texts()
    d.t.replies.clear()
    d.clock.advance(60)
    d._take(d.manager.tick())
    assert d.t.keys()[0] == INSTRUCTION  # the repeats go on


def test_a_call_for_help_while_paused_elsewhere_still_escalates() -> None:
    d = Driver()
    d.run([*HAPPY_PREFIX[:-1], "pause"])
    assert d.manager.paused
    d.say("ring nine nine nine")
    assert d.state == "emergency" and not d.manager.paused
