"""Answers in people's own words: meaning, not first words, and a guide that follows the person.

tests/data/own_words.yaml (608 answers, every question) and own_words_heldout.yaml (200 red-flag
answers, written without sight of the matcher) give what people say and what they mean;
own_words_blind.yaml (1,516 answers, every question, written blind from patient leaflets' and
forums' phrasing, measured once on the code before issue 25) is kept as a regression set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dialogue_driver import HAPPY_PREFIX, RED_FLAGS_NO, SILENCE, WAIT, Driver

from voice_skill.dev.own_words import CORPUS, Outcome, figures, measure
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.events import Intent

HELD_OUT = CORPUS.with_name("own_words_heldout.yaml")
BLIND = CORPUS.with_name("own_words_blind.yaml")
OUTCOMES = {path.name: measure(path=path) for path in (CORPUS, HELD_OUT, BLIND)}
MATCHER = IntentMatcher(load_dialog())
RED_FLAG_ANSWERS = [o for outcomes in OUTCOMES.values() for o in outcomes
                    if o.state.startswith("rf_")]


@pytest.mark.parametrize("o", [o for o in RED_FLAG_ANSWERS if o.means in ("yes", "unsure")],
                         ids=lambda o: f"{o.state}:{o.say}")
def test_an_answer_that_means_yes_or_is_unsure_is_never_passed_as_no(o: Outcome) -> None:
    assert o.result != "no", (o.state, o.say, o.intent)


@pytest.mark.parametrize("o", [o for o in RED_FLAG_ANSWERS if o.also
                               and o not in OUTCOMES[BLIND.name]],
                         ids=lambda o: f"{o.state}:{o.say}")
def test_another_flag_stated_in_passing_is_raised_too(o: Outcome) -> None:
    assert set(o.also) <= set(o.intent.also) or o.intent.name in ("emergency", "help"), o.intent


@pytest.mark.parametrize("corpus,least", [(CORPUS.name, 1.0), (HELD_OUT.name, 0.95),
                                          (BLIND.name, 0.95)])
def test_most_plain_no_answers_pass_without_a_reask(corpus: str, least: float) -> None:
    f = figures(OUTCOMES[corpus])
    assert f["no_passed_without_reask"] / f["no_answers"] >= least, f


@pytest.mark.parametrize("state,text", [
    ("rf_bladder", "No control of my bladder"),
    ("rf_saddle", "No feeling down there at all"),
    ("rf_legs", "no strength in my legs"),
    ("rf_saddle", "there's no sensation when I wipe"),
    ("rf_bladder", "I haven't been able to pee since this morning"),
    ("rf_chest", "no, but my chest hurts"),
])
def test_a_negation_that_qualifies_a_symptom_states_it(state: str, text: str) -> None:
    d = Driver()
    d.run(["yes", *RED_FLAGS_NO[:list(d.dialog.states).index(state) - 1]])
    assert d.state == state
    d.say(text)
    assert d.state == "emergency" and d.t.escalations, d.t.texts()


@pytest.mark.parametrize("state,text", [("rf_night", "lying still helps a bit"),
                                        ("rf_upper", "it's lower down")])
def test_an_answer_that_means_no_without_a_no_is_a_no(state: str, text: str) -> None:
    d = Driver()
    d.run(["yes", *RED_FLAGS_NO[:list(d.dialog.states).index(state) - 1]])
    d.say(text)
    assert not d.t.escalations and d.state != state


def test_no_but_another_symptom_raises_that_flag() -> None:
    d = Driver()
    d.run(["yes"])
    d.say("no, but my chest hurts")
    assert d.state == "emergency"
    assert d.t.escalations[0].reason == "chest pain or trouble breathing"


def test_an_urgent_symptom_said_in_passing_is_in_the_closing_advice() -> None:
    d = Driver()
    d.run(["yes", "no, but I've had a fever for days", *RED_FLAGS_NO[1:], "five", "no", "yes",
           "no", "no", "five"])
    assert "Remember to contact a doctor today about a fever." in d.t.texts()


def test_a_sentence_not_understood_is_asked_about_in_plain_words() -> None:
    d = Driver()
    d.run(["yes"])
    d.say("I can't move at all")
    assert d.t.keys()[-2:] == ["messages.check_meaning", "states.rf_bladder.red_flag.confirm"]
    assert d.t.replies[-1].text.startswith("Have you lost any control of your bladder")
    d.say("yes")
    assert d.state == "emergency"


def test_lying_still_does_not_help_is_an_urgent_yes_not_a_call_for_help() -> None:
    d = Driver()
    d.run(["yes", *RED_FLAGS_NO[:7]])
    assert d.state == "rf_night"
    d.say("lying still doesn't help at all")
    assert [e.level for e in d.t.escalations] == ["urgent"]


def test_a_red_flag_yes_after_pause_is_taken_not_lost() -> None:
    d = Driver()
    d.run(["yes", "pause"])
    d.say("yes")
    assert d.state == "emergency"
    assert "We are paused" not in d.t.texts()


def test_pause_on_a_question_says_what_it_pauses() -> None:
    d = Driver()
    d.run(["yes", "pause"])
    assert d.t.replies[-1].text == "Paused. Say continue when you are ready."


@pytest.mark.parametrize("ending", ["stop", "end of input"])
def test_a_session_that_ends_with_a_red_flag_unclear_ends_with_its_advice(ending: str) -> None:
    d = Driver()
    d.run(["yes", "no", "maybe"])
    assert d.state == "rf_saddle"
    d.intent(Intent("stop", text="" if ending == "end of input" else "stop"))
    assert d.t.ended is not None and d.t.ended.outcome == "escalated"
    assert d.t.ended.level == "emergency"
    assert "Please call 911 now." in d.t.texts()


def test_stop_during_the_ice_says_to_take_it_off() -> None:
    d = Driver()
    d.run([*HAPPY_PREFIX, "yes", "back", "ready", "ready", "yes", "yes", "ready"])
    assert d.state == "ice_on"
    d.say("stop")
    said = d.t.texts().splitlines()
    assert said[-3:] == ["Take the ice off now.", "All right. I will stop now. Take it slowly.",
                         "If anything gets worse, or you cannot move your legs, call 911 "
                         "straight away."]


@pytest.mark.parametrize("text", ["it burns", "it stings", "my skin's gone numb", "too cold"])
def test_the_skin_check_is_understood_and_ends_the_ice_at_once(text: str) -> None:
    d = Driver()
    d.run([*HAPPY_PREFIX, "yes", "back", "ready", "ready", "yes", "yes", "ready"])
    d.say(text)
    assert d.state == "ice_skin"
    assert "Take the ice off now" in d.t.texts()
    d.say("done")
    assert d.state == "breathing_intro"


def test_a_pain_number_missed_twice_is_offered_as_words() -> None:
    d = Driver()
    d.run(["yes", *RED_FLAGS_NO, SILENCE, SILENCE])
    assert d.t.replies[-1].text == "If a number is hard, just say mild, medium, or bad."
    d.say("bad")
    assert d.state == "can_move" and d.manager.facts["pain_start"] == 8


def test_the_summary_reads_naturally_when_the_pain_is_the_same() -> None:
    d = Driver(timer_scale=0.05)
    d.run([*HAPPY_PREFIX[:-1], "three", "yes", "back", "ready", "ready", "yes", "yes", "ready",
           WAIT, "done", "no", "three"])
    text = d.t.texts()
    assert "Your pain is 3 out of ten, the same as before." in text
    assert "You used ice for about a minute." in text


@pytest.mark.parametrize("shape", ["taken_back", "effect"])
def test_the_blind_shapes_are_there_and_none_passes_as_no(shape: str) -> None:
    """Issue 25: a "no" taken back in the same breath, and a symptom told by its effect."""
    f = figures(OUTCOMES[BLIND.name])["shapes"][shape]
    assert f["answers"] >= 20 and f["yes_or_unsure_passed_as_no"] == 0, f


def test_the_blind_answers_that_state_another_flag_raise_it() -> None:
    """Floor at today's figure (147 of 157, the same as the first blind run)."""
    f = figures(OUTCOMES[BLIND.name])
    assert f["other_flag_raised"] >= 147, f


