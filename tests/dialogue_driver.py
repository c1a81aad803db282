"""Drive a DialogueManager with typed answers on a virtual clock, for golden-conversation tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.events import Escalated, Intent, NoInput, Output, RateChanged, Reply, SessionEnded
from voice_skill.settings import Settings

SILENCE = "<silence>"
WAIT = "<wait>"
"""Let the clock run until the current timed state is over (or one timer, outside one)."""

RED_FLAGS_NO = ["no"] * 10
HAPPY_PREFIX = ["yes", *RED_FLAGS_NO, "it's about a seven"]
TO_BREATHING = [*HAPPY_PREFIX, "no", "yes", "no"]
"""can't move, so stays put; ice would help but there is none: to the breathing"""


@dataclass
class Transcript:
    """What happened, in order: (state, reply key or event) pairs, plus the end."""

    steps: list[tuple[str, str]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    escalations: list[Escalated] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    ended: SessionEnded | None = None
    manager: DialogueManager | None = None

    def keys(self) -> list[str]:
        return [r.key for r in self.replies]

    def texts(self) -> str:
        return "\n".join(r.text for r in self.replies)

    def states(self) -> list[str]:
        seen: list[str] = []
        for r in self.replies:
            if not seen or seen[-1] != r.state:
                seen.append(r.state)
        return seen


class Driver:
    """A session under test: `say("yes")`, `silence()`, `wait()`; the transcript grows."""

    def __init__(self, dialog: Dialog | None = None, **settings: object) -> None:
        self.dialog = dialog or load_dialog()
        self.clock = VirtualClock()
        self.settings = Settings(**settings)  # type: ignore[arg-type]
        self.matcher = IntentMatcher(self.dialog, self.settings.emergency_number)
        self.manager = DialogueManager(self.dialog, self.settings, self.clock)
        self.t = Transcript(manager=self.manager)
        self._take(self.manager.start())

    def _take(self, outputs: list[Output]) -> list[Output]:
        for o in outputs:
            if isinstance(o, Reply):
                self.t.replies.append(o)
            elif isinstance(o, Escalated):
                self.t.escalations.append(o)
            elif isinstance(o, RateChanged):
                self.t.rates.append(o.rate_factor)
            elif isinstance(o, SessionEnded):
                self.t.ended = o
        return outputs

    @property
    def state(self) -> str:
        return self.manager.state

    def say(self, text: str, confidence: float = 1.0) -> list[Output]:
        self.clock.advance(2.0)  # a person takes a moment to answer
        intent = self.matcher.match(text, self.manager.state, confidence)
        return self._take(self.manager.handle(intent))

    def intent(self, intent: Intent) -> list[Output]:
        return self._take(self.manager.handle(intent))

    def silence(self) -> list[Output]:
        self.clock.advance(self.settings.no_input_timeout_s)
        return self._take(self.manager.handle(NoInput()))

    def wait(self) -> None:
        """Let timers run: to the end of the timed state, or one timer outside one."""
        start = self.manager.state
        while not self.manager.ended and (due := self.manager.next_due()) is not None:
            self.clock.advance_to(due)
            self._take(self.manager.tick())
            s = self.manager.current
            if self.manager.state != start or s is None or s.kind != "timed":
                return

    def run(self, answers: list[str] | list[tuple[str, float]]) -> Transcript:
        """Answers in order: text (or (text, confidence)), SILENCE or WAIT; stops at the end."""
        for answer in answers:
            text, confidence = answer if isinstance(answer, tuple) else (answer, 1.0)
            if self.manager.ended:
                break
            if text == SILENCE:
                self.silence()
            elif text == WAIT:
                self.wait()
            else:
                self.say(text, confidence)
        return self.t


def converse(answers: list[str], **settings: object) -> Transcript:
    return Driver(**settings).run(answers)
