"""End of turn: a whole answer ends the turn after a short pause, a beginning waits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_skill.dev.turn_bench import trim
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.events import Utterance
from voice_skill.hearing.audio import WavSource, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.listening import Heard
from voice_skill.hearing.recognizers import recognizer_for
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import AudioListener
from voice_skill.settings import Settings

CLEAN = Path(__file__).parent / "fixtures" / "audio" / "slt" / "clean"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def judge() -> TurnJudge:
    dialog = load_dialog(None)
    matcher = IntentMatcher(dialog)
    return TurnJudge(recognizer_for(SETTINGS, "pocketsphinx"), matcher, SETTINGS)


def needs(judge: TurnJudge, state: str, text: str) -> float:
    judge.start(state, judge.matcher.grammar(state))
    return judge.silence_for(Utterance(text, 0.9))


@pytest.mark.parametrize(("state", "text"), [("rf_bladder", "yes"), ("pain_start", "seven"),
                                             ("pain_start", "about a seven"),
                                             ("opening", "no"), ("rf_bladder", "stop")])
def test_a_whole_answer_needs_only_a_short_pause(judge: TurnJudge, state: str, text: str) -> None:
    assert needs(judge, state, text) == SETTINGS.quick_end_silence_s


def test_a_no_that_may_become_doubt_on_a_red_flag_waits_the_usual_time(judge: TurnJudge) -> None:
    # "no..." may go on to "no idea": doubt must never pass as a no
    assert needs(judge, "rf_bladder", "no") == SETTINGS.end_silence_s


@pytest.mark.parametrize(("state", "text"), [("pain_start", "i would say"),
                                             ("rf_bladder", "no i"), ("rf_bladder", ""),
                                             ("pain_start", "it is about")])
def test_a_beginning_waits_longer(judge: TurnJudge, state: str, text: str) -> None:
    assert needs(judge, state, text) == SETTINGS.patient_end_silence_s > SETTINGS.end_silence_s


def test_a_filler_at_the_end_means_the_person_is_still_thinking(judge: TurnJudge) -> None:
    assert needs(judge, "pain_start", "seven um") == SETTINGS.end_silence_s


def test_yes_ends_the_turn_sooner_than_the_fixed_end_silence(judge: TurnJudge) -> None:
    audio = np.concatenate([silence(0.5), read_wav(CLEAN / "yes.wav"), silence(2.0)])
    judge.start("rf_bladder", judge.matcher.grammar("rf_bladder"))
    quick_source, fixed_source = WavSource(audio), WavSource(audio)
    quick = Endpointer(SETTINGS).listen(quick_source, 5.0, judge.end_silence_s)
    fixed = Endpointer(SETTINGS).listen(fixed_source, 5.0)
    assert quick is not None and fixed is not None
    assert quick_source.position_s <= fixed_source.position_s - 0.4
    assert judge.utterance(quick.audio).text == "yes"  # the decode at the pause, reused


@pytest.fixture(scope="module")
def default_judge() -> TurnJudge:
    """The turn judge over the default engine (Whisper without a Vosk model)."""
    return TurnJudge(recognizer_for(SETTINGS), IntentMatcher(load_dialog(None)), SETTINGS)


def listener_over(audio: np.ndarray, judge: TurnJudge) -> AudioListener:
    return AudioListener(WavSource(audio), Endpointer(SETTINGS), judge.recognizer, 8.0,
                         announce=print, judge=judge)


def test_the_rest_of_an_answer_after_a_quick_end_is_heard_with_it(
        default_judge: TurnJudge) -> None:
    """'three ... seven': the turn ends at 'three'; 'seven' comes back as the rest of it."""
    three, seven = trim(read_wav(CLEAN / "three.wav")), trim(read_wav(CLEAN / "seven.wav"))
    audio = np.concatenate([silence(0.5), three, silence(0.45), seven, silence(2.0)])
    judge = default_judge
    listener = listener_over(audio, judge)
    grammar = judge.matcher.grammar("pain_start")
    first = listener.listen("pain_start", grammar, 5.0)
    rest = listener.listen("can_move", judge.matcher.grammar("can_move"), 5.0)
    assert first.utterance is not None and rest.utterance is not None
    assert not first.continues and rest.continues, (first, rest)
    assert judge.matcher.match(rest.utterance.text, "pain_start").value == 7, rest


def test_speech_after_the_full_end_silence_is_a_new_turn(judge: TurnJudge) -> None:
    yes = read_wav(CLEAN / "yes.wav")
    audio = np.concatenate([silence(0.5), yes, silence(1.5), yes, silence(2.0)])
    listener = listener_over(audio, judge)
    listener.listen("opening", judge.matcher.grammar("opening"), 5.0)
    again = listener.listen("rf_bladder", judge.matcher.grammar("rf_bladder"), 5.0)
    assert again.utterance is not None and not again.continues


def test_a_stop_just_after_an_answer_is_its_own_answer_not_lost_in_it(
        default_judge: TurnJudge) -> None:
    """'yes ... stop' (a real "stop"): decoded whole, Whisper hears only "yes" (10 of the
    first 40 real stops are lost so, 9 of them heard alone); the "stop" is taken alone."""
    real_stop = Path(__file__).parent / "fixtures" / "real_speech" / "stop" / "1b4c9b89_nohash_2.wav"
    yes, stop = trim(read_wav(CLEAN / "yes.wav")), trim(read_wav(real_stop))
    audio = np.concatenate([silence(0.5), yes, silence(0.45), stop, silence(2.0)])
    judge = default_judge
    listener = listener_over(audio, judge)
    first = listener.listen("opening", judge.matcher.grammar("opening"), 5.0)
    then = listener.listen("rf_bladder", judge.matcher.grammar("rf_bladder"), 5.0)
    assert first.utterance is not None and first.utterance.text == "yes"
    assert then.utterance is not None and then.utterance.text == "stop", then
    assert not then.continues


def test_a_rest_that_alone_answers_nothing_is_still_the_rest_of_the_answer(
        default_judge: TurnJudge) -> None:
    """'three ... seven' (real voices): this "seven" alone is heard as "sir", which answers
    nothing; with the "three" it is heard as "three seven", and that is the answer (it was
    taken as a new answer "sir", and the seven lost: 6 of the 126 paused answers of the
    turn benchmark were lost so, and 2 more by comparing "Seven." with "seven")."""
    real = Path(__file__).parent / "fixtures" / "real_speech" / "digits"
    three = trim(read_wav(real / "three_27c30960_nohash_0.wav"))
    seven = trim(read_wav(real / "seven_563aa4e6_nohash_1.wav"))
    judge = default_judge
    assert judge.matcher.match(judge.recognizer.recognize(seven, judge.matcher.grammar(
        "pain_start")).text, "pain_start").name == "no_match"  # the premise: alone, no answer
    audio = np.concatenate([silence(0.5), three, silence(0.45), seven, silence(2.0)])
    listener = listener_over(audio, judge)
    first = listener.listen("pain_start", judge.matcher.grammar("pain_start"), 5.0)
    rest = listener.listen("can_move", judge.matcher.grammar("can_move"), 5.0)
    assert first.utterance is not None and rest.utterance is not None
    assert rest.continues, rest
    assert judge.matcher.match(rest.utterance.text, "pain_start").value == 7, rest


class _UnsureNo:
    """A recognizer (test double) that hears an unsure "no", and says how clearly it wins
    without the question: `margin`. It notes the thread of each scoring."""

    def __init__(self, margin: float, confidence: float = 0.3) -> None:
        self.margin, self.confidence, self.scored_on = margin, confidence, []  # type: list[str]

    def recognize(self, audio: np.ndarray, phrases: object, hint: str = "") -> Utterance:
        return Utterance("no", self.confidence)

    def answer_margin(self, audio: np.ndarray, word: str) -> float:
        import threading

        self.scored_on.append(threading.current_thread().name)
        return self.margin


def _hear_a_no(recognizer: _UnsureNo) -> Heard:
    """A clean "no" answered to the ice question, heard with the turn judge."""
    judge = TurnJudge(recognizer, IntentMatcher(load_dialog(None)), SETTINGS)  # type: ignore[arg-type]
    audio = np.concatenate([silence(0.5), read_wav(CLEAN / "no.wav"), silence(2.0)])
    listener = AudioListener(WavSource(audio), Endpointer(SETTINGS), recognizer,  # type: ignore[arg-type]
                             8.0, announce=print, judge=judge)
    return listener.listen("ice_ask", judge.matcher.grammar("ice_ask"), 5.0,
                           "Do you have ice? Say yes or no.")


@pytest.mark.parametrize(("margin", "heard_as"), [(2.0, "no"), (0.5, "")])
def test_an_unsure_no_is_checked_at_the_pause_so_the_reply_waits_for_no_decode(
        margin: float, heard_as: str) -> None:
    """The clear-answer check of an unsure lone yes/no is scored at the pause, on the judge's
    thread, while the quiet that ends the turn passes: after the end nothing is decoded, and
    the answer is taken (or asked again) as before."""
    recognizer = _UnsureNo(margin)
    heard = _hear_a_no(recognizer)
    assert heard.utterance is not None and heard.utterance.text == heard_as
    assert heard.timing is not None and heard.timing.decodes_after == 0
    assert recognizer.scored_on and all(n.startswith("voice-skill-judge") for n in recognizer.scored_on)


def test_a_sure_no_costs_the_judge_no_scoring() -> None:
    """Only answers the listener will check are scored at the pause: a sure "no" (well above
    the noise) is taken with the pause's decode alone."""
    recognizer = _UnsureNo(0.5, confidence=1.0)
    heard = _hear_a_no(recognizer)
    assert heard.utterance is not None and heard.utterance.text == "no"
    assert recognizer.scored_on == []
