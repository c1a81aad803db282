"""Properties over random answer sequences: no crash, a bounded end, no red-flag "yes" lost."""

from __future__ import annotations

from dialogue_driver import SILENCE, WAIT, Driver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.events import Escalated, NoInput, StateChanged

DIALOG = load_dialog()
PHRASES = sorted({p for phrases in DIALOG.intents.values() for p in phrases})
ANSWERS = st.one_of(
    st.sampled_from([*PHRASES, "seven", "about a three", "10", SILENCE, WAIT, "", "purple"]),
    st.text(max_size=40),
)
STEPS = st.lists(st.tuples(ANSWERS, st.sampled_from([1.0, 0.9, 0.3])), max_size=80)
SILENCE_BOUND = 1000
"""Silence alone ends any session within this many no-input events (~2 hours of wall time)."""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_any_answers_never_crash_and_silence_then_ends_the_session(
        steps: list[tuple[str, float]]) -> None:
    d = Driver()
    d.run(steps)
    for _ in range(SILENCE_BOUND):
        if d.manager.ended:
            break
        d.silence()
    assert d.manager.ended, f"still in {d.state} after {SILENCE_BOUND} silences"
    assert d.t.ended is not None and d.t.ended.outcome in ("completed", "stopped", "escalated")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_a_red_flag_is_only_passed_on_a_heard_no(steps: list[tuple[str, float]]) -> None:
    d = Driver()
    for text, confidence in steps:
        if d.manager.ended:
            break
        s = d.manager.current
        if text == SILENCE:
            event = NoInput()
            d.clock.advance(d.settings.no_input_timeout_s)
            out = d._take(d.manager.handle(event))
        elif text == WAIT:
            d.wait()
            continue
        else:
            event = d.matcher.match(text, d.state, confidence)
            out = d.say(text, confidence)
        if s is None or not s.red_flag:
            continue
        moved_to = [o.dest for o in out if isinstance(o, StateChanged)]
        if s.on["no"] in moved_to and s.red_flag.level != "routine":
            assert getattr(event, "name", None) == "no", (s.name, text, event)
        if getattr(event, "name", None) == "yes" and s.red_flag.level != "routine":
            escalated = any(isinstance(o, Escalated) for o in out)
            assert escalated or d.state == s.name, (s.name, text, moved_to)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 4), STEPS)
def test_a_yes_to_an_emergency_question_always_escalates(index: int,
                                                        after: list[tuple[str, float]]) -> None:
    d = Driver()
    d.run(["yes", *(["no"] * index)])
    d.say("yes")
    assert d.t.escalations and d.t.escalations[0].level == "emergency"
    # whatever follows, the skill stays with the emergency instruction until it ends
    for text, confidence in after:
        if d.manager.ended:
            break
        d.say(text, confidence)
        assert d.manager.ended or d.state == "emergency", (text, d.state)
    assert d.manager.level == "emergency"
