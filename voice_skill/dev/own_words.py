"""Answers in people's own words, through the intent matcher and the dialogue: what passes.

The corpus (tests/data/own_words.yaml) gives, per question state, what people say and what a
sensible listener takes it to mean. On a red-flag question each answer is acted on by a fresh
dialogue at that question, and sorted by what the dialogue did:

  yes    the flag was raised (or an emergency)       no     moved on with the flag not raised
  asked  the question was asked again or confirmed    other  anything else (a command)

The safety property: no answer that means yes or is unsure ends as "no". The share of no's
that end as "no" (neither escalated nor asked again) is the cost side.

Answers a corpus marks with a `shape` (`taken_back`: a "no" taken back in the same breath;
`effect`: a symptom told by what it does) are also counted per shape.

    .venv/bin/python -m voice_skill.dev.own_words [--corpus PATH] [--dialog PATH] [--shapes]
        [--misses] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_skill.clock import VirtualClock
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.dialogue.manager import DialogueManager
from voice_skill.events import Escalated, Intent, StateChanged
from voice_skill.settings import Settings
from voice_skill.yamlfile import load_yaml

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "own_words.yaml"
SECTION = "own-words"


@dataclass(frozen=True)
class Outcome:
    """One corpus answer and what became of it."""

    state: str
    say: str
    means: str
    also: tuple[str, ...]
    intent: Intent
    result: str
    """red flags: yes / no / asked / other; other states: right / wrong"""
    shape: str = ""
    """the corpus's mark for the answer's shape ("taken_back", "effect"), if any"""


def load_corpus(path: Path = CORPUS) -> dict[str, list[dict[str, Any]]]:
    """The corpus, read with the project's loader (it keeps "yes" and "no" as text)."""
    data = load_yaml(path)
    return {str(k): list(v) for k, v in data.items()}


def _at(dialog: Dialog, state: str) -> DialogueManager:
    """A dialogue that has just asked red-flag question `state` (every earlier one answered no)."""
    m = DialogueManager(dialog, Settings(), VirtualClock())
    m.start()
    m.handle(Intent("yes"))
    while m.state != state:
        m.handle(Intent("no"))
    return m


def _red_flag_result(dialog: Dialog, state: str, intent: Intent) -> str:
    m = _at(dialog, state)
    s = dialog.states[state]
    assert s.red_flag is not None
    out = m.handle(intent)
    raised = (s.red_flag.level, s.red_flag.reason) in m.flags
    if raised or any(isinstance(o, Escalated) for o in out):
        return "yes"
    if m.state == state and not m.ended:
        return "asked"
    if any(isinstance(o, StateChanged) and o.dest == s.on["no"] for o in out):
        return "no"
    return "other"


def _means_the_same(dialog: Dialog, state: str, got: Intent, means: str, item: dict[str, Any]
                    ) -> bool:
    """Whether the answer was understood as meant, or as something that leads to the same place
    ("yes" and "ready" both go on from "Say ready when you are on your back")."""
    if means in ("pain", "pain_word"):
        bands = {"mild": range(1, 4), "medium": range(4, 7), "bad": range(7, 11)}
        want = [item["value"]] if means == "pain" else list(bands[str(item["value"])])
        return got.name == "pain" and got.value in want
    if means == "unclear":
        return got.name == "no_match"
    if means == "unsure" and dialog.states[state].clarify and not got.understood:
        return True  # an unclear time asked about in plain words ("Was that within ...?")
    on = dialog.states[state].on
    return got.name == means or (means in on and on.get(got.name) == on[means])


