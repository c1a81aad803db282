"""Safety words heard over the skill's own speech (settings.safety_words_over_speech).

The listener is a script (a test double for the hearing stage): it says what was heard over
which sentence, and hands it to the session's `acts_on` exactly as the hearing stage does;
the session, matcher and dialogue are the real ones. What a person would notice: a "stop"
over the guide cuts it short and asks before ending; "no" carries on where it was; a "help"
said by the guide itself is never taken for the person's; a sure "help" escalates at once,
an unsure one is asked about; nothing else said over the guide is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.events import Utterance
from voice_skill.hearing.listening import EndOfInput, Heard
from voice_skill.session import Session
from voice_skill.session_log import record
from voice_skill.settings import Settings
from voice_skill.speaking.tts import NullSpeaker, SpokenBy


class Script:
    """Answers by turn; `over` maps words of a sentence to what is heard while it is said."""

    no_input_timeout_s: float | None = None

    def __init__(self, answers: list[str], over: dict[str, tuple[str, float]]) -> None:
        self.answers, self.over = list(answers), dict(over)
        self.safety: tuple[str, ...] = ()

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        if not self.answers:
            raise EndOfInput
        text = self.answers.pop(0)
        return Heard(Utterance(text, 0.9) if text else None)

    def hear_over(self, state: str, phrases: tuple[str, ...], hint: str, say: Callable[[], None],
                  stop: Callable[[], None], acts_on: Callable[[Heard], bool | None],
                  safety: tuple[str, ...] = ()) -> Heard | None:
        if not safety:  # said without listening over it, as AudioListener does
            say()
            return None
        self.safety = safety
        said = next((k for k in self.over if k in _said[-1]), None) if _said else None
        if said is None:
            say()
            return None
        text, confidence = self.over.pop(said)
        heard = Heard(Utterance(text, confidence), over_speech=True)
        if acts_on(heard):
            stop()
            return heard
        say()
        return None


_said: list[str] = []
"""the sentences the session has begun to say, last the one being said"""


def run(answers: list[str], over: dict[str, tuple[str, float]], speaker: Any = None,
        **settings: Any) -> tuple[list[dict[str, Any]], Script]:
    log: list[dict[str, Any]] = []
    _said.clear()
    script = Script(answers, over)
    session = Session(load_dialog(), Settings(log_enabled=False, **settings), VirtualClock(),
                      script, speaker or NullSpeaker(), [lambda e: log.append(record(e))])
    original = session._say

    def say(text: str) -> Heard | None:  # the sentence is known before it is said over
        _said.append(text)
        return original(text)

    session._say = say  # type: ignore[method-assign]
    session.run()
    return log, script


def said(log: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in log if e["event"] == "said"]


ON = {"safety_words_over_speech": True}
NOT_A_DOCTOR = "I am not a doctor"
OWN_HELP = "Say help if you need emergency help"


def test_stop_over_the_guide_cuts_it_short_and_asks_and_no_carries_on_where_it_was() -> None:
    log, script = run(["yes", "", "no"], {NOT_A_DOCTOR: ("stop", 0.9)}, **ON)
    keys = said(log)
    asked = keys.index("messages.confirm_stop")
    assert keys[asked - 1] == "states.rf_bladder.say.0"  # cut short there
    assert keys[asked + 1] == "messages.carry_on"
    assert keys[asked + 2] == "states.rf_bladder.say.0", keys  # said again, then the rest
    assert "states.rf_bladder.ask" in keys[asked:]
    assert "stop" in script.safety and "help" in script.safety
    assert not any(e["event"] == "ended" and e["outcome"] == "stopped" for e in log[:asked + 3])


def test_stop_over_the_guide_confirmed_ends_the_session() -> None:
    log, _ = run(["yes", "yes"], {NOT_A_DOCTOR: ("stop", 0.9)}, **ON)
    assert "messages.confirm_stop" in said(log)
    assert log[-1]["event"] == "ended" and log[-1]["outcome"] == "stopped", log[-3:]


def test_the_guides_own_help_is_never_taken_for_the_persons() -> None:
    # the echo of "Say help if you need emergency help", heard garbled and sure
    log, _ = run(["yes"], {OWN_HELP: ("hey help if you need it", 1.0)}, **ON)
    assert not any(e["event"] == "escalated" for e in log)
    assert "messages.confirm_help" not in said(log)


def test_a_sure_help_over_the_guide_escalates_at_once() -> None:
    log, _ = run(["yes"], {NOT_A_DOCTOR: ("help", 0.9)}, **ON)
    keys = said(log)
    assert "messages.confirm_help" not in keys
    assert any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)
    # nothing of the safety instructions after the cut sentence is said
    assert "states.rf_bladder.ask" not in keys


def test_an_unsure_call_for_help_is_asked_about_and_a_yes_escalates() -> None:
    log, _ = run(["yes", "yes"], {NOT_A_DOCTOR: ("call an ambulance", 0.3)}, **ON)
    assert "messages.confirm_help" in said(log)
    assert any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)


def test_an_unsure_help_that_gets_no_answer_escalates() -> None:
    # never dropped: asked twice, then the safe side
    log, _ = run(["yes", "", ""], {NOT_A_DOCTOR: ("help", 0.3)}, **ON)
    assert said(log).count("messages.confirm_help") == 2
    assert any(e["event"] == "escalated" and e["level"] == "emergency" for e in log)


def test_other_words_over_the_guide_are_neither_acted_on_nor_answered() -> None:
    log, _ = run(["yes"], {NOT_A_DOCTOR: ("yes", 0.9)}, **ON)
    keys = said(log)
    assert "messages.talked_over" not in keys and "messages.confirm_stop" not in keys
    assert keys.count("states.rf_bladder.say.0") == 1


def test_the_guide_says_the_safety_words_are_heard_while_it_talks() -> None:
    log, _ = run(["yes"], {}, **ON)
    text = next(e["text"] for e in log if e["event"] == "said" and e["key"] == "states.rf_bladder.say.1")
    assert text.startswith("Even while I talk, you can say stop or help."), text
    log, _ = run(["yes"], {}, safety_words_over_speech=False)
    text = next(e["text"] for e in log if e["event"] == "said" and e["key"] == "states.rf_bladder.say.1")
    assert text.startswith("Each time I stop talking"), text


def test_the_safety_words_are_heard_over_the_guide_by_default() -> None:
    """Off, a "help" said while the guide talks would be lost: on unless the person's config
    turns it off."""
    log, _ = run(["yes"], {NOT_A_DOCTOR: ("help", 0.9)})
    assert any(e["event"] == "escalated" for e in log), said(log)


class FallbackSpeaker(NullSpeaker):
    """Speaks as when the speech worker failed: espeak-ng called directly."""

    def plan(self) -> SpokenBy:
        return "fallback"


def test_with_espeak_called_directly_the_guide_does_not_listen_over_itself() -> None:
    """That player's sound is not placed for the echo canceller: through the live rig the guide
    heard its own "stop", and its "... or no" as the answer (review, 2026-12-07)."""
    log, script = run(["yes", "no"], {NOT_A_DOCTOR: ("stop", 0.9)}, speaker=FallbackSpeaker())
    assert "messages.confirm_stop" not in said(log) and script.safety == ()
    assert "states.rf_bladder.ask" in said(log)
