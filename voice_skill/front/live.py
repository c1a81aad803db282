"""`voice-skill run`: a session with a person, by voice or typed, in wall time."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

from voice_skill import console
from voice_skill.clock import WallClock
from voice_skill.console import json_text, write_line
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.errors import AudioError
from voice_skill.events import Intent, Notice, Recognized, Reply, SessionEnded, SessionEvent
from voice_skill.front.text_input import TextListener
from voice_skill.hearing.audio import MicrophoneSource
from voice_skill.hearing.listening import EndOfInput, Heard, Listener
from voice_skill.session import Session, Sink
from voice_skill.session_log import SessionLog, record
from voice_skill.settings import Settings
from voice_skill.speaking.tts import Pyttsx3Speaker, Speaker


def _json_sink(event: SessionEvent) -> None:
    write_line(json_text(record(event)))


def _console_sink(echo_heard: bool) -> Sink:
    """What a person at the screen would like to read: what was said (and heard, by voice)."""

    def show(event: SessionEvent) -> None:
        if isinstance(event, Reply):
            write_line(event.text)
        elif isinstance(event, Recognized) and echo_heard:
            write_line(f"  (heard: {event.utterance.text or '...'})")

    return show


class _UntilUnread:
    """Typed answers while someone reads the replies: a typed session whose output went away
    (`| head -3`) ends as at the end of input, politely and logged. A spoken one goes on."""

    def __init__(self, typed: TextListener) -> None:
        self.typed = typed
        self.no_input_timeout_s = typed.no_input_timeout_s
        self.continues = typed.continues

    def listen(self, state: str, phrases: tuple[str, ...] | None, timeout_s: float | None,
               hint: str = "") -> Heard:
        """The next typed line; EndOfInput once nobody reads the replies."""
        if console.gone():
            raise EndOfInput
        return self.typed.listen(state, phrases, timeout_s, hint)


def run_session(settings: Settings, text: bool, json_out: bool, first: Intent | None = None,
                ask_first: bool = False,
                mic: MicrophoneSource | None = None) -> SessionEnded | None:
    """Run one session; returns its outcome (None if it could not start).

    `first` is what the person said to start it (acted on at once, or asked about first with
    `ask_first`); `mic` an open microphone to listen with (`voice-skill serve` keeps one open
    between sessions).
    """
    dialog = load_dialog(settings.dialog_path)
    sinks: list[Sink] = [_json_sink] if json_out else []

    def note(message: str) -> None:
        """Into the log and the JSON stream."""
        for sink in sinks:
            sink(Notice(message))

    def announce(message: str) -> None:
        """Engine and device notices: said once, in plain words, and logged."""
        write_line(message, sys.stderr)
        note(message)

    log = None
    if settings.log_enabled:
        try:
            log = SessionLog(settings.log_dir, on_fail=announce)  # told once, never fatal
            sinks.append(log.write)
        except OSError as exc:
            announce(f"Cannot write the session log in {settings.log_dir}: {exc.strerror}."
                     " Going on without it.")
    speaker: Speaker | None = None
    listener: Listener
    typed = TextListener(sys.stdin, prompt=None if json_out else sys.stdout)
    if not text and mic is None and not _any_sound_device():
        announce("No microphone or speaker here: a typed session. Type your answers below.")
        text = True
    if text:
        listener = _UntilUnread(typed)
    else:
        # When it cannot speak, the speaker prints its notice and the words. On screen the
        # console sink already shows every reply, so only the notice is kept (said once); in
        # JSON mode all of it goes to stderr, so stdout stays one JSON event per line.
        def speech_failed(why: str) -> None:
            (note if json_out else announce)(f"Speech output failed ({why}): the words are"
                                             " shown instead.")

        speaker = Pyttsx3Speaker(settings, on_fault=speech_failed,
                                 stream=sys.stderr if json_out else io.StringIO())
        listener = _voice_listener(settings, dialog, announce, typed, speaker, mic) or typed
    by_hand = listener is typed or isinstance(listener, _UntilUnread)  # answers are typed
    # The guide tells the person when they can be heard ({when_heard}): only what this
    # listener really does (typed answers, or no echo canceller, hear nothing over the guide).
    settings = settings.replace(barge_in=bool(getattr(listener, "barge_in", False)),
                                safety_words_over_speech=bool(getattr(
                                    listener, "safety_over_speech", False)))
    if not json_out:
        sinks.append(_console_sink(echo_heard=not by_hand))
    try:
        outcome = Session(dialog, settings, WallClock(), listener, speaker, sinks,
                          typed=by_hand).run(first, ask_first)
    finally:
        if speaker:
            speaker.close()
        if log:
            log.close()
            write_line(f"Session log: {log.path}", sys.stderr)
    return outcome


def _voice_listener(settings: Settings, dialog: Dialog, announce: Callable[[str], None],
                    typed: TextListener, speaker: Pyttsx3Speaker,
                    mic: MicrophoneSource | None = None) -> Listener | None:
    """Microphone + endpointing + the best recognizer here; None (text mode) without a microphone."""
    from voice_skill.dialogue.intents import IntentMatcher
    from voice_skill.hearing.audio import AudioSource
    from voice_skill.hearing.echo import cancel_echo
    from voice_skill.hearing.endpointing import Endpointer
    from voice_skill.hearing.front_end import cleaned
    from voice_skill.hearing.keyword_judge import keyword_judge
    from voice_skill.hearing.recognizers import guiding_recognizer
    from voice_skill.hearing.second_opinion import DEFAULT_RULES
    from voice_skill.hearing.turns import TurnJudge
    from voice_skill.hearing.voice_input import AudioListener

    interactive = sys.stdin is not None and sys.stdin.isatty()
    try:
        mic = mic or MicrophoneSource(settings)
    except AudioError as exc:
        announce(f"{exc}. I will show the questions here: type your answers.")
        return None
    recognizer = guiding_recognizer(settings, announce)  # only when there is a microphone
    source: AudioSource = mic
    barge_in, safety = settings.barge_in, settings.safety_words_over_speech and not settings.barge_in
    if barge_in or safety:
        try:
            source = cancel_echo(mic, speaker, quiet_person=safety,
                                 server=settings.echo_cancel == "server")
        except AudioError as exc:  # without echo cancellation it would hear itself
            announce(f"{exc}. I will not listen while I speak.")
            barge_in = safety = False
    source = cleaned(source, settings)  # after the echo canceller: it needs the sound as played
    judge = TurnJudge(recognizer, IntentMatcher(dialog, settings.emergency_number), settings)
    # the second opinion on one-word answers; a damaged file is one line, Whisper hears alone
    words = keyword_judge(announce) if settings.keyword_judge else None
    return AudioListener(source, Endpointer(settings), recognizer, settings.no_input_timeout_s,
                         announce, fallback=typed if interactive else None, judge=judge,
                         barge_in=barge_in, safety_over_speech=safety, keyword_judge=words,
                         opinion_rules=DEFAULT_RULES)


def _any_sound_device() -> bool:
    """Whether PortAudio sees any microphone or speaker at all (True when it cannot tell)."""
    from voice_skill.hearing.audio import list_devices

    try:
        return any(d.inputs or d.outputs for d in list_devices())
    except AudioError as exc:  # no PortAudio library: nothing to hear or speak with
        return "PortAudio library is missing" not in str(exc)
