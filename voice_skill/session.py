"""One session loop for every front end: typed lines, a microphone, or a recorded scenario.

Data flows one way: listener -> intent matcher -> dialogue manager -> speaker and log sinks.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from voice_skill import shutdown
from voice_skill.clock import Clock
from voice_skill.dialogue.dialog import Dialog
from voice_skill.dialogue.intents import NO_MATCH, SAFETY_INTENTS, IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.events import (
    Continued,
    Corrected,
    Escalated,
    InputClosed,
    Intent,
    Listening,
    NoInput,
    NotSaid,
    Output,
    RateChanged,
    Recognized,
    Reply,
    SessionEnded,
    SessionEvent,
    Timing,
    Unanswered,
    Understood,
    Utterance,
)
from voice_skill.hearing.listening import EndOfInput, Heard, Listener, in_noise
from voice_skill.notify import Notifier
from voice_skill.settings import Settings
from voice_skill.speaking.tts import Speaker

Sink = Callable[[SessionEvent], None]
log = logging.getLogger(__name__)

SAFETY_WORDS = ("stop", *SAFETY_INTENTS)
"""what is heard over the skill's speech when barge_in is off (safety_words_over_speech)"""
TALK_WORDS = 6
"""an answer to the session's own yes-or-no question of this many words or more that is neither
is someone's talk (a television); a shorter one ("ah", "i can not move") is no clear answer"""


@dataclass(frozen=True)
class _Answered:
    """An answer acted on, and the dialogue as it was before, should more of it follow."""

    heard: Heard
    state: str
    intent: Intent
    before: DialogueManager | None
    """the dialogue before the answer (None when it could not be kept)"""


def _same(a: Intent, b: Intent) -> bool:
    """Whether two intents mean the same ("yes" and "yes yes"; not "three" and "three seven")."""
    return (a.name, a.value) == (b.name, b.value)


