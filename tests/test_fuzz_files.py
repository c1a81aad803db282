"""Fuzzed files: a mutated dialogue, settings or scenario file loads, or is refused cleanly.

Each document starts from a real file and is mutated: values swapped for others of any type
(NaN, huge numbers, format fields, lists, mappings), keys deleted, added or nested, or the text
itself cut and spliced. Whatever comes out must be loaded, or refused with the project's own
error (one line naming the file); never another exception, never a hang. A mutated dialogue
that passes `dialog check` must also survive a short typed session.
"""

from __future__ import annotations

import math
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from dialogue_driver import SILENCE, WAIT, Driver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_skill.dialogue.dialog import bundled_dialog_path, load_dialog
from voice_skill.dialogue.dialog_check import check
from voice_skill.errors import DialogError, ScenarioError, VoiceSkillError
from voice_skill.front.scenario import load_scenario
from voice_skill.settings import Settings, load_settings
from voice_skill.yamlfile import load_yaml

TESTS = Path(__file__).parent
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
EXAMPLES = 1000
"""generated documents per kind of file and run"""
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DIALOG = load_dialog()


def _plain(value: Any) -> Any:
    """A loaded document as plain dicts and lists (yaml.safe_dump cannot write a LineDict)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


DIALOG_BASES = [_plain(load_yaml(bundled_dialog_path())),
                _plain(load_yaml(TESTS / "dialogs" / "minimal.yaml"))]
SCENARIO_BASES = [
    _plain(load_yaml(p)) for p in sorted((TESTS / "scenarios").glob("*/scenario.yaml"))
]
for _base in SCENARIO_BASES:  # recordings named from anywhere: the fuzzed file lives elsewhere
    for _turn in _base["turns"]:
        if "say" in _turn:
            _turn["say"] = str((TESTS / "scenarios" / "x" / _turn["say"]).resolve())
SETTINGS_BASE: dict[str, Any] = {
    "emergency_number": "999", "speech_rate_wpm": 130, "no_input_timeout_s": 10.0,
    "notify_command": ["/bin/echo", "hi"], "output_device": "USB", "timer_scale": 0.05,
    "log_dir": "~/logs", "start_phrases": ["first aid"], "barge_in": False, "engine": "auto",
}

NAMES = sorted({*DIALOG.states, *DIALOG.intents, *DIALOG.messages, *Settings.__annotations__,
                "@resume", "emergency", "urgent", "routine", "level", "red_flag", "default",
                "then", "cues", "rounds", "at_s", "say", "silence", "expect", "value", "end"})
NASTY_TEXT = st.sampled_from([
    "", " ", "{emergency_number}", "{emergency_number:d}", "{emergency_number!r}",
    "{pain_start:>999999999}", "{", "}", "{0}", "{}", "{n}", "{n:d}", "{rounds.real}",
    "{minutes[0]}", "yes", "no", "not sure", "help", "\x00", "\u202e", "a" * 300,
    "../../fixtures/audio/slt/clean/yes.wav", "/dev/zero", "/", "~", "x" * 5000,
])
LEAVES = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, 1, 2, 3, 11, 100, 101, 10 ** 8, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NAMES), NASTY_TEXT, st.text(max_size=12),
)
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)), inner, max_size=4),
), max_leaves=8)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document, as a path of keys and indexes."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw: st.DrawFn, bases: list[Any]) -> Any:
    """One of the bases with one to four mutations: a value replaced (by any type, or by a
    value from elsewhere in the file), a key deleted or added, a value nested in a list."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        places = list(_paths(doc))
        path = draw(st.sampled_from(places[1:] if len(places) > 1 else places))
        if not path:
            doc = draw(VALUES)
            continue
        parent, key = _at(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "borrow", "delete", "add", "wrap"]))
        if op == "replace":
            parent[key] = draw(VALUES)
        elif op == "borrow":  # a real value, in the wrong place: the most plausible mistake
            small = [p for p in places if not isinstance(_at(doc, p), dict)
                     and p != path[:len(p)]]  # not a mapping, nor what holds this place
            if small:
                parent[key] = copy.deepcopy(_at(doc, draw(st.sampled_from(small))))
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)))] = draw(VALUES)
        elif op == "add":
            parent.insert(key, draw(VALUES))
        else:
            parent[key] = [parent[key]]
    return doc


