"""Loading and checking dialogues: every kind of broken file gets a message naming file, line, field."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from voice_skill.dialogue.dialog import DialogProblems, Problem, check, load_dialog
from voice_skill.errors import DialogError

DIALOGS = Path(__file__).parent / "dialogs"

LOAD_ERRORS = {
    "broken_malformed_yaml": (44, "", "malformed YAML"),
    "broken_duplicate_key": (54, "", "duplicate key 'say'"),
    "broken_unknown_target": (45, "states.flag.on.no", "unknown target state 'restt'"),
    "broken_unknown_field": (41, "states.hello.reprompt", "unknown field"),
    "broken_red_flag_not_escalated": (45, "states.flag.on.yes", "must lead to an escalation"),
    "broken_unknown_intent": (39, "states.hello.expect", "unknown intent 'maybe'"),
    "broken_unknown_placeholder": (53, "states.rest.say", "unknown placeholder {name}"),
    "broken_missing_message": (20, "messages.goodbye", "missing"),
    "broken_not_a_mapping": (51, "states.rest", "must be a mapping"),
    "broken_unknown_source": (51, "states.rest.source", "unknown source 'nowhere'"),
    "broken_when_heard_without_its_messages": (20, "messages.when_heard", "missing"),
    # a question with no way out: loading refuses it (it crashed after the re-asks)
    "broken_dead_end": (39, "states.hello.default", "a question needs a default"),
}
CHECK_PROBLEMS = {
    "broken_unreachable": ("states.orphan.name", "unreachable"),
    "broken_endless_loop": ("states.flag.on", "loop without a bound"),
    "broken_question_without_how": ("states.hello.ask", "must say how to answer"),
    "broken_no_reprompt": ("states.hello.reprompts", "re-prompt"),
    "broken_long_sentence": ("states.rest.say.0", "sentence of 24 words"),
    "broken_no_source": ("states.rest.source", "must name its source"),
    "broken_emergency_without_number": ("states.emergency.say", "{emergency_number}"),
}


def test_the_bundled_dialogue_and_the_minimal_one_pass_every_check() -> None:
    assert check(load_dialog()) == []
    assert check(load_dialog(DIALOGS / "minimal.yaml")) == []


@pytest.mark.parametrize("name", sorted(LOAD_ERRORS))
def test_a_broken_file_is_rejected_naming_file_line_and_field(name: str) -> None:
    line, field, message = LOAD_ERRORS[name]
    path = DIALOGS / f"{name}.yaml"
    with pytest.raises(DialogError) as caught:
        load_dialog(path)
    err = caught.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert message in str(err) and str(path) in str(err)


@pytest.mark.parametrize("name", sorted(CHECK_PROBLEMS))
def test_dialog_check_finds_each_kind_of_unsafe_dialogue(name: str) -> None:
    field, message = CHECK_PROBLEMS[name]
    problems = _problems(DIALOGS / f"{name}.yaml")
    assert any(p.field == field and message in p.message for p in problems), problems


@pytest.mark.parametrize("name", sorted([*LOAD_ERRORS, *CHECK_PROBLEMS]))
def test_the_cli_check_fails_with_the_message_and_no_traceback(name: str) -> None:
    done = _cli("dialog", "check", "--dialog", str(DIALOGS / f"{name}.yaml"))
    assert done.returncode == 1
    assert f"{name}.yaml:" in done.stderr and "Traceback" not in done.stderr


def _problems(path: Path) -> list[Problem]:
    """What `dialog check` finds in `path`: every load refuses it with them."""
    with pytest.raises(DialogProblems) as refused:
        load_dialog(path)
    return refused.value.problems


def test_a_missing_or_binary_dialogue_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DialogError, match=r"nowhere\.yaml: file not found"):
        load_dialog(tmp_path / "nowhere.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DialogError, match="not a text file"):
        load_dialog(binary)
    done = _cli("run", "--text", "--no-log", "--dialog", str(tmp_path / "nowhere.yaml"))
    assert done.returncode == 1 and "nowhere.yaml: file not found" in done.stderr


def test_yes_no_and_on_stay_words_not_booleans() -> None:
    d = load_dialog()
    assert "yes" in d.intents and "no" in d.intents
    assert d.states["rf_bladder"].on == {"yes": "emergency", "no": "rf_saddle"}


def test_dialog_states_json_lists_intents_and_red_flag_levels() -> None:
    done = _cli("dialog", "states", "--json")
    rows = {r["state"]: r for r in json.loads(done.stdout)}
    assert rows["rf_bladder"]["red_flag"] == "emergency"
    assert rows["rf_fever"]["red_flag"] == "urgent"
    assert rows["rf_duration"]["red_flag"] == "routine"
    assert rows["pain_start"]["red_flag"] is None
    assert {"yes", "no", "unsure", "help", "emergency", "stop"} <= set(rows["rf_bladder"]["intents"])
    assert "pain" in rows["pain_start"]["intents"]


def test_dialog_diagram_draws_every_state_as_mermaid_and_as_an_image(tmp_path: Path) -> None:
    done = _cli("dialog", "diagram")
    assert "\nstateDiagram-v2\n" in done.stdout
    for name in load_dialog().states:
        assert f'state "{name}"' in done.stdout
    png = tmp_path / "dialog.png"
    done = _cli("dialog", "diagram", "--out", str(png))
    if "needs the graphviz" in done.stderr:
        pytest.skip("graphviz is not installed")
    assert done.returncode == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_the_bundled_dialogue_ships_as_package_data() -> None:
    path = load_dialog().path
    assert path.name == "back_spasm.yaml" and path.exists()
    assert not path.stat().st_mode & stat.S_IWOTH


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_skill", *args], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize(("barge_in", "said"), [(False, "Each time I stop talking"),
                                                (True, "even while I talk")])
def test_the_person_is_told_truly_when_they_can_interrupt(barge_in: bool, said: str) -> None:
    # without barge-in the skill does not hear words said while it talks: it must not say so
    from dialogue_driver import Driver

    d = Driver(barge_in=barge_in)
    d.say("yes")
    told = [r.text for r in d.t.replies if "you can say repeat" in r.text]
    assert told and said in told[0], told


# ---- bad files: what would hang, crash or mislead is refused in one line ------------------------


def _refused(tmp_path: Path, text: str, name: str = "bad.yaml") -> DialogError:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DialogError) as caught:
        load_dialog(path)
    assert str(caught.value).startswith(f"{path}") and "\n" not in str(caught.value)
    return caught.value


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    # (9 ** 6 strings here; 9 ** 10 ran the machine out of memory before aliases were refused)
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 6)]
    text = "version: 1\nsources:\n  " + "\n".join(lines) + "\n"
    err = _refused(tmp_path, text)
    assert err.line == 4 and "alias *a0: aliases are not allowed here" in str(err)


def test_yaml_nested_too_deeply_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    err = _refused(tmp_path, "version: 1\nsources: " + "[" * 600 + "]" * 600 + "\n")
    assert "nested more than 40 levels deep" in str(err)


def test_a_dialogue_that_is_a_fifo_or_a_device_is_refused_before_it_is_opened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from voice_skill.front.cli import main

    fifo = tmp_path / "dialog.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    assert main(["dialog", "check", "--dialog", str(fifo)]) == 1
    assert f"{fifo}: is a FIFO (named pipe): only a regular file can be read" in \
        capsys.readouterr().err
    with pytest.raises(DialogError, match="/dev/zero: is a character device"):
        load_dialog(Path("/dev/zero"))


def test_a_huge_dialogue_file_is_refused_by_its_size(tmp_path: Path) -> None:
    err = _refused(tmp_path, "# " + "x" * (2 << 20) + "\n")
    assert "bytes: at most 1,048,576 allowed" in str(err)


MINIMAL = (DIALOGS / "minimal.yaml").read_text()
EMERGENCY_SAY = 'say: ["Call {emergency_number} now."]'
FLAG = "    red_flag: {level: emergency, reason: numbness}\n"
BREATHING = """  rest:
    kind: timed
    source: [test]
    rounds: 4
    round_s: 10
    cues: [{at_s: 0, say: "In"}, {at_s: 4, say: "Out"}]
    then: bye