class Session:
    """Runs a dialogue from start to end against a listener, a speaker and log sinks."""

    def __init__(self, dialog: Dialog, settings: Settings, clock: Clock, listener: Listener,
                 speaker: Speaker | None, sinks: list[Sink],
                 notifier: Notifier | None = None, typed: bool = False) -> None:
        self.dialog, self.settings, self.clock = dialog, settings, clock
        self.typed = typed
        """answers are typed at the screen: the person is plainly there, so no hearing check"""
        self.listener, self.speaker, self.sinks = listener, speaker, sinks
        self.notifier = notifier or Notifier(settings.notify_command, settings.notify_timeout_s)
        self.matcher = IntentMatcher(dialog, settings.emergency_number)
        self.manager = DialogueManager(dialog, settings, clock)
        self._spoke = True
        self._last: _Answered | None = None
        """the last answer acted on, and the dialogue as it was before it"""
        self._shared = {id(x): x for x in (dialog, settings, clock)}  # never copied
        self._asks = all(k in dialog.messages for k in ("confirm_stop", "confirm_help", "carry_on"))
        """the dialogue has the words to ask about a stop or a call for help heard unsurely"""
        self._safety = tuple(dict.fromkeys(
            p for i in SAFETY_WORDS for p in dialog.intents.get(i, ()))) if self._asks else ()
        """the phrases listened for over the skill's speech when barge_in is off (none when
        the dialogue has no words to ask about them with)"""
        self._safety_tokens = {w for p in self._safety for w in self.matcher.tokens(p)}
        """their words: one of them heard while the skill says it may be its echo"""
        self._said_before = ""
        """the sentence said before the one being said: its echo may still ring"""

    def log(self, event: SessionEvent) -> None:
        """Hand one event to every sink."""
        for sink in self.sinks:
            sink(event)

    def run(self, first: Intent | None = None, ask_first: bool = False) -> SessionEnded:
        """The whole session; Ctrl-C, SIGTERM, SIGHUP or the end of input end it politely with
        the safety line (in an emergency, the emergency closing line) and an `ended` event.

        `first` is something the person already said before the session began ("call an
        ambulance" to a waiting speaker): it is acted on at once, without the greeting; with
        `ask_first` (a call heard unsurely, or inside a stretch of someone's talk) it is asked
        about first (`_call_meant`), and a session not called for ends at once.
        A typed session says the greeting but does not ask a hearing check (a start state that
        goes on with `ready`, "Can you hear me?"): it goes on as if the person had said ready.
        """
        with shutdown.holding():  # a stop signal waits for a reply to end, never cuts it off
            try:
                opening = self.manager.start()
                if (first is None and self.typed
                        and "ready" in self.dialog.states[self.manager.state].on):
                    self._render([o for o in opening
                                  if not (isinstance(o, Reply) and o.expects_answer)])
                    self._render(self.manager.handle(Intent("ready", text="")))
                elif first is None:
                    self._render(opening)
                else:
                    self.log(Recognized(Utterance(first.text, first.confidence),
                                        self.manager.state))
                    if ask_first:  # asked about: a call, as sure as can be, or no session
                        first = (replace(first, confidence=1.0) if self._call_meant()
                                 else Intent("stop", text=""))
                    self._render(self.manager.handle(first))
                while not self.manager.ended:
                    shutdown.check()
                    self._step()
            except (EndOfInput, KeyboardInterrupt, shutdown.Terminated) as why:
                if not self.manager.ended:
                    self.log(InputClosed(
                        "signal" if isinstance(why, shutdown.Terminated)
                        else "interrupted" if isinstance(why, KeyboardInterrupt) else "end"))
                    self._render(self.manager.handle(Intent("stop", text="")))
            finally:
                # hooks still running get a short grace (notify.END_GRACE_S), then are stopped
                for n in self.notifier.wait(self.settings.notify_timeout_s + 2.0):
                    self.log(n)
        assert self.manager.outcome is not None
        return self.manager.outcome

    def _step(self) -> None:
        m = self.manager
        due = m.next_due()
        now = self.clock.now()
        if due is not None and due <= now:
            self._render(m.tick())
            return
        timer_wait = None if due is None else due - now
        no_input = self.listener.no_input_timeout_s if m.listening() else None
        # Silence that lasts to the no-input limit is an unanswered question; silence that is
        # cut short by a timer (a breathing count, the ice halfway check) is not.
        silence_is_no_input = no_input is not None and (timer_wait is None or no_input <= timer_wait)
        timeout = no_input if silence_is_no_input else timer_wait
        state = m.state
        if self._spoke and m.listening():
            # the skill has finished speaking and now listens: a cue for testers and tools
            self.log(Listening(state))
        self._spoke = False
        with shutdown.waiting():  # waiting for the person: a stop signal ends the wait
            heard = self.listener.listen(state, self.matcher.grammar(state), timeout,
                                         self.dialog.question(state))
        for n in self.notifier.results():
            self.log(n)
        if heard.utterance is not None:
            self._answer(heard, state)
        elif m.listening() and (heard.empty or (silence_is_no_input and not heard.unavailable)):
            self.log(Unanswered(state))
            self._render(m.handle(NoInput()))

    def _answer(self, heard: Heard, state: str) -> None:
        """Match what was heard in `state` and act on it (or on the answer it continues)."""
        assert heard.utterance is not None
        u = heard.utterance
        self.log(Recognized(u, state, heard.over_speech))
        joined = self._continued(heard)
        last = self._last
        if joined is not None and last is not None and _same(joined, last.intent):
            self.log(Continued(u.text, last.state))
            return  # more of the answer already taken ("yes ... yes"): it stands
        if joined is not None and last is not None and last.before is not None:
            # The person went on after a quick end and changed the answer ("three ... seven"):
            # the dialogue goes back to before that answer and takes the whole of it.
            self.log(Corrected(joined.text, last.state))
            last.before.told_noisy |= self.manager.told_noisy  # what was said stays said
            self.manager, state = last.before, last.state
            intent = joined
        else:
            intent = self.matcher.match(u.text, state, u.confidence)
        if in_noise(u):
            intent = replace(intent, in_noise=True)
        self.log(Understood(intent, state))
        if intent.name == "stop" and not self._stop_meant(intent, state):
            return
        talked_over = self.dialog.messages.get("talked_over")
        if heard.over_speech and intent.name == NO_MATCH and talked_over:
            # Words said while the skill spoke, not an answer: say so, then the question again.
            self._render([Reply("messages.talked_over", talked_over, state)])
            self._render(self.manager.handle(Intent("repeat", text="")))
            return
        # Timers hold closures over the dialogue that a copy would not follow: no going back then.
        # a fresh memo each time: deepcopy records its copies in it, and would hand back the
        # first copy of the dialogue ever made (the opening) instead of a copy of this one.
        # Typed lines never continue an answer: no copy (it costs milliseconds per answer).
        keep = self.manager.next_due() is None and getattr(self.listener, "continues", True)
        before = copy.deepcopy(self.manager, dict(self._shared)) if keep else None
        self._last = _Answered(heard, state, intent, before)
        t0 = time.perf_counter()
        out = self.manager.handle(intent)
        self._render(out, heard, time.perf_counter() - t0)

    def _stop_meant(self, intent: Intent, state: str) -> bool:
        """Whether a "stop" is to end the session. One heard unsurely is asked about first
        ("Did you say stop?"), so noise or a television never ends a session unasked: "yes"
        stops, a "no" or silence carries on with the question. On a red flag the dialogue
        confirms the question itself (a "yes" heard as stop must not end the screening)."""
        m = self.dialog.messages
        if (intent.confidence >= self.settings.low_confidence or self.speaker is None
                or not self._asks or self.dialog.states[state].red_flag is not None):
            return True
        answer = self._ask_yes_no("confirm_stop", m["confirm_stop"])
        if answer == "yes":
            return True
        if answer == "help":  # asked whether they meant stop, they called for help
            self._render(self.manager.handle(Intent("help", confidence=1.0, text="")))
            return False
        self._render([Reply("messages.carry_on", m["carry_on"], state)])
        self._render(self.manager.handle(Intent("repeat", text="")))
        return False

    def _call_meant(self) -> bool:
        """Whether a call for help heard while waiting, unsurely or inside a stretch of someone's
        talk, was the person's: asked about ("Did you ask for help?"). A "yes", the call
        again, or no clear answer (someone who called may be unable to say more) is a call,
        at once; only a "no", or talk that answers neither twice over (a television talking
        on), is not."""
        if self.speaker is None or not self._asks:
            return True
        for _ in range(2):
            answer = self._ask_yes_no("confirm_help", self.dialog.messages["confirm_help"])
            if answer != "neither":  # yes, help, or no clear answer: a call
                return answer != "no"
        log.info("a call for help heard while waiting, asked about twice: talk that answers "
                 "neither, not taken as a call")
        return False

    def _continued(self, heard: Heard) -> Intent | None:
        """The whole answer, when `heard` is the rest of the last one; else None."""
        last = self._last
        if last is None or not heard.continues:
            return None
        assert heard.utterance is not None
        return self.matcher.match(heard.utterance.text, last.state, heard.utterance.confidence)

    def _acts_on(self, heard: Heard) -> bool | None:
        """For words heard over the skill: act now (True), answer after speaking (False), or
        nothing to do (None: more of an answer already taken, logged)."""
        assert heard.utterance is not None
        joined = self._continued(heard)
        if joined is not None and self._last is not None:
            if not _same(joined, self._last.intent):
                return True
            self.log(Continued(heard.utterance.text, self._last.state))
            return None
        return self.matcher.match(heard.utterance.text, self.manager.state).name != NO_MATCH

    def _render(self, outputs: list[Output], heard: Heard | None = None,
                dialogue_s: float = 0.0) -> None:
        first_reply = True
        over: Heard | None = None  # what the person said over the skill
        pending = list(outputs)
        while pending:
            out = pending.pop(0)
            if isinstance(out, Reply) and over is not None:
                self.log(NotSaid(out.key, out.state))
                continue  # the person spoke over the skill: the rest of what it had to say waits
            if isinstance(out, Reply):  # its `said` event tells how the words go out
                out = replace(out, spoken_by=self.speaker.plan() if self.speaker else "printed")
            self.log(out)
            if isinstance(out, Escalated):
                self.notifier.notify(out, self.settings.emergency_number)
            elif isinstance(out, RateChanged) and self.speaker:
                self.speaker.set_rate_factor(out.rate_factor)
            elif isinstance(out, Reply):
                self._spoke = True
                if self.speaker:
                    over = self._say(out.spoken)
                    if self.speaker.last_spoken_by != out.spoken_by:
                        # the worker failed in the middle: the words went out again another way
                        self.log(replace(out, spoken_by=self.speaker.last_spoken_by))
                    if over is not None and not self.settings.barge_in:
                        if self._safety_word(over):
                            return  # acted on: what was left to say is not said
                        over = None
                        pending.insert(0, out)  # "no": carry on where it was, from this sentence
                if first_reply and heard and heard.ended_at is not None:
                    first_reply = False
                    self._log_timing(heard, dialogue_s)
        if over is not None and not self.manager.ended:
            self._answer(over, self.manager.state)

    def _safety_word(self, over: Heard) -> bool:
        """A safety word heard over the skill (the speech is already cut): a sure "help" or
        call for help is acted on at once; an unsure one, and every "stop", is asked about
        first, so an echo or a television never ends a session or calls for help unasked.
        True when acted on; False to carry on where the skill was."""
        assert over.utterance is not None
        u, state, m = over.utterance, self.manager.state, self.dialog.messages
        self.log(Recognized(u, state, True))
        intent = self.matcher.match(u.text, state, u.confidence)
        self.log(Understood(intent, state))
        is_help = intent.name in SAFETY_INTENTS
        if is_help and u.confidence >= self.settings.low_confidence:
            self._render(self.manager.handle(intent))
            return True
        key = "confirm_help" if is_help else "confirm_stop"
        answer: str | None = None
        for _ in range(2 if is_help else 1):  # an unanswered "help" is asked about once more
            answer = self._ask_yes_no(key, m[key])
            if answer in ("yes", "no", "help"):
                break
        if answer == "help" and not is_help:  # asked about a stop, they called for help
            intent = Intent("help", confidence=1.0, text="")
        if answer in ("yes", "help") or (is_help and answer != "no"):
            # asked for, or a "help" the person could not answer about: the safe side
            self._render(self.manager.handle(replace(intent, confidence=1.0)))
            return True
        self._render([Reply("messages.carry_on", m["carry_on"], state)])
        return False

    def _ask_yes_no(self, key: str, question: str) -> str | None:
        """Ask a yes-or-no question of the session's own (not a dialogue state's), heard
        without barge-in: "help" (a call for help anywhere in the answer, whatever else it
        holds), "no", "yes" ("stop" too), "neither" (a sure stretch of TALK_WORDS or more words
        that is neither: someone's talk), or None (nothing clear heard)."""
        assert self.speaker is not None
        reply = Reply(f"messages.{key}", question, self.manager.state, True)
        self.log(replace(reply, spoken_by=self.speaker.plan()))
        self._say_unheard(question)  # its echo is never taken for the answer
        self.log(Listening(key))
        phrases = tuple(dict.fromkeys(p for i in ("yes", "no") for p in self.dialog.intents.get(i, ())))
        heard = self.listener.listen(self.manager.state, phrases + self._safety,
                                     self.listener.no_input_timeout_s, question)
        if heard.utterance is None:
            return None
        self.log(Recognized(heard.utterance, key, False))
        tokens = list(self.matcher.tokens(heard.utterance.text))
        words = " " + " ".join(tokens) + " "

        def says(name: str) -> bool:
            said = (*self.dialog.intents.get(name, ()), *self.dialog.understood.get(name, ()))
            return any(f" {p} " in words for p in said)

        if any(says(n) for n in SAFETY_INTENTS) or self.matcher.calls.read(tokens) is not None:
            return "help"
        if says("no"):
            return "no"
        if any(says(n) for n in ("yes", *SAFETY_WORDS)):
            return "yes"
        if len(tokens) >= TALK_WORDS and heard.utterance.confidence >= self.settings.low_confidence:
            return "neither"
        return None

    def _safety_acts_on(self, sentence: str) -> Callable[[Heard], bool | None]:
        """For words heard over `sentence` when only safety words are listened for: act on a
        safety word (True), leave everything else (None). A safety word that the skill is
        saying, or has just said, may be its own echo ("Say help if you need
        ..." heard as "hey help if you need it": each word of the safety phrases heard is in
        the sentence): left too; the person says it again once the skill is quiet, and is
        heard then. "Call an ambulance" over "... call 9 1 1 now" is not ("ambulance").
        `sentence` is what is being said, after the sentence before it."""
        own = set(self.matcher.tokens(sentence))

        def acts_on(heard: Heard) -> bool | None:
            assert heard.utterance is not None
            text = heard.utterance.text
            intent = self.matcher.match(text, self.manager.state, heard.utterance.confidence)
            if intent.name not in SAFETY_WORDS:
                return None
            if set(self.matcher.tokens(text)) & self._safety_tokens <= own:
                log.info("%r heard over the skill's own %r: its echo, left", text, sentence)
                return None
            return True

        return acts_on

    def _say(self, text: str) -> Heard | None:
        """Speak; with barge-in, what the person said over it (None: nothing)."""
        speaker = self.speaker
        assert speaker is not None
        hear_over = getattr(self.listener, "hear_over", None)
        s = self.manager.current
        # nothing cuts an emergency instruction short, unless every answer is heard over it
        emergency = s is not None and s.kind == "escalation" and s.level == "emergency"
        listens = self.settings.barge_in or (self.settings.safety_words_over_speech
                                             and bool(self._safety) and not emergency)
        # espeak-ng called directly (the worker failed) plays where the echo canceller cannot
        # place it: the guide heard its own voice, "stop" and its "... or no", through the gate
        listens = listens and speaker.plan() != "fallback"
        before, self._said_before = self._said_before, text
        if not listens or hear_over is None or self.manager.ended:
            self._say_unheard(text)
            return None
        state = self.manager.state
        acts_on = self._acts_on if self.settings.barge_in else self._safety_acts_on(
            f"{before} {text}")
        heard: Heard | None = hear_over(state, self.matcher.grammar(state),
                                        self.dialog.question(state), lambda: speaker.say(text),
                                        speaker.stop, acts_on, self._safety)
        return heard

    def _say_unheard(self, text: str) -> None:
        """Speak without listening over it; the listener then drops what the microphone caught
        meanwhile (the skill's own voice), as it does whenever it did not listen over speech."""
        speaker = self.speaker
        assert speaker is not None
        hear_over = getattr(self.listener, "hear_over", None)
        if hear_over is None or self.settings.barge_in:
            speaker.say(text)
            return
        state = self.manager.state
        hear_over(state, (), "", lambda: speaker.say(text), speaker.stop, lambda _: None, ())

    def _log_timing(self, heard: Heard, dialogue_s: float) -> None:
        """Where the time went between the end of the person's speech and the reply's first audio."""
        u = heard.utterance
        assert u is not None
        first_audio = getattr(self.speaker, "last_first_audio_s", None)
        first_at = getattr(self.speaker, "last_first_audio_at", None)
        t = heard.timing
        self.log(Timing(self.settings.end_silence_s, round(u.decode_s, 4), round(dialogue_s, 4),
                        None if first_audio is None else round(first_audio, 4),
                        voice_ended_at=t.voice_ended_at if t else None,
                        ended_at=heard.ended_at, first_audio_at=first_at,
                        quiet_s=round(t.quiet_s, 3) if t else None,
                        judge_wait_s=round(t.judge_wait_s, 4) if t else None,
                        pause_decodes=t.pause_decodes if t else 0,
                        decodes_after=t.decodes_after if t else 0))