PLAUSIBLE = {  # by the type of the value replaced
    str: st.one_of(
        st.sampled_from(sorted({*DIALOG.states, *DIALOG.intents, "@resume"})),
        st.sampled_from(["Say yes or no.", "Call {emergency_number} now. Say yes or no.",
                         "{pain_start} to {pain_end}.", "About {minutes_left} minutes.",
                         "{rounds} rounds, {minutes} minutes of {cold_or_heat}."])),
    int: st.integers(0, 30),
    float: st.sampled_from([0.5, 1.0, 2.5, 10.0, 600.0, 1200.0]),
    list: st.lists(st.sampled_from(sorted(DIALOG.intents)), min_size=1, max_size=4,
                   unique=True),
}


@st.composite
def plausible(draw: st.DrawFn, bases: list[Any]) -> Any:
    """One of the bases with one state field changed to a likely value, or left out: most of
    these still pass `dialog check`, so the session that follows is where a fault would show."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    places = [p for p in _paths(doc["states"]) if len(p) >= 2]
    path = draw(st.sampled_from(places))
    parent, key = _at(doc["states"], path[:-1]), path[-1]
    kind = type(parent[key])
    if kind in PLAUSIBLE and (draw(st.integers(0, 3)) or not isinstance(parent, dict)):
        parent[key] = draw(PLAUSIBLE[kind])
    elif isinstance(parent, dict):
        del parent[key]
    return doc


@st.composite
def spliced(draw: st.DrawFn, text: str) -> str:
    """The file's text with lines dropped, repeated or cut, and characters inserted."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "repeat", "cut", "insert"]))
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))] + "\n"
        else:
            j = draw(st.integers(0, len(lines[i])))
            extra = draw(st.sampled_from(["{", "[", "]", "&a ", "*a", ":", " - ", "!!binary ",
                                          "\t", '"', "'", "#", "? ", "<<: ", "\x00", "\ufeff"]))
            lines[i] = lines[i][:j] + extra + lines[i][j:]
        if not lines:
            lines = ["\n"]
    return "".join(lines)


def _yaml(doc: Any) -> str:
    try:  # libyaml's emitter: the pure-Python one takes most of an example's time
        return str(yaml.dump(doc, Dumper=DUMPER, allow_unicode=True, sort_keys=False))
    except (yaml.YAMLError, ValueError, RecursionError):
        return "{}"


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-files-") as name:
        yield Path(name)


HANG_S = 20
"""one example (load, check, a short session) taking longer than this is a hang"""


class Hang(Exception):
    pass


