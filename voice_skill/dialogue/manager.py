"""The dialogue manager: intents and clock ticks in, replies and decisions out; never any audio.

Built on a `transitions` machine made from the dialogue data. Everything the person can say in
any state (repeat, slower, pause, stop, help ...) is handled here; state-specific answers are
transitions of the machine.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine

from voice_skill.clock import Clock
from voice_skill.dialogue.dialog import RESUME, WHEN_HEARD, Dialog, State, template_fields
from voice_skill.dialogue.intents import CALL_MADE
from voice_skill.errors import SessionOver
from voice_skill.events import (
    Escalated,
    InputEvent,
    Intent,
    Level,
    Output,
    RateChanged,
    Reply,
    SessionEnded,
    StateChanged,
)
from voice_skill.settings import Settings

START, ENDED = "_start", "_ended"
LEVEL_RANK: dict[Level, int] = {"routine": 1, "urgent": 2, "emergency": 3}


@dataclass(order=True)
class _Timer:
    due_s: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    holds_on_pause: bool = field(default=True, compare=False)


class DialogueManager:
    """Runs one session of a dialogue. Feed it `handle(event)` and `tick()`; read the outputs."""

    state: str  # set by the transitions machine
    trigger: Callable[..., bool]  # added by the transitions machine

    def __init__(self, dialog: Dialog, settings: Settings, clock: Clock) -> None:
        self.dialog, self.settings, self.clock = dialog, settings, clock
        self.ended = False
        self.outcome: SessionEnded | None = None
        self.facts: dict[str, Any] = {"rounds": 0}
        self.flags: list[tuple[Level, str]] = []
        self.rate_factor = 1.0
        self._out: list[Output] = []
        self._last_said: list[Reply] = []
        self._visits: dict[str, int] = {}
        self._reasks = 0
        self._confirming = False
        self._doubted: str | None = None
        """the red-flag answer ("yes" or "no") heard unsurely that is being confirmed"""
        self._confirm_reasks = 0
        """confirmations asked again: nothing heard, or an answer against the doubted one"""
        self._disagreed = False
        """two unsure red-flag answers disagreed here: only a sure "no" is taken now"""
        self.told_noisy = False
        """the person has been told the noise makes them hard to hear (once a session)"""
        self._in_doubt = False
        """a red-flag answer here was said in doubt or heard unsurely: a stop then gives its
        advice"""
        self._resume_to: str | None = None
        self._reason = ""
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._paused_at: float | None = None
        self._timed_end: _Timer | None = None
        """the timer that ends the current timed state (to say how long is left)"""
        self._entered_at = 0.0
        self._emergency_repeats = 0
        self._emergency_state = next(
            (s.name for s in dialog.states.values()
             if s.kind == "escalation" and s.level == "emergency"), None)
        self.machine = Machine(
            model=self,
            states=[START, ENDED] + [{"name": n, "on_enter": "_on_enter"} for n in dialog.states],
            transitions=self._transitions(),
            initial=START,
            auto_transitions=False,
            queued=True,  # a state that moves on by itself (say, timed) queues its trigger
            send_event=True,
        )

    # ---- building the machine ----------------------------------------------------------------

    def _transitions(self) -> list[dict[str, Any]]:
        t: list[dict[str, Any]] = [{"trigger": "begin", "source": START, "dest": self.dialog.start}]
        for s in self.dialog.states.values():
            triggers = {f"hear_{i}": target for i, target in s.on.items()}
            if s.default:
                triggers["give_up"] = s.default
            if s.then:
                triggers["advance"] = s.then
            for trigger, target in triggers.items():
                t.extend(self._edges(trigger, s.name, target))
        if self._emergency_state:
            t.append({"trigger": "escalate_emergency", "source": "*",
                      "dest": self._emergency_state})
        t.append({"trigger": "finish", "source": "*", "dest": ENDED})
        return t

    def _edges(self, trigger: str, source: str, target: str) -> list[dict[str, Any]]:
        """One edge, or conditional ones for @resume and for a target with a visit limit."""
        if target == RESUME:
            return [
                edge
                for r in dict.fromkeys(self.dialog.resume_targets())
                for edge in self._edges_when(trigger, source, r, self._resume_is(r))
            ]
        return self._edges_when(trigger, source, target, None)

    def _edges_when(self, trigger: str, source: str, target: str,
                    cond: Callable[[EventData], bool] | None) -> list[dict[str, Any]]:
        conds = [cond] if cond else []
        dest = self.dialog.states[target]
        if dest.max_visits and dest.when_exhausted:
            under = self._under_limit(dest)
            return [
                {"trigger": trigger, "source": source, "dest": target, "conditions": [*conds, under]},
                {"trigger": trigger, "source": source, "dest": dest.when_exhausted,
                 "conditions": conds, "unless": [under]},
            ]
        return [{"trigger": trigger, "source": source, "dest": target, "conditions": conds}]

    def _resume_is(self, target: str) -> Callable[[EventData], bool]:
        return lambda _e: self._resume_to == target

    def _under_limit(self, s: State) -> Callable[[EventData], bool]:
        return lambda _e: self._visits.get(s.name, 0) < (s.max_visits or 0)

    # ---- public API ----------------------------------------------------------------------------

    @property
    def current(self) -> State | None:
        """The current dialogue state (None before start and after the end)."""
        return self.dialog.states.get(self.state)

    @property
    def paused(self) -> bool:
        """Whether the person paused the session."""
        return self._paused_at is not None

    @property
    def level(self) -> Level | None:
        """The highest level raised so far."""
        return max((lvl for lvl, _ in self.flags), key=LEVEL_RANK.__getitem__, default=None)

    def start(self) -> list[Output]:
        """Open the session: the greeting and the first question."""
        self.trigger("begin")
        return self._flush()

    def next_due(self) -> float | None:
        """When the earliest timer fires (clock seconds), or None."""
        live = [t for t in self._timers if not (self.paused and t.holds_on_pause)]
        return min(live).due_s if live else None

    def listening(self) -> bool:
        """Whether the skill waits for an answer (a question), not just for the clock."""
        s = self.current
        return bool(s and (s.is_question or s.kind == "escalation")) and not self.ended

    def tick(self) -> list[Output]:
        """Fire every timer that is due by the clock."""
        self._fire_due()
        return self._flush()

    def handle(self, event: InputEvent) -> list[Output]:
        """React to what the person said (an Intent) or did not say (NoInput)."""
        if self.ended:
            outcome = self.outcome.outcome if self.outcome else "ended"
            raise SessionOver(f"the session has already ended ({outcome}); start a new one")
        self._fire_due()
        if not self.ended:
            start = len(self._out)
            self._handle(event)
            if isinstance(event, Intent) and event.in_noise:
                self._tell_noisy(start)
        return self._flush()

    # ---- input -----------------------------------------------------------------------------

    def _handle(self, event: InputEvent) -> None:
        name = event.name if isinstance(event, Intent) else None
        s = self.current
        assert s is not None  # not ended, so inside a dialogue state
        if name in ("emergency", "help"):
            self._reason = f"the person said {event.text!r}" if isinstance(event, Intent) else ""
            self._escalate_emergency()
        elif isinstance(event, Intent) and self._raises_other_flags(event):
            return  # "no, but my chest hurts": the other flag's emergency comes first
        elif (name in ("stop", "pause") and s.red_flag and isinstance(event, Intent)
              and event.confidence < self.settings.low_confidence):
            if not self._confirming:
                # a misheard "yes" must not end (or hold) the screening: the question again
                self._confirm(s, doubt=False)
            else:  # heard unsurely again: taken, and a stop ends with this flag's advice
                self._in_doubt = True
                if name == "stop":
                    self._stop()
                else:
                    self._pause()
        elif name == "stop":
            self._stop()
        elif name == "time_left":
            self._time_left(s)
        elif self._in_emergency(s):
            if isinstance(event, Intent):
                self._while_emergency(name)
        elif self.paused and not self._answers(s, event):
            self._while_paused(name)
        elif name == "repeat":
            self._emit(self._question_or_all())
        elif name == "start_over":
            self._emit(self._last_said)
        elif name == "slower":
            self._slower()
        elif name == "pause":
            self._pause()
        elif isinstance(event, Intent) and name in s.on:
            self._resume_if_paused()
            self._answer(s, event)
        elif name == "unsure" and s.red_flag:
            self._resume_if_paused()
            self._unclear(s, unsure=True)
        elif name == "resume":
            self._emit(self._last_said)
        elif s.kind == "timed":
            if isinstance(event, Intent):
                self._say("messages.not_understood", self.dialog.messages["not_understood"])
        else:
            self._unclear(s, not_understood=isinstance(event, Intent),
                          understood=not isinstance(event, Intent) or event.understood)

    def _answers(self, s: State, event: InputEvent) -> bool:
        """Whether `event` answers the question asked here: taken even while paused, so a
        red-flag "yes" is never lost to "We are paused"."""
        return isinstance(event, Intent) and (
            event.name in s.on or (bool(s.red_flag) and event.name == "unsure"))

    def _raises_other_flags(self, intent: Intent) -> bool:
        """Note each other red flag the words state (and this one's, when they say yes to it);
        escalate at once for an emergency one. Words heard unsurely raise nothing by the way:
        the question they answer is confirmed first."""
        if not intent.also or intent.confidence < self.settings.low_confidence:
            return False
        s = self.current
        raised = [self.dialog.states[n].red_flag for n in intent.also]
        if s is not None and s.red_flag and intent.name == "yes":
            raised.insert(0, s.red_flag)
        for rf in raised:
            if rf is not None:
                self._note(rf.level, rf.reason)
        first = next((rf for rf in raised if rf is not None and rf.level == "emergency"), None)
        if first is None:
            return False
        self._reason = first.reason
        self._escalate_emergency()
        return True

    def _note(self, level: Level, reason: str) -> None:
        """Keep a flag for the escalation and the closing summary, once."""
        if (level, reason) not in self.flags:
            self.flags.append((level, reason))

    def _answer(self, s: State, intent: Intent) -> None:
        rf = s.red_flag
        if s.kind == "timed":
            self._note_timed(s, self.clock.now() - self._entered_at)
        unsure = intent.confidence < self.settings.low_confidence
        if rf and not self._confirming and unsure:
            self._confirm(s)  # a low-confidence answer to a red flag is never taken as heard
            self._doubted = intent.name if intent.name in ("yes", "no") else None
            return
        if rf and unsure:
            self._in_doubt = True  # heard unsurely in the confirmation: a stop now advises
        if rf and unsure and self._disagreed and intent.name != "yes":
            # The answer to "I heard two different answers": a "yes" was heard, so only a
            # sure "no" settles it towards "no" (an unsure "yes" is taken as heard).
            self._red_flag_default(s)
            return
        if rf and unsure and self._confirming and self._doubted is None and intent.name == "no":
            # The confirmation of doubt ("not sure") or of an unsure stop: one unsure "no" does
            # not pass a red flag; asked again, an unsure "no" agrees with it and is taken (as
            # after an unsure "no" first).
            if self._confirm_again(s, "confirm_no_again"):
                self._doubted = "no"
            return
        if rf and unsure and self._doubted not in (None, intent.name):
            # Two unsure answers that disagree: neither is taken, a third decides (a sure "no",
            # or any "yes"; see above). A noisy room hears "no" as "yeah" 3 % of the time.
            if self._confirm_again(s, "confirm_again"):
                self._disagreed, self._doubted = True, None
            return
        if rf and intent.name == "yes":
            self._note(rf.level, rf.reason)
            self._reason = rf.reason
            if rf.level == "urgent":
                self._resume_to = s.on.get("no")
        if s.store and intent.value is not None:
            self.facts[s.store] = intent.value
        self.trigger(f"hear_{intent.name}")

    def _unclear(self, s: State, not_understood: bool = False, unsure: bool = False,
                 understood: bool = True) -> None:
        """No input, no match, or unsure: re-ask more simply, a bounded number of times.

        On a red flag, "unsure" gets one confirming re-ask, a sentence heard but not understood
        is asked about in plain words (a re-ask), a confirmation that gets no clear answer is
        asked again (within the same bound), and whatever stays unclear after the re-asks is
        taken as the safer "yes".
        """
        if s.red_flag and unsure:
            self._in_doubt = True  # doubt said, not silence or words from elsewhere (a TV)
        if (s.red_flag and self._confirming and not unsure
                and self._confirm_reasks < self._red_flag_reasks):
            # Nothing heard (or not understood) in reply to a confirmation is not a "yes": ask
            # it again, within the same bound as the question itself. In a room with noise at
            # 10 dB 7 % of real "no"s come back as nothing.
            self._confirm_reasks += 1
            if not_understood or not understood:
                self._say("messages.not_understood", self.dialog.messages["not_understood"])
            self._reprompt(s)
        elif s.red_flag and (self._confirming or self._reasks >= self._red_flag_reasks):
            self._red_flag_default(s)
        elif s.red_flag and not understood and s.red_flag.confirm:
            self._check_meaning(s, s.red_flag.confirm)
        elif s.red_flag and unsure:
            self._confirm(s)
        elif s.red_flag or self._reasks < self.settings.max_reprompts:  # a red flag: bound above
            self._reasks += 1
            if not understood and s.clarify:  # "it started on Monday": asked in plain words
                self._last_said = [self._reply(f"states.{s.name}.clarify", s.clarify, True)]
                self._emit(self._last_said)
                return
            if not_understood:
                self._say("messages.not_understood", self.dialog.messages["not_understood"])
            self._reprompt(s)
        else:
            self._say("messages.moving_on", self.dialog.messages["moving_on"])
            self.trigger("give_up")

    def _reprompt(self, s: State) -> None:
        if s.reprompts:
            i = min(self._reasks, len(s.reprompts)) - 1
            self._last_said = [self._reply(f"states.{s.name}.reprompts.{i}", s.reprompts[i],
                                           expects_answer=True)]
        else:
            self._last_said = [self._reply(f"states.{s.name}.ask", s.ask or "", True)]
        self._emit(self._last_said)

    def _confirm(self, s: State, doubt: bool = True) -> None:
        """Ask a red-flag question once more in the simplest words; anything but a "no" to
        that escalates (nothing heard is asked again; see _unclear and _answer).
        `doubt`: the answer itself was unsure (a stop heard unsurely is not)."""
        self._confirming = True
        self._in_doubt = self._in_doubt or doubt
        self._say("messages.confirm_red_flag", self.dialog.messages["confirm_red_flag"])
        self._reasks = len(s.reprompts)
        self._reprompt(s)

    def _confirm_again(self, s: State, message: str) -> bool:
        """Ask a red flag's confirmation once more, after `message` (a key of the dialogue's
        messages), and say True; with no asks left, the red flag's default instead (never
        settled towards "no"), and False."""
        if self._confirm_reasks >= self._red_flag_reasks:
            self._red_flag_default(s)
            return False
        self._confirm_reasks += 1
        m = self.dialog.messages
        self._say(f"messages.{message}", m.get(message, m["confirm_red_flag"]))
        self._reprompt(s)
        return True

    @property
    def _red_flag_reasks(self) -> int:
        """How often a red-flag question, or its confirmation, is asked again before the safe
        default: once more after the person was asked to speak up over noise, so that they
        get the chance to (in the live trial's rooms at 10 dB a real "no" is lost 8 % of the
        time, and a person whose "no" a room swallows fails every red flag)."""
        return self.settings.max_reprompts + (
            self.settings.noisy_extra_reprompts if self.told_noisy else 0)

    def _tell_noisy(self, since: int) -> None:
        """Once a session, the first time an answer is heard through loud noise: just before
        the next question said since output `since`, ask the person to speak up (a person in
        a noisy kitchen can, and a red-flag "no" lost in noise ends in an escalation). Never in
        an emergency, and not where no question follows."""
        noisy = self.dialog.messages.get("noisy")
        s = self.current
        if self.told_noisy or not noisy or s is None or self._in_emergency(s):
            return
        at = next((i for i, o in enumerate(self._out) if i >= since
                   and isinstance(o, Reply) and o.expects_answer), None)
        if at is not None:
            self.told_noisy = True
            self._out.insert(at, self._reply("messages.noisy", noisy))

    def _check_meaning(self, s: State, question: str) -> None:
        """A sentence heard but not understood: the red flag asked again in plain words. It
        counts as a re-ask, not as the last confirmation: a television's two sentences must
        not make an emergency."""
        self._reasks += 1
        m = self.dialog.messages
        self._say("messages.check_meaning", m.get("check_meaning", m["confirm_red_flag"]))
        self._last_said = [self._reply(f"states.{s.name}.red_flag.confirm", question, True)]
        self._emit(self._last_said)

    def _red_flag_default(self, s: State) -> None:
        """Never a silent "no": an unclear answer to a red flag is treated as the safer "yes"."""
        self._say("messages.red_flag_default", self.dialog.messages["red_flag_default"])
        self._answer(s, Intent("yes", confidence=1.0))

    # ---- global commands ---------------------------------------------------------------------

    def _question_or_all(self) -> list[Reply]:
        """What "repeat" repeats: the question just asked, or all of the last thing said when it
        asked nothing (the emergency instruction, a cue)."""
        asked = [r for r in self._last_said if r.expects_answer]
        return asked[-1:] or self._last_said

    def _slower(self) -> None:
        factor = max(self.settings.min_rate_factor, self.rate_factor * self.settings.slower_factor)
        self.rate_factor = factor
        self._out.append(RateChanged(factor))
        self._say("messages.slower", self.dialog.messages["slower"])
        self._emit(self._last_said)

    def _time_left(self, s: State) -> None:
        """How long the ice or heat has left (held while paused), in whole minutes."""
        m = self.dialog.messages
        end = self._timed_end
        if s.kind != "timed" or end is None or end not in self._timers:
            self._say("messages.no_timer", m["no_timer"])
            if s.is_question:
                self._emit(self._last_said)  # the question still wants its answer
            return
        left_s = end.due_s - (self._paused_at if self._paused_at is not None else self.clock.now())
        if left_s < 60:
            self._say("messages.time_left_short", m["time_left_short"])
        else:
            self.facts["minutes_left"] = math.ceil(left_s / 60)
            self._say("messages.time_left", m["time_left"])

    def _pause(self) -> None:
        self._paused_at = self.clock.now()
        m = self.dialog.messages
        if self._timers or "paused_no_timer" not in m:
            self._say("messages.paused", m["paused"])
        else:
            self._say("messages.paused_no_timer", m["paused_no_timer"])
        self._schedule(self.settings.max_pause_s, self._pause_expired, holds_on_pause=False)

    def _resume_if_paused(self) -> None:
        """Let the held timers run again, shifted by the time they were held."""
        if self._paused_at is None:
            return
        held = self.clock.now() - self._paused_at
        self._paused_at = None
        self._timers = [t for t in self._timers if t.holds_on_pause]  # drop the expiry
        for t in self._timers:
            t.due_s += held
        heapq.heapify(self._timers)

    def _while_paused(self, name: str | None) -> None:
        if name == "resume":
            self._resume_if_paused()
            self._say("messages.resumed", self.dialog.messages["resumed"])
            s = self.current
            if s and s.is_question:
                self._emit(self._last_said)
        elif name is not None:  # silence while paused is expected
            self._say("messages.still_paused", self.dialog.messages["still_paused"])

    def _pause_expired(self) -> None:
        m = self.dialog.messages
        s = self.current
        if s and s.red_flag and s.red_flag.level != "routine":
            # Its question was never answered: not ended unanswered, but asked again as a
            # confirmation, so that silence ends in its safe default (the person may be unable
            # to answer) and a "no" still passes.
            self._resume_if_paused()
            if "pause_expired_question" in m:
                self._say("messages.pause_expired_question", m["pause_expired_question"])
            self._confirm(s, doubt=False)
            return
        self._say("messages.pause_expired", m["pause_expired"])
        self._stop()

    def _stop(self) -> None:
        s = self.current
        m = self.dialog.messages
        if s and s.red_flag and self._in_doubt and s.red_flag.level != "routine":
            self._advise_unclear(s)
            return
        if s and s.kind == "escalation" and s.level == "emergency":
            self._say("messages.emergency_ended", m["emergency_ended"])
        else:
            for i, text in enumerate(s.on_stop if s else ()):
                self._say(f"states.{s.name}.on_stop.{i}" if s else "", text)
            self._remind_urgent()
            self._say("messages.goodbye", m["goodbye"])
            self._say("messages.safety_line", m["safety_line"])
        self._end("stopped")

    def _remind_urgent(self) -> None:
        """A stop before the close: an urgent flag noted on the way is still said."""
        reasons = [r for lvl, r in self.flags if lvl == "urgent"]
        if reasons and "summary_urgent" in self.dialog.messages:
            self.facts["urgent_reasons"] = _joined(reasons)
            self._say("messages.summary_urgent", self.dialog.messages["summary_urgent"])

    def _advise_unclear(self, s: State) -> None:
        """The session ends while a red-flag answer is unclear: it counts as a yes, and the
        person hears that flag's advice before the end."""
        rf = s.red_flag
        assert rf is not None
        m = self.dialog.messages
        self._note(rf.level, rf.reason)
        self._reason = rf.reason
        if "red_flag_unclear_at_end" in m:
            self._say("messages.red_flag_unclear_at_end", m["red_flag_unclear_at_end"])
        advice = self.dialog.states[s.on["yes"]]
        self._out.append(Escalated(rf.level, rf.reason, advice.name))
        self._emit([self._reply(f"states.{advice.name}.say.{i}", t)
                    for i, t in enumerate(advice.say)])
        if rf.level == "emergency":
            self._say("messages.emergency_ended", m["emergency_ended"])
        else:
            self._remind_urgent()  # this flag by name, and any urgent one before it
            self._say("messages.safety_line", m["safety_line"])
        self._end("escalated")

    # ---- escalation --------------------------------------------------------------------------

    def _in_emergency(self, s: State) -> bool:
        return s.kind == "escalation" and s.level == "emergency"

    def _escalate_emergency(self) -> None:
        if self.current and self._in_emergency(self.current):
            self._while_emergency("emergency")
            return
        self._note("emergency", self._reason)
        self.trigger("escalate_emergency")

    def _while_emergency(self, name: str | None) -> None:
        """Whatever the person says in the emergency, the instruction stands, and the guide
        stays: their words never count towards the repeats that end the session (they start
        the count again), "I called them" is acknowledged, and nothing pauses it."""
        self._emergency_repeats = 0
        m = self.dialog.messages
        if name == CALL_MADE and "emergency_called" in m:
            self._say("messages.emergency_called", m["emergency_called"])
        elif name == "pause" and "emergency_stay" in m:
            self._say("messages.emergency_stay", m["emergency_stay"])
        elif name == "slower":
            self._slower()
        else:
            self._emit(self._last_said)

    def _emergency_timer(self) -> None:
        """The instruction again on its timer; after the most repeats with nothing said in
        between, the closing line."""
        self._emergency_repeats += 1
        if self._emergency_repeats > self.settings.emergency_max_repeats:
            self._say("messages.emergency_ended", self.dialog.messages["emergency_ended"])
            self._end("escalated")
            return
        self._emit(self._last_said)
        self._schedule(self.settings.emergency_repeat_s, self._emergency_timer)

    # ---- entering states ---------------------------------------------------------------------

    def _on_enter(self, event: EventData) -> None:
        s = self.dialog.states[event.state.name]
        source = event.transition.source if event.transition else START
        self._out.append(StateChanged(source, s.name))
        self._visits[s.name] = self._visits.get(s.name, 0) + 1
        self._reasks = 0
        self._confirming = False
        self._doubted = None
        self._confirm_reasks = 0
        self._disagreed = False
        self._in_doubt = False
        self._timers = []  # a state's timers end with it (only an emergency enters while paused)
        self._paused_at = None
        self._entered_at = self.clock.now()
        said = [self._reply(f"states.{s.name}.say.{i}", text) for i, text in enumerate(s.say)]
        if s.kind == "escalation":
            self._out.append(Escalated(s.level or "emergency", self._reason, s.name))
            if s.level == "emergency":
                self._emergency_repeats = 0
                self._schedule(self.settings.emergency_repeat_s, self._emergency_timer)
        if s.kind == "final":
            said = self._summary(s) + said
        if s.ask:
            said.append(self._reply(f"states.{s.name}.ask", s.ask, expects_answer=True))
        if said:
            self._last_said = said
        self._emit(said)
        if s.kind == "say":
            self.trigger("advance")
        elif s.kind == "timed":
            self._start_timed(s)
        elif s.kind == "final":
            self._end("completed")

    def _timer_scale(self, s: State) -> float:
        """How a tester's `timer_scale` applies: to ice and heat, not to breathing counts."""
        return self.settings.timer_scale if s.rounds <= 1 else 1.0

    def _start_timed(self, s: State) -> None:
        scale = self._timer_scale(s)
        round_s = s.round_s or s.total_s
        for r in range(s.rounds):
            for i, cue in enumerate(s.cues):
                reply = self._reply(f"states.{s.name}.cues.{i}", cue.text)
                at_s = (r * round_s + cue.at_s) * scale
                if at_s == 0:
                    self._cue(reply)()  # said on entry, not at the next tick
                else:
                    self._schedule(at_s, self._cue(reply))
        self._timed_end = self._schedule(s.total_s * scale, lambda: self._finish_timed(s))

    def _cue(self, reply: Reply) -> Callable[[], None]:
        def speak() -> None:
            self._last_said = [reply]
            self._emit([reply])
        return speak

    def _finish_timed(self, s: State) -> None:
        self._note_timed(s, s.total_s * self._timer_scale(s))
        self.trigger("advance")

    def _note_timed(self, s: State, elapsed_s: float) -> None:
        """Facts for the closing summary: what was used and for how long."""
        self.facts.update(s.record)
        if s.rounds > 1:
            self.facts["rounds"] += int(elapsed_s // s.round_s)
        else:
            self.facts["minutes"] = max(1, round(elapsed_s / 60))  # "about a minute", not 0

    def _summary(self, s: State) -> list[Reply]:
        """Each summary line whose fields are all known (else its `otherwise`), in order."""
        f, m = self.facts, self.dialog.messages
        for level in ("urgent", "routine"):
            reasons = [r for lvl, r in self.flags if lvl == level]
            if reasons:
                f[f"{level}_reasons"] = _joined(reasons)
        # no breathing done: no rounds to tell
        known = {"emergency_number", *(k for k, v in f.items() if k != "rounds" or v)}
        out = []
        for line in s.summary:
            names = template_fields(m[line.say])
            key = line.say if names <= known else line.otherwise
            numbers = [f[n] for n in sorted(names) if isinstance(f.get(n), int)
                       and not isinstance(f.get(n), bool)]
            if key == line.say and line.same and len(numbers) > 1 and len(set(numbers)) == 1:
                key = line.same  # "from 3 to 3" reads as "the same as before"
            elif key == line.say and line.one and numbers == [1]:
                key = line.one  # "1 minutes"
            if key is not None:
                out.append(self._reply(f"messages.{key}", m[key]))
        return out

    # ---- ending, timers, output ----------------------------------------------------------------

    def _end(self, outcome: str) -> None:
        level = self.level
        if level in ("emergency", "urgent"):
            outcome = "escalated"
        self.outcome = SessionEnded(
            outcome,  # type: ignore[arg-type]
            level,
            {"facts": dict(self.facts), "flags": [list(f) for f in self.flags],
             "last_state": self.state},
        )
        self._timers = []
        self.ended = True
        self.trigger("finish")
        self._out.append(self.outcome)

    def _schedule(self, after_s: float, action: Callable[[], None],
                  holds_on_pause: bool = True) -> _Timer:
        timer = _Timer(self.clock.now() + after_s, next(self._seq), action, holds_on_pause)
        heapq.heappush(self._timers, timer)
        return timer

    def _fire_due(self) -> None:
        now = self.clock.now()
        while not self.ended:
            due = [t for t in self._timers if t.due_s <= now and not
                   (self.paused and t.holds_on_pause)]
            if not due:
                return
            timer = min(due)
            self._timers.remove(timer)
            heapq.heapify(self._timers)
            timer.action()

    def _reply(self, key: str, template: str, expects_answer: bool = False) -> Reply:
        values = {k: str(v) for k, v in self.facts.items()}
        m = self.dialog.messages
        when = m.get(WHEN_HEARD[self.settings.barge_in], "")
        if self.settings.safety_words_over_speech and not self.settings.barge_in:
            when = m.get("when_heard_safety", when)
        shown = template.format_map(_Fields(values, self.settings.emergency_number, when))
        spoken = template.format_map(_Fields(values, self.settings.emergency_number_spoken, when))
        return Reply(key, shown, self.state, expects_answer, spoken if spoken != shown else "")

    def _say(self, key: str, template: str) -> None:
        self._emit([self._reply(key, template)])

    def _emit(self, replies: list[Reply]) -> None:
        self._out.extend(replies)

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out


def _joined(reasons: list[str]) -> str:
    """Reasons as said: each once, in the order raised ("a fever and past cancer")."""
    return " and ".join(dict.fromkeys(reasons))


class _Fields(dict[str, str]):
    """Template values; an unknown fact reads as "unknown" rather than failing mid-session."""

    def __init__(self, values: dict[str, str], number: str, when_heard: str) -> None:
        super().__init__(values, emergency_number=number, when_heard=when_heard)

    def __missing__(self, key: str) -> str:
        return "unknown"