def test_the_blind_answers_to_the_other_questions_are_understood() -> None:
    """Floor at today's figure (416 of 431, 96.5 %; the target is 95 %, docs/benchmarks.md);
    the project's own corpus too (209 of 233)."""
    f = figures(OUTCOMES[BLIND.name])
    assert f["other_states_right"] / f["other_states"] >= 0.965, f
    main = figures(OUTCOMES[CORPUS.name])
    assert main["other_states_right"] >= 209, main


def test_the_corpora_exist_and_are_large_enough() -> None:
    dialog = load_dialog()
    main = OUTCOMES[CORPUS.name]
    assert len(main) >= 400
    asked = {s.name for s in dialog.states.values() if s.is_question and s.kind == "question"}
    covered = {o.state for o in main}
    assert {s for s in asked if s.startswith("rf_")} <= covered
    assert Path(HELD_OUT).exists() and len(OUTCOMES[HELD_OUT.name]) >= 200
    blind = [o for o in OUTCOMES[BLIND.name] if o.state.startswith("rf_")]
    assert len(blind) >= 1000 and {o.state for o in blind} == {
        s for s in asked if s.startswith("rf_")}


def test_silence_then_stop_on_a_red_flag_is_no_emergency() -> None:
    """Only doubt said about a flag counts as a yes at the end, not a question left unanswered
    (or words from a television): a false emergency is a harm too."""
    d = Driver()
    d.run(["yes", SILENCE, "stop"])
    assert d.t.ended is not None and d.t.ended.outcome == "stopped" and not d.t.escalations