@contextmanager
def _no_hang() -> Iterator[None]:
    """Fail the example, instead of the whole run waiting, when it takes too long."""
    def hung(_signum: int, _frame: object) -> None:
        raise Hang(f"an example took over {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(exc: VoiceSkillError, path: Path) -> None:
    assert str(path) in str(exc) and "\n" not in str(exc), str(exc)


# ---- dialogues ---------------------------------------------------------------------------------

BUNDLED_TEXT = bundled_dialog_path().read_text(encoding="utf-8")
MINIMAL_TEXT = (TESTS / "dialogs" / "minimal.yaml").read_text(encoding="utf-8")
DIALOG_DOCUMENTS = st.one_of(
    mutated(DIALOG_BASES).map(_yaml), plausible(DIALOG_BASES).map(_yaml),
    spliced(BUNDLED_TEXT), spliced(MINIMAL_TEXT),
)
ANSWERS = ["yes", "no", "not sure", "purple", SILENCE, "seven", "ready", "back", WAIT, "repeat",
           "pause", "continue", "no", "yes", SILENCE, WAIT, "stop"]
sessions_run = 0


@FUZZ
@given(text=DIALOG_DOCUMENTS)
def test_a_fuzzed_dialogue_loads_or_is_refused_and_if_it_passes_check_it_runs(
        folder: Path, text: str) -> None:
    path = folder / "dialog.yaml"
    path.write_text(text, encoding="utf-8")
    with _no_hang():
        _load_check_and_run(path)


def _load_check_and_run(path: Path) -> None:
    global sessions_run
    try:
        dialog = load_dialog(path)
    except DialogError as exc:
        _one_line(exc, path)
        return
    if check(dialog):
        return
    # passes check => does not crash: a short typed session, timers capped
    d = Driver(dialog, no_input_timeout_s=1.0)
    for answer in ANSWERS:
        if d.manager.ended:
            break
        if answer == WAIT:
            for _ in range(50):
                due = d.manager.next_due()
                if due is None or d.manager.ended:
                    break
                d.clock.advance_to(due)
                d._take(d.manager.tick())
        else:
            d.run([answer])
    sessions_run += 1


def test_the_fuzzed_dialogues_included_sessions() -> None:
    # (runs after the fuzz test in the same process; alone, it has nothing to count)
    if sessions_run == 0:
        pytest.skip("run with the fuzz test above")
    assert sessions_run > 0


# ---- settings ----------------------------------------------------------------------------------


def _toml_value(value: Any, depth: int = 0) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                             for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(v, depth + 1)}"
                               for k, v in value.items()) + "}"
    return '""'  # None: TOML has no null


def _toml(doc: Any) -> str:
    if not isinstance(doc, dict):
        return f"x = {_toml_value(doc)}\n"
    return "".join(f"{_toml_value(str(k))} = {_toml_value(v)}\n" for k, v in doc.items())


SETTINGS_TEXT = _toml(SETTINGS_BASE)
SETTINGS_DOCUMENTS = st.one_of(
    mutated([SETTINGS_BASE]).map(_toml),
    st.dictionaries(st.sampled_from(sorted(Settings.__annotations__)), VALUES, max_size=5)
    .map(_toml),
    spliced(SETTINGS_TEXT),
    st.integers(1, 3000).map(lambda n: "a = " + "[" * n + "]" * n + "\n"),
)


def test_the_settings_base_loads(folder: Path) -> None:
    path = folder / "base.toml"
    path.write_text(SETTINGS_TEXT, encoding="utf-8")
    assert load_settings(path).emergency_number == "999"


@FUZZ
@given(text=SETTINGS_DOCUMENTS)
def test_a_fuzzed_settings_file_loads_or_is_refused(folder: Path, text: str) -> None:
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    try:
        with _no_hang():
            loaded = load_settings(path)
    except VoiceSkillError as exc:
        _one_line(exc, path)
        return
    assert isinstance(loaded, Settings)
    assert loaded.log_dir.is_absolute()


# ---- scenarios ---------------------------------------------------------------------------------

SCENARIO_TEXT = _yaml(SCENARIO_BASES[0])
SCENARIO_DOCUMENTS = st.one_of(mutated(SCENARIO_BASES).map(_yaml), spliced(SCENARIO_TEXT))


def test_the_scenario_bases_load(folder: Path) -> None:
    for i, base in enumerate(SCENARIO_BASES):
        path = folder / f"base{i}.yaml"
        path.write_text(_yaml(base), encoding="utf-8")
        load_scenario(path, DIALOG, 8.0)


@FUZZ
@given(text=SCENARIO_DOCUMENTS)
def test_a_fuzzed_scenario_loads_or_is_refused(folder: Path, text: str) -> None:
    path = folder / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        with _no_hang():
            scenario = load_scenario(path, DIALOG, 8.0)
    except ScenarioError as exc:
        _one_line(exc, path)
        return
    # what the replay does first with it (the whole replay decodes audio: too slow here)
    Settings().replace(**{**scenario.settings, "log_enabled": False})
    assert all(t.audio is None or t.audio.is_file() for t in scenario.turns)
    assert all(0 < t.silence_s <= 3 * 3600 for t in scenario.turns if t.audio is None)