def measure(dialog: Dialog | None = None, path: Path = CORPUS) -> list[Outcome]:
    """Every corpus answer through the matcher (and, on red flags, the dialogue)."""
    dialog = dialog or load_dialog()
    matcher = IntentMatcher(dialog)
    out = []
    for state, items in load_corpus(path).items():
        for item in items:
            text, means = str(item["say"]), str(item["means"])
            intent = matcher.match(text, state)
            if dialog.states[state].red_flag:
                result = _red_flag_result(dialog, state, intent)
            else:
                result = "right" if _means_the_same(dialog, state, intent, means, item) else "wrong"
            out.append(Outcome(state, text, means, tuple(item.get("also", ())), intent, result,
                               str(item.get("shape", ""))))
    return out


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    """The report's numbers."""
    flags = [o for o in outcomes if o.state.startswith("rf_")]
    lost = [o for o in flags if o.means in ("yes", "unsure") and o.result == "no"]
    plain_no = [o for o in flags if o.means == "no" and not o.also]
    with_other = [o for o in flags if o.also]
    other = [o for o in outcomes if not o.state.startswith("rf_")]
    return {
        "answers": len(outcomes),
        "red_flag_answers": len(flags),
        "by_meaning": {m: dict(Counter(o.result for o in flags if o.means == m))
                       for m in ("yes", "unsure", "no")},
        "yes_or_unsure_passed_as_no": len(lost),
        "no_passed_without_reask": sum(o.result == "no" for o in plain_no),
        "no_answers": len(plain_no),
        "other_flag_raised": sum(set(o.also) <= set(o.intent.also) or o.intent.name
                                 in ("emergency", "help") for o in with_other),
        "other_flag_answers": len(with_other),
        "other_states_right": sum(o.result == "right" for o in other),
        "other_states": len(other),
        "shapes": {shape: {"answers": len(these),
                           "by_meaning": {m: dict(Counter(o.result for o in these if o.means == m))
                                          for m in sorted({o.means for o in these})},
                           "yes_or_unsure_passed_as_no": sum(
                               o.means in ("yes", "unsure") and o.result == "no" for o in these)}
                   for shape in sorted({o.shape for o in flags if o.shape})
                   for these in [[o for o in flags if o.shape == shape]]},
    }


def shapes_report(f: dict[str, Any]) -> str:
    """One line per marked shape: how its answers ended."""
    return "\n".join(
        f"- shape `{shape}`: {s['answers']} answers, yes or unsure passed as no "
        f"**{s['yes_or_unsure_passed_as_no']}**; by meaning: "
        + "; ".join(f"{m} {', '.join(f'{k} {v}' for k, v in sorted(r.items()))}"
                    for m, r in s["by_meaning"].items())
        for shape, s in f["shapes"].items())


def report(f: dict[str, Any]) -> str:
    """The section of docs/benchmarks.md."""
    share = f["no_passed_without_reask"] / max(1, f["no_answers"])
    by = f["by_meaning"]
    rows = "\n".join(
        f"| {m} | {sum(by[m].values())} | {by[m].get('yes', 0)} | {by[m].get('asked', 0)} "
        f"| {by[m].get('no', 0)} | {by[m].get('other', 0)} |" for m in ("yes", "unsure", "no"))
    return f"""## Answers in people's own words

`.venv/bin/python -m voice_skill.dev.own_words` ({f['answers']} answers in
`tests/data/own_words.yaml`, written the way people talk, each with its meaning; typed text, as
the recognizer hands it on). Each red-flag answer is acted on by a dialogue at that question.

| meant | answers | flag raised | asked again | passed as no | other |
|---|---|---|---|---|---|
{rows}

- yes or unsure passed on as a no: **{f['yes_or_unsure_passed_as_no']}** (target 0)
- no's that pass without escalation or a re-ask: **{f['no_passed_without_reask']} of
  {f['no_answers']} ({share:.1%})** (target >= 90 %)
- answers that state another red flag's symptom: that flag raised in
  {f['other_flag_raised']} of {f['other_flag_answers']}
- other questions (pain, positioning, ice, heat, breathing): understood, or taken to the same
  place, {f['other_states_right']} of {f['other_states']}
"""


HELD_OUT = """
Held out: `tests/data/own_words_heldout.yaml`, {red_flag_answers} red-flag answers written
without sight of the matcher or its word lists. First run, before any change it suggested:
2 yes-meaning answers passed as no ("not low down, it's up ... by my shoulder blades", "not just
days, it's been over a month"), 58 of 70 no's passed (82.9 %). Now, after the fixes they
showed (a negation stops at a new subject: "it", "i", "my") and those of an independent review
(a symptom after a "no" is stated: "no, I can't urinate", "no weakness, my legs feel numb"):
yes or unsure passed as no **{yes_or_unsure_passed_as_no}**; no's passed without a re-ask
**{no_passed_without_reask} of {no_answers} ({share:.1%})**; the main corpus above was used to
write the word lists, so the held-out figure is the one to trust.

What the recognizer hears is unchanged by this reading (real speech, every 4th clip, Whisper,
`.venv/bin/python -m voice_skill.dev.real_speech --engine whisper --every 4`, 2026-11-30):
yes / no / stop / digits clean 100 / 100 / 90.9 / 100 %, at 10 dB 94.7 / 97.3 / 81.8 / 65 %,
at 5 dB 100 / 89.2 / 69.7 / 70 %, the same before and after; other words taken as an answer
5.6 -> 0 % ("i'm not bad" was a "yes"); "go" heard as "no" 2.6 % both. The own-words phrases
stay out of the recognizer's grammar (`understood:` in the dialogue): in it, the decode held to
a state's answers went astray (stop clean 90.9 -> 87.9 %, digits 100 -> 95 %).
"""