"""


def _mutant(old: str, new: str) -> str:
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new, 1)


def _timed(old: str, new: str) -> str:
    text = _mutant('  rest:\n    source: [test]\n    say: ["Lie still."]\n    then: bye\n', BREATHING)
    assert old in text, old
    return text.replace(old, new, 1)


# each passed `dialog check` before, then crashed or misled in a session
REFUSED_AT_LOAD = {
    "format spec d": (_mutant(EMERGENCY_SAY, 'say: ["Call {emergency_number:d} now."]'),
                      "states.emergency.say", "placeholder {emergency_number:d}: write"
                                              " {emergency_number}, without a format"),
    "format spec %": (_mutant(EMERGENCY_SAY, 'say: ["Call {emergency_number:%} now."]'),
                      "states.emergency.say", "placeholder {emergency_number:%}"),
    "conversion !r": (_mutant(EMERGENCY_SAY, 'say: ["Call {emergency_number!r} now."]'),
                      "states.emergency.say", "placeholder {emergency_number!r}"),
    "spec in a message": (_mutant('goodbye: "Bye."', 'goodbye: "Bye {rounds:>9}."'),
                          "messages.goodbye", "placeholder {rounds:>9}"),
    "spec in a pain phrase": (_mutant("global_intents:", 'language: {pain_phrases: ["{n} or {n:d}"]}\n'
                                                         "global_intents:"),
                              "language.pain_phrases", "placeholder {n:d}"),
    # the shape that crashed after three unclear answers: a question with no default and no
    # red_flag (give_up had nowhere to go)
    "red-flag question without red_flag": (
        _mutant(FLAG, ""), "states.flag.default", "a question needs a default"),
    "escalation by a question that is no red flag": (
        _mutant(FLAG, "    default: rest\n"), "states.flag.on.yes",
        "leads to escalation 'emergency': only the yes of a red-flag question of level emergency"),
    "escalation on a no": (_mutant("on: {yes: emergency, no: rest}", "on: {yes: rest, no: emergency}"),
                           "states.flag.on.no", "leads to escalation 'emergency'"),
    "yes among the no phrases": (_mutant("  yes: [yes]\n  no: [no]", "  yes: [yeah]\n  no: [no, yes]"),
                                 "intents.no", "phrase 'yes' is the name of intent 'yes'"),
    "yes words as a no phrase": (_mutant("  no: [no]", "  no: [no, yeah sure]").replace(
        "  yes: [yes]", "  yes: [yes, yeah, sure]"), "intents.no",
        "phrase 'yeah sure' is said only in answers of 'yes': it would be heard as 'no'"),
    "ready heard as cannot": (_mutant("  ready: [ready]", "  ready: [ok]\n  cannot: [ready]"),
                              "intents.cannot", "phrase 'ready' is the name of intent 'ready'"),
    "continue heard as stop": (_mutant("  stop: [stop]", "  stop: [stop, continue continue]"),
                               "intents.stop", "is said only in answers of 'resume'"),
    "help swallowed by no": (_mutant("  no: [no]", "  no: [no, no help]"),
                             "intents.no", "phrase 'no help' holds a call for 'help'"),
    "no as a filler": (_mutant("global_intents:", "language: {fillers: [um, no]}\nglobal_intents:"),
                       "language", "filler 'no' is an answer of 'no'"),
    "yes rewritten to no": (_mutant("global_intents:", "language: {contractions: {yes: no}}\n"
                                                       "global_intents:"),
                            "language", "contraction 'yes' is an answer of 'yes'"),
    "rounds .inf": (_timed("rounds: 4", "rounds: .inf"), "states.rest.rounds",
                    "must be a whole number from 1 to 100"),
    "rounds 100000000": (_timed("rounds: 4", "rounds: 100000000"), "states.rest.rounds",
                         "must be a whole number from 1 to 100"),
    "rounds 2.5": (_timed("rounds: 4", "rounds: 2.5"), "states.rest.rounds", "whole number"),
    "cues times rounds": (_timed('cues: [{at_s: 0, say: "In"}, {at_s: 4, say: "Out"}]',
                                 "cues: [" + ", ".join(f'{{at_s: {i / 10}, say: "in"}}'
                                                       for i in range(60)) + "]"
                                 ).replace("rounds: 4", "rounds: 10"),
                          "states.rest.rounds", "60 cues in each of 10 rounds: at most 500"),
    "rounds without round_s": (_timed("round_s: 10", "duration_s: 40"), "states.rest.rounds",
                               "rounds over 1 need round_s"),
    "round_s .nan": (_timed("round_s: 10", "round_s: .nan"), "states.rest.round_s",
                     "must be a number from 0 to 10800"),
    "duration_s a day": (_timed("rounds: 4\n    round_s: 10", "duration_s: 86400"),
                         "states.rest.duration_s", "must be a number from 0 to 10800"),
    "cue at .inf": (_timed("{at_s: 4,", "{at_s: .inf,"), "states.rest.cues[1].at_s",
                    "must be a number from 0 to 10800"),
    "cues not a list": (_timed('cues: [{at_s: 0, say: "In"}, {at_s: 4, say: "Out"}]', "cues: 5"),
                        "states.rest.cues", "must be a list"),
    "max_visits true": (_mutant("    default: flag\n", "    default: flag\n    max_visits: true\n"
                                "    when_exhausted: flag\n"), "states.hello.max_visits",
                        "must be a whole number from 1 to 100"),
    "a level outside an escalation": (_mutant("    default: flag\n", "    default: flag\n"
                                              "    level: emergency\n"),
                                      "states.hello.level", "only an escalation has a level"),
    "a source that is not text": (_mutant('  test: "a test source"', "  test: [a, b]"),
                                  "sources.test", "must be non-empty text"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_AT_LOAD))
def test_what_would_crash_or_mislead_a_session_is_refused_at_load_and_by_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    from voice_skill.front.cli import main

    text, field, message = REFUSED_AT_LOAD[case]
    err = _refused(tmp_path, text)
    assert err.field == field and message in str(err), str(err)
    assert err.line and err.line > 1
    assert main(["dialog", "check", "--dialog", str(tmp_path / "bad.yaml")]) == 1
    out = capsys.readouterr().err
    assert message in out and out.count("\n") == 1, out


def test_the_mutants_are_valid_but_for_their_one_fault(tmp_path: Path) -> None:
    # the timed base the limit cases start from loads and passes the check
    path = tmp_path / "breathing.yaml"
    path.write_text(_timed("rounds: 4", "rounds: 4"))
    assert check(load_dialog(path)) == []
    # found by the fuzz test: `rounds:` with no value was None, a TypeError in the check
    path.write_text(_timed("rounds: 4\n    round_s: 10", "rounds:\n    duration_s: 10"))
    assert load_dialog(path).states["rest"].rounds == 1


def test_a_chain_of_3000_states_is_loaded_and_checked_without_recursion(tmp_path: Path) -> None:
    import time

    n = 3000
    chain = "".join(f'  step{i}:\n    source: [test]\n    say: ["Step {i}."]\n'
                    f"    then: {f'step{i + 1}' if i + 1 < n else 'bye'}\n" for i in range(n))
    path = tmp_path / "chain.yaml"
    path.write_text(_mutant("    then: bye\n", "    then: step0\n").replace(
        "  emergency:\n", chain + "  emergency:\n"))
    started = time.monotonic()
    d = load_dialog(path)
    assert len(d.states) == n + 5 and check(d) == []
    looped = tmp_path / "loop.yaml"  # and a loop 3000 states round is still found
    looped.write_text(path.read_text().replace(f"step{n - 1}:\n    source: [test]\n"
                                               f'    say: ["Step {n - 1}."]\n    then: bye',
                                               f"step{n - 1}:\n    source: [test]\n"
                                               f'    say: ["Step {n - 1}."]\n    then: step0'))
    problems = _problems(looped)
    assert any("loop without a bound: step0 -> step1" in p.message for p in problems)
    assert time.monotonic() - started < 10


def test_a_key_with_a_newline_or_of_any_length_keeps_the_message_on_one_line(
        tmp_path: Path) -> None:
    # found by the fuzz test: the unknown key is the field, and it held a newline
    err = _refused(tmp_path, 'version: 1\n"sta\\ntes": {}\n')
    assert "[sta\\ntes]: unknown field" in str(err)
    err = _refused(tmp_path, f"version: 1\n{'k' * 5000}: 1\n")
    assert len(str(err)) < 700
    err = _refused(tmp_path, "version: 1\nstart: \x00\n")  # YAML's own message had two lines
    assert err.line == 2 and "malformed YAML: character #x0000" in str(err)


def test_an_answer_understood_as_its_opposite_is_refused_where_it_is_written(
        tmp_path: Path) -> None:
    # the matcher reads `understood` phrases as it reads intents: "yep" under no is a no
    text = _mutant("global_intents:", "understood: {yes: [yep, definitely], no: [nah, yep yep]}\n"
                                      "global_intents:")
    err = _refused(tmp_path, text)
    assert err.field == "understood.no" and "phrase 'yep yep' is said only in answers of" \
        " 'yes'" in str(err), str(err)
    path = tmp_path / "fine.yaml"  # "definitely not" is a no: the longer phrase is read
    path.write_text(text.replace("yep yep", "definitely not"))
    assert check(load_dialog(path)) == []


# ---- `run` refuses what `dialog check` refuses, with the same line (issue 23) -----------------

SAY_LOOP = ("    then: bye\n",
            '    then: rest2\n  rest2:\n    source: [test]\n    say: ["Still."]\n    then: rest\n')
REFUSED_BY_BOTH = {
    # ran: after the end of input the stop looped at 95 % CPU, SIGTERM ignored
    "a state named _ended": (_mutant("  bye:", "  _ended:").replace("then: bye", "then: _ended"),
                             "states._ended.name", "a state name may not start with _"),
    # ran: CPU and memory grew, SIGTERM ignored
    "a loop of say states": (_mutant(*SAY_LOOP), "states.bye.name", "unreachable"),
    # ran: a KeyError traceback
    "start at the closing": (_mutant("start: hello", "start: bye"), "start", "is a final state"),
    # ran: ended "stopped", with no level
    "start at the emergency": (_mutant("start: hello", "start: emergency"), "start",
                               "is an escalation state"),
    # ran: the escalation said nothing, or no number to call
    "an empty emergency say": (_mutant(EMERGENCY_SAY, "say: []"), "states.emergency.say",
                               "an emergency must tell the person to call {emergency_number}"),
    "a zero-width space as the emergency say": (
        _mutant(EMERGENCY_SAY, 'say: ["\u200b"]'), "states.emergency.say",
        "must be a list of non-empty texts"),
    "an emergency say with no call": (
        _mutant(EMERGENCY_SAY, 'say: ["Stay still."]'), "states.emergency.say",
        "an emergency must tell the person to call {emergency_number}"),
    # ran, and misled: a red-flag "yes please" was a no; "help" was never understood
    "a yes phrase among the no's": (_mutant("  no: [no]", "  no: [no, yes please]"), "intents.no",
                                    "phrase 'yes please' holds 'yes', a plain answer of 'yes'"),
    "an empty help list": (_mutant("  help: [help]", "  help: []"), "intents.help",
                           "'help' is said at any time, so it needs at least one phrase"),
    "an empty emergency list": (_mutant("  emergency: [emergency]", "  emergency: []"),
                                "intents.emergency", "needs at least one phrase"),
    **{f"file {name}": ((DIALOGS / f"{name}.yaml").read_text(), *CHECK_PROBLEMS[name])
       for name in CHECK_PROBLEMS},
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_BOTH))
def test_run_refuses_what_dialog_check_refuses_with_the_same_line_before_a_word(
        tmp_path: Path, case: str) -> None:
    text, field, message = REFUSED_BY_BOTH[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    checked = _cli("dialog", "check", "--dialog", str(path))
    ran = subprocess.run([sys.executable, "-m", "voice_skill", "run", "--text", "--no-log",
                          "--dialog", str(path)], input="yes\nno\nstop\n", capture_output=True,
                         text=True, timeout=60, check=False)
    assert checked.returncode == 1 and ran.returncode == 1, (checked.stderr, ran.stderr)
    assert ran.stdout == ""  # nothing said before the refusal
    [line] = ran.stderr.splitlines()
    first = checked.stderr.splitlines()[0]
    assert line.split(" (and ")[0] == first, (line, first)
    assert f"[{field}]" in first and message in first, first
    assert "Traceback" not in checked.stderr + ran.stderr


@pytest.mark.parametrize("command", [["replay", "no-such-scenario.yaml"], ["serve", "--no-log"]])
def test_replay_and_serve_refuse_it_too_before_anything_else(tmp_path: Path,
                                                            command: list[str]) -> None:
    text, _field, message = REFUSED_BY_BOTH["a state named _ended"]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    done = _cli(*command, "--dialog", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [f"voice-skill: {path}:60 [states._ended.name]: {message}"
                                        " (_start, _ended are the guide's own)"]