@pytest.mark.parametrize("state,text", [
    ("rf_bladder", "I can't urinate"), ("rf_bladder", "no, I've had an accident"),
    ("rf_trauma", "no, I hit my back on the door"), ("rf_night", "no relief at all"),
    ("rf_legs", "no weakness my legs feel numb"), ("rf_chest", "no chest pain my arm is tingling"),
    ("rf_saddle", "no numbness but it tingles"), ("rf_bladder", "no I keep wetting myself"),
    ("rf_trauma", "I lifted something and fell"),
])
def test_found_by_review_a_symptom_after_a_no_is_a_yes(state: str, text: str) -> None:
    assert outcome_of(state, text) == "yes"


@pytest.mark.parametrize("state,text", [
    ("rf_legs", "no I can barely walk"), ("rf_bladder", "no I'm unsure"),
    ("rf_bladder", "I have not had any accidents, oh wait yes I have"),
    ("rf_trauma", "I can't remember falling but I've got a bruise"),
])
def test_found_by_review_a_loss_or_doubt_after_a_no_is_asked_again(state: str, text: str) -> None:
    assert outcome_of(state, text) == "asked"


@pytest.mark.parametrize("text", ["no, only my back hurts", "my back hurts"])
def test_back_pain_is_not_chest_pain(text: str) -> None:
    assert outcome_of("rf_chest", text) == "no"


def outcome_of(state: str, text: str) -> str:
    """What a dialogue at red-flag `state` does with `text`: yes, no, asked or other."""
    from voice_skill.dev.own_words import _red_flag_result
    from voice_skill.dialogue.intents import IntentMatcher
    dialog = load_dialog()
    return _red_flag_result(dialog, state, IntentMatcher(dialog).match(text, state))


def test_another_flag_heard_unsurely_raises_nothing_by_the_way() -> None:
    d = Driver()
    d.run(["yes"])
    d.say("no, but my chest hurts", confidence=0.2)
    assert not d.t.escalations and d.state == "rf_bladder"  # the answer is confirmed first


def test_a_stop_heard_unsurely_then_a_stop_ends_without_an_emergency() -> None:
    d = Driver()
    d.run(["yes", ("stop", 0.2), "stop"])
    assert d.t.ended is not None and d.t.ended.outcome == "stopped" and not d.t.escalations


def test_an_urgent_flag_said_in_passing_is_still_said_at_a_stop() -> None:
    d = Driver()
    d.run(["yes", "no, but I've had a fever for days", "stop"])
    assert "Remember to contact a doctor today about a fever." in d.t.texts()


def test_yes_with_another_emergency_keeps_both_flags_once() -> None:
    d = Driver()
    d.run(["yes", "yes, and my legs are numb"])
    assert d.state == "emergency"
    assert d.manager.flags == [("emergency", "bladder or bowel trouble"),
                               ("emergency", "weak or numb legs")]


# ---- issue 25, second round: the other questions' patterns, in sentences not in any corpus ----

@pytest.mark.parametrize("state,text,means,value", [
    ("can_move", "honestly I can't budge, I'm stuck", "cannot", None),  # can't beats "i am"
    ("heat_ask", "no, it's upstairs somewhere", "no", None),  # the opening answer decides
    ("urgent", "okay", "yes", None),  # "ok" agrees to a yes-or-no question
    ("ice_ask", "my son can bring it", "yes", None),
    ("ice_on", "the skin has gone white", "skin_problem", None),
    ("heat_on", "it's starting to blister", "skin_problem", None),
    ("heat_on", "how many minutes are left", "time_left", None),
    ("ice_prepare", "the ice is on now, they are on", "ready", None),
    ("side_1", "nearly there now", "pause", None),
    ("pain_end", "it was an eight, now a four", "pain", 4),
    ("pain_end", "seven, no, six", "pain", 6),
    ("pain_start", "so so", "pain", 5),
    ("pain_end", "a dull ache", "pain", 3),
])
def test_the_other_questions_understand_answers_in_other_words(
        state: str, text: str, means: str, value: int | None) -> None:
    got = MATCHER.match(text, state)
    assert got.name == means and (value is None or got.value == value), (text, got)


@pytest.mark.parametrize("state,text", [
    ("can_move", "I'm not sure"), ("can_move", "I'm scared to"), ("ice_ask", "I'd have to check"),
    ("choose_position", "either one"), ("breathing_again", "if you think so"),
    ("urgent", "should i"), ("onset", "since easter"), ("onset", "hmm"),
])
def test_doubt_on_another_question_is_asked_about_in_plain_words(state: str, text: str) -> None:
    """Before: "Sorry, I did not catch that", or a doubt taken as a "yes" ("I'm scared to")."""
    got = MATCHER.match(text, state)
    assert got.name in ("no_match", "unsure") and not (got.name == "no_match" and got.understood)


def test_i_dont_know_whether_i_can_move_is_asked_in_plain_words_never_forced() -> None:
    d = Driver()
    d.run(HAPPY_PREFIX)
    assert d.state == "can_move"
    d.t.replies.clear()
    d.say("i don't know")
    assert d.state == "can_move" and d.t.keys() == ["states.can_move.clarify"]
    d.say("no")
    assert d.state not in ("choose_position", "back_1", "side_1")