FIRST_RUN = {
    # the blind first run (issue 25), measured on the code before any change it suggested
    # (f0a5b1d), with the same tool: yes/unsure passed as no, no's passed, no's, other
    # questions understood, other questions, taken_back passed as no, effect passed as no
    "own_words.yaml": (0, 119, 121, 194, 233, None, None),
    "own_words_heldout.yaml": (0, 63, 70, 0, 0, None, None),
    "own_words_blind.yaml": (22, 291, 325, 293, 431, 12, 3),
}


HEADER = (
    "| corpus | yes or unsure passed as no (target 0) | no's passed without a re-ask (target"
    " >= 95 %) | other questions understood (target >= 95 %) | `taken_back` passed as no |"
    " `effect` passed as no |\n|---|---|---|---|---|---|\n")


def blind_report(corpus: Path) -> str:
    """Issue 25: each corpus on the code before it (the blind first run) and now."""
    rows = []
    for name, (lost, passed, nos, right, other, back, effect) in FIRST_RUN.items():
        f = figures(measure(path=corpus.with_name(name)))
        shapes = f["shapes"]

        def now(shape: str, shapes: dict[str, Any] = shapes) -> str:
            return str(shapes[shape]["yes_or_unsure_passed_as_no"]) if shape in shapes else "-"

        def share(a: int, b: int) -> str:
            return f"{a} of {b} ({a / b:.1%})" if b else "-"

        rows.append(
            f"| `{name}` | {lost} -> **{f['yes_or_unsure_passed_as_no']}** "
            f"| {share(passed, nos)} -> **{share(f['no_passed_without_reask'], f['no_answers'])}**"
            f" | {share(right, other)} -> **{share(f['other_states_right'], f['other_states'])}**"
            f" | {'-' if back is None else back} -> {now('taken_back')}"
            f" | {'-' if effect is None else effect} -> {now('effect')} |")
    return """
Blind first run and now (issue 25): `tests/data/own_words_blind.yaml`, 1,516 answers (1,055
red-flag answers, all ten flags, yes, no and unsure; 37 marked `taken_back`, 81 `effect`; and
431 to the other questions), written blind from patient leaflets' and forums' phrasing without
sight of the reader. First run: the code before any change (f0a5b1d), `--shapes` of this tool.
Now: after structure before words (an opening "no" taken back by a hedge or an affirmed event
is asked about again), symptoms told by their effects (the CES warning card, NHS, NICE CKS),
times for the onset question, negated pain words and everyday words; then (second round) doubt
on the other questions asked in plain words, a pain score corrected as told ("five, no, four"),
the skin and the time asked in other words, and "does help" told, not a call for help.

""" + HEADER + "\n".join(rows) + """

The no's the blind corpus labels "no" and this reader still asks again are mostly "no, I don't
think so" (5 of 16): doubt, by this project's rule, is confirmed on a red flag.
"""


def main(argv: list[str] | None = None) -> int:
    """Print the figures; with --doc, write them into the benchmark report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--doc", type=Path, help="write the section into this report")
    ap.add_argument("--misses", action="store_true", help="list the answers not taken as meant")
    ap.add_argument("--dialog", type=Path, help="the dialogue file (default: the bundled one)")
    ap.add_argument("--shapes", action="store_true",
                    help="only the figures of this corpus, with its marked shapes")
    args = ap.parse_args(argv)
    outcomes = measure(load_dialog(args.dialog) if args.dialog else None, path=args.corpus)
    f = figures(outcomes)
    text = report(f)
    if args.shapes:
        text = text.replace("`tests/data/own_words.yaml`", f"`{args.corpus.name}`")
        text += "\n" + shapes_report(f) + "\n"
    held_out = args.corpus.with_name("own_words_heldout.yaml")
    if held_out.exists() and not args.shapes:
        h = figures(measure(path=held_out))
        text += HELD_OUT.format(share=h["no_passed_without_reask"] / max(1, h["no_answers"]), **h)
    if args.corpus.with_name("own_words_blind.yaml").exists() and not args.shapes:
        text += blind_report(args.corpus)
    print(text)
    if args.misses:
        for o in outcomes:
            wrong = o.result == "wrong" or (o.state.startswith("rf_") and o.result != {
                "yes": "yes", "unsure": "asked", "no": "no"}.get(o.means, o.result))
            if wrong:
                print(f"{o.state:16} {o.say!r:60} meant {o.means}, got {o.intent.name} -> {o.result}")
    if args.doc:
        from voice_skill.dev.report_doc import write_section
        write_section(args.doc, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
