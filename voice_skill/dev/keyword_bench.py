"""The keyword judge beside Whisper on speakers neither was tuned on: the room benchmark's
hearing path on the held-out half of the real recordings (keyword_train.held_out), before and
after the judge's second opinion.

Each held-out recording (yes, no, stop, go, other words, noise) is heard as room_bench hears
it: close, in its room, and in its room with real noise at 10 and 5 dB (the room drawn from its
name as room_bench draws it; the noise from the held-out half of the noise clips, which the
judge never heard). Every hearing runs the product's path (endpointing, Whisper with the
question, the unsure-answer check) with the judge's verdict recorded beside it, so "before"
is the skill without the judge and each rule set is applied to the same hearings: the rules
act after Whisper and change nothing before them. The judge's cost per answer is timed.

Run: nice -n 10 python -m voice_skill.dev.keyword_bench [--corpus DIR]
       [--every N] [--out docs/benchmarks-keyword-judge.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from voice_skill.dev import room_sim
from voice_skill.dev.keyword_train import held_out
from voice_skill.dev.real_speech import (
    ANSWERS,
    RED_FLAG_STATE,
    Clip,
    TimedRecognizer,
    answer_outcomes,
    false_escalation,
    red_flag_questions,
    red_flag_reasks,
)
from voice_skill.dev.room_bench import CONDITIONS, conditions_for, label_folders
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import NO_MATCH, IntentMatcher
from voice_skill.hearing.audio import read_wav
from voice_skill.hearing.keyword_judge import KeywordJudge, Verdict, keyword_judge
from voice_skill.hearing.second_opinion import (
    DEFAULT_RULES,
    OpinionRules,
    second_opinion,
)
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import (
    UNSURE_STOP,
    AudioListener,
    hear_recording,
    says_stop,
    with_opinion,
)
from voice_skill.models.keyword_judge import load_keyword_judge
from voice_skill.settings import Settings

LABELS = ("yes", "no", "stop", "go", "other-words", "noise", "digits")
"""digits are heard on the pain question, the rest on a red-flag question (as room_bench)"""
REPO = Path(__file__).resolve().parents[2]
STOP_AS_HEARD = "the default, its stop rule on red flags too (how the stop rule hears)"
"""the benchmark hears a \"stop\" as the answer to a red flag, where the stop rules are off"""

RULE_SETS: dict[str, OpinionRules] = {
    "veto a red-flag no below 0.2": OpinionRules(veto_no_below=0.2),
    "veto a red-flag no below 0.5": OpinionRules(veto_no_below=0.5),
    "restore a set-aside yes/no at 0.9": OpinionRules(restore_at=0.9),
    "restore a set-aside yes/no at 0.97": OpinionRules(restore_at=0.97),
    "rescue a near word at 0.9": OpinionRules(rescue_at=0.9),
    "rescue a near word at 0.7": OpinionRules(rescue_at=0.7),
    "rescue any lone word at 0.9": OpinionRules(rescue_at=0.9, rescue_near=False),
    "rescue a near word or none at 0.9": OpinionRules(rescue_at=0.9, rescue_silent=True),
    "stop from a lone word or none at 0.9": OpinionRules(stop_at=0.9, stop_on_red_flag=True),
    "stop from a lone word or none at 0.7": OpinionRules(stop_at=0.7, stop_on_red_flag=True),
    "stop from an s-word or none at 0.9": OpinionRules(stop_at=0.9, stop_near=True,
                                                       stop_on_red_flag=True),
    "veto 0.2 + rescue near 0.9 + stop 0.9": OpinionRules(
        veto_no_below=0.2, rescue_at=0.9, stop_at=0.9, stop_on_red_flag=True),
    "restore 0.9 + rescue near 0.9": OpinionRules(restore_at=0.9, rescue_at=0.9),
    "the default (kept)": DEFAULT_RULES,
    STOP_AS_HEARD: replace(DEFAULT_RULES, stop_on_red_flag=True),
    "the default before 2026-12-07 (restore 0.9 + rescue near 0.9)": OpinionRules(
        restore_at=0.9, rescue_at=0.9),
    "restore 0.9 + rescue near 0.9 + stop 0.9": OpinionRules(
        restore_at=0.9, rescue_at=0.9, stop_at=0.9, stop_on_red_flag=True),
    **{f"default + doubt a red-flag no at other {o:g}, no below {b:g}": replace(
        DEFAULT_RULES, doubt_no_at=o, doubt_no_below=b)
       for o in (0.5, 0.7, 0.9) for b in (1.0, 0.5, 0.2)},
    **{f"default + stop from an s-word{' or none' if silent else ''} at {at:g}": replace(
        DEFAULT_RULES, stop_at=at, stop_near=True, stop_silent=silent, stop_on_red_flag=True)
       for silent in (False, True) for at in (0.9, 0.95, 0.97, 0.99)},
    "the default of 2026-12-07 06:55 (stop: a lone s-word or none at 0.97)": OpinionRules(
        restore_at=0.9, rescue_at=0.9, doubt_no_at=0.9, stop_at=0.97, stop_near=True),
    **{f"default + stop from up to {n} words, none beginning g/n/y, at {at:g}": replace(
        DEFAULT_RULES, stop_at=at, stop_near=False, stop_words=n, stop_never_first="gny",
        stop_on_red_flag=True) for n in (1, 3) for at in (0.95, 0.97, 0.99)},
    **{f"default + doubt a red-flag yes at yes below {y:g}, no at least {n:g}": replace(
        DEFAULT_RULES, doubt_yes_below=y, doubt_yes_no_at=n)
       for y in (0.05, 0.1, 0.2, 0.5) for n in (0.0, 0.3, 0.5)},
    **{f"default + restore a set-aside yes/no at {r:g}": replace(DEFAULT_RULES, restore_at=r)
       for r in (0.5, 0.7, 0.8)},
}
"""the rules tried (0.2 / 0.5 / 0.7 / 0.9 set before the held-out run was looked at; restore
and the combinations added after its first figures; the doubt of a red-flag no and the stop
grids, set before the head trained with "go" was measured; the stop from up to 3 words not
beginning as go / no / yes on the hearings of 2026-12-07 09:04 UTC; the doubt of a red-flag
yes on the same hearings, 2026-12-07 15:00 UTC, after live sessions heard real "no"s as "yeah";
the restore grid on the same hearings, 2026-12-07 17:40 UTC: its 0.5, now the default, was
chosen on these held-out figures, so they no longer measure it untouched).
The benchmark hears every answer as a red-flag answer, so the stop rules are measured with
stop_on_red_flag"""


class _Keeping(KeywordJudge):
    """The judge, keeping the embeddings of its last verdict (so other heads can be tried on
    the same hearings)."""

    last: np.ndarray | None = None

    def embeddings(self, audio: np.ndarray) -> np.ndarray:
        self.last = super().embeddings(audio)
        return self.last


def hearings(judge: KeywordJudge, settings: Settings, corpus: Path, every: int,
             cache: Path | None, rules: OpinionRules | None = None,
             labels: tuple[str, ...] = LABELS) -> list[dict[str, Any]]:
    """Every held-out recording heard in every condition, with the judge's verdict."""
    from voice_skill.hearing.recognizers import recognizer_for

    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    recognizer = TimedRecognizer(recognizer_for(settings, "whisper"))
    turns = TurnJudge(cast("Any", recognizer), matcher, settings)
    folders = label_folders(corpus)
    noises = [n for n in sorted(folders["noise"].glob("*.wav")) if held_out(n)]
    listeners: list[AudioListener] = []

    def listener(*args: Any, **kw: Any) -> AudioListener:
        made = AudioListener(*args, **(kw | {"keyword_judge": judge, "opinion_rules": rules}))
        made.judge_every_answer = True  # every verdict kept, so rules can be tried afterwards
        listeners.append(made)
        return made

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    todo = [Clip(label, f) for label in labels if label in folders
            for f in sorted(folders[label].glob("*.wav"))[::every] if held_out(f)]
    for i, clip in enumerate(todo):
        name = f"{clip.label}/{clip.path.name}"
        room = room_sim.draw_room(name)
        talker, nrir = room_sim.cached_responses(room, cache)
        noise = read_wav(noises[int(room.noise_pick * len(noises))])
        speech = read_wav(clip.path)
        for cond in conditions_for(clip.label):
            snr = CONDITIONS[cond]
            audio = speech if cond == "close" else room_sim.in_room(
                speech, talker, noise if snr is not None else None, nrir, snr)
            # a room goes on sounding after the word: its own trail, not added quiet
            after = None if cond == "close" else np.zeros(0, np.int16)
            listeners.clear()
            heard = hear_recording(audio, settings, cast("Any", recognizer), clip.state,
                                   matcher.grammar(clip.state),
                                   dialog.question(clip.state), turns, after,
                                   listener=listener)
            row: dict[str, Any] = {"label": clip.label, "file": clip.path.name,
                                   "state": clip.state, "condition": cond, "text": "",
                                   "confidence": 0.0, "expected": clip.expected_value()}
            if heard.utterance is not None:
                row.update(text=heard.utterance.text, confidence=heard.utterance.confidence)
            if listeners and listeners[0].last_cleaned is not None:
                row["cleaned"] = listeners[0].last_cleaned  # heard again without the noise
            op = listeners[0].last_opinion if listeners else None
            if op is not None and op.verdict is not None:
                row.update(taken=op.taken.text, taken_confidence=op.taken.confidence,
                           heard=op.heard.text, heard_confidence=op.heard.confidence,
                           words=op.words, heard_meaning=op.heard_meaning,
                           taken_meaning=op.taken_meaning, red_flag=op.red_flag,
                           yes_no=op.yes_no,
                           verdict=op.verdict.probabilities, judge_ms=round(1000 * op.cost_s, 2))
                if isinstance(judge, _Keeping) and judge.last is not None:
                    row["x"] = [round(float(v), 4) for v in judge.last.reshape(-1)]
            rows.append(row)
        if (i + 1) % 25 == 0:
            print(f"keyword_bench: {i + 1}/{len(todo)} recordings, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def outcome(row: dict[str, Any], rules: OpinionRules | None, matcher: IntentMatcher,
            low_confidence: float) -> tuple[str, float]:
    """(intent, confidence) of one hearing without the judge (rules None) or with `rules`
    (and with them, a turn that answered nothing that says "stop" heard again without the
    room's noise: voice_input._stop_under_noise)."""
    from voice_skill.events import Utterance

    text, confidence = row["text"], row["confidence"]
    if rules is not None and "verdict" in row:
        op = second_opinion(row["words"], row["heard_meaning"], row["taken_meaning"],
                            row["red_flag"], Verdict(row["verdict"]), rules,
                            row.get("yes_no", True))
        u = with_opinion(Utterance(text, confidence), op, low_confidence)
        text, confidence = u.text, u.confidence
    state = row.get("state", RED_FLAG_STATE)
    red_flag = matcher.dialog.states[state].red_flag is not None
    if (rules is not None and row.get("cleaned") is not None  # heard again: in noise
            and (not text or matcher.match(text, state).name == NO_MATCH)
            and (not red_flag or rules.stop_on_red_flag)
            and says_stop(matcher, row["cleaned"], state)):  # voice_input's stop under noise
        text, confidence = "stop", with_opinion(
            Utterance(text, confidence), UNSURE_STOP, low_confidence).confidence
    if not text:
        return "no_match", confidence
    intent = matcher.match(text, state, confidence)
    if row["label"] == "digits" and intent.name == "pain":
        return f"pain {intent.value}", confidence
    return intent.name, confidence


def summary(rows: list[dict[str, Any]], rules: OpinionRules | None, matcher: IntentMatcher,
            settings: Settings, questions: int) -> dict[str, dict[str, Any]]:
    """Per condition: yes / no / stop heard right, go as no, other words and noise as yes/no,
    a yes heard as a sure no, and the modelled false escalation of an all-no person."""
    out: dict[str, dict[str, Any]] = {}
    for cond in CONDITIONS:
        got: dict[str, list[tuple[str, float]]] = {}
        for r in rows:
            if r["condition"] == cond:
                meant, sure = outcome(r, rules, matcher, settings.low_confidence)
                if r["label"] == "digits":  # right, or a wrong number (not which)
                    meant = ("pain" if meant == f"pain {r.get('expected')}" else
                             "wrong number" if meant.startswith("pain ") else meant)
                got.setdefault(r["label"], []).append((meant, sure))

        def pct(label: str, test: Any, got: dict[str, list[tuple[str, float]]] = got
                ) -> float | None:
            xs = got.get(label, [])
            return round(100 * sum(1 for x in xs if test(x)) / len(xs), 1) if xs else None

        s: dict[str, Any] = {w: pct(w, lambda x, w=w: x[0] == ANSWERS[w]) for w in ANSWERS}
        s["go as no"] = pct("go", lambda x: x[0] == "no")
        s["go as sure no"] = pct("go", lambda x: x[0] == "no" and x[1] >= settings.low_confidence)
        s["other words as yes/no"] = pct("other-words", lambda x: x[0] in ("yes", "no"))
        s["other words as sure no"] = pct(
            "other-words", lambda x: x[0] == "no" and x[1] >= settings.low_confidence)
        s["no as sure no"] = pct("no", lambda x: x[0] == "no" and x[1] >= settings.low_confidence)
        s["noise as yes/no"] = pct("noise", lambda x: x[0] in ("yes", "no"))
        s["digits"] = pct("digits", lambda x: x[0] == "pain")
        s["digits wrong"] = pct("digits", lambda x: x[0] == "wrong number")
        s["digits sure wrong"] = pct(
            "digits", lambda x: x[0] == "wrong number" and x[1] >= settings.low_confidence)
        s["digits as stop"] = pct("digits", lambda x: x[0] == "stop")
        s["go as stop"] = pct("go", lambda x: x[0] == "stop")
        s["other words as stop"] = pct("other-words", lambda x: x[0] == "stop")
        s["noise as stop"] = pct("noise", lambda x: x[0] == "stop")
        s["yes/no as stop"] = round(100 * sum(1 for w in ("yes", "no") for x in got.get(w, [])
                                              if x[0] == "stop")
                                    / max(1, len(got.get("yes", [])) + len(got.get("no", []))), 1)
        s["yes as sure no"] = sum(1 for x in got.get("yes", [])
                                  if x[0] == "no" and x[1] >= settings.low_confidence)
        s["yes lost (not yes)"] = pct("yes", lambda x: x[0] != "yes")
        s["yes confirmed"] = pct("yes", lambda x: x[0] == "yes" and x[1] < settings.low_confidence)
        s["no as sure yes"] = pct("no", lambda x: x[0] == "yes" and x[1] >= settings.low_confidence)
        s["not yes as sure yes"] = round(100 * sum(
            1 for w in ("no", "go", "other-words", "noise") for x in got.get(w, [])
            if x[0] == "yes" and x[1] >= settings.low_confidence) / max(1, sum(
                len(got.get(w, [])) for w in ("no", "go", "other-words", "noise"))), 1)
        no_rows = [{"intent": i, "confidence": c} for i, c in got.get("no", [])]
        s["false escalation"] = round(100 * false_escalation(
            answer_outcomes(no_rows, settings.low_confidence), questions,
            red_flag_reasks(settings, CONDITIONS[cond])), 2) if no_rows else None
        s["n"] = {k: len(v) for k, v in got.items()}
        out[cond] = s
    return out


COLUMNS = ("yes", "no", "no as sure no", "stop", "digits", "digits wrong", "go as no",
           "go as sure no", "other words as yes/no", "other words as sure no", "noise as yes/no",
           "go as stop", "other words as stop", "yes/no as stop", "digits as stop",
           "noise as stop", "yes as sure no", "yes confirmed", "no as sure yes",
           "not yes as sure yes", "false escalation")


def render(result: dict[str, Any], names: list[str] | None = None) -> str:
    """A markdown table: before, then each rule set, per condition."""
    runs = [("Whisper alone (before)", result["before"])] + [
        (name, r["summary"]) for name, r in result["rules"].items()
        if names is None or name in names]
    lines = ["| rules | condition | " + " | ".join(COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for name, summ in runs:
        for cond, s in summ.items():
            cells = ["" if s.get(c) is None else f"{s[c]:g}" for c in COLUMNS]
            lines.append(f"| {name} | {cond} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def with_head(rows: list[dict[str, Any]], head_file: Path) -> list[dict[str, Any]]:
    """The saved hearings with the verdicts another head gives on their embeddings."""
    with np.load(head_file, allow_pickle=False) as f:
        head = {k: np.asarray(f[k]) for k in f.files}
    judge = KeywordJudge.__new__(KeywordJudge)
    judge.classes = [str(c) for c in head["classes"]]
    judge._mean, judge._scale = head["mean"], head["scale"]
    judge._w1, judge._b1, judge._w2, judge._b2 = head["w1"], head["b1"], head["w2"], head["b2"]
    out = []
    for r in rows:
        if "x" in r:
            p = judge.head(np.asarray(r["x"], np.float32).reshape(1, -1))[0]
            r = r | {"verdict": {c: float(v) for c, v in zip(judge.classes, p, strict=True)}}
        out.append(r)
    return out


def _check(rows: list[dict[str, Any]], matcher: IntentMatcher, settings: Settings) -> int:
    """With the rules in the listener, a row's text is already the answer after them; the
    same rules applied to what Whisper heard and the judge said must give that answer."""
    differ = 0
    for r in rows:
        if "verdict" not in r:
            continue
        live = outcome(r, None, matcher, settings.low_confidence)[0]
        again = outcome(r | {"text": r["taken"], "confidence": r["taken_confidence"]},
                        DEFAULT_RULES, matcher, settings.low_confidence)[0]
        live = "no_match" if live in ("", "no_match") else live
        again = "no_match" if again in ("", "no_match") else again
        if live != again:
            differ += 1
            print(f"differs: {r['label']}/{r['file']} {r['condition']}: {live} vs {again}",
                  file=sys.stderr)
    print(f"keyword_bench --check: {differ} of {len(rows)} hearings differ", file=sys.stderr)
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    import platformdirs

    parser = argparse.ArgumentParser(prog="python -m voice_skill.dev.keyword_bench",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "tests" / "fixtures" / "real_speech",
                        help="real recordings, a folder per label (default: the repo's)")
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--labels", default=",".join(LABELS),
                        help="which labels to hear (comma-separated)")
    parser.add_argument("--check", action="store_true",
                        help="hear with the default rules in the listener itself and check that "
                             "applying them afterwards to the recorded hearing gives the same")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-keyword-judge.json")
    parser.add_argument("--rows", type=Path, default=None,
                        help="reuse the hearings saved in this JSON (only the rules are applied)")
    parser.add_argument("--table", action="store_true", help="print the markdown table")
    parser.add_argument("--keep-embeddings", action="store_true",
                        help="save each hearing's embeddings too (for --rows --head; ~7 MB)")
    parser.add_argument("--head", type=Path, default=None,
                        help="with --rows: another answer head (.npz) on the saved embeddings")
    args = parser.parse_args(argv)
    settings = Settings(log_enabled=False)
    matcher = IntentMatcher(load_dialog(settings.dialog_path))
    questions = red_flag_questions(load_dialog(settings.dialog_path))
    if args.rows:
        saved = json.loads(args.rows.read_text(encoding="utf-8"))
        rows, seconds = saved["rows"], saved.get("seconds")
        if args.head:
            rows = with_head(rows, args.head)
    else:
        if keyword_judge(print) is None:
            return 1
        judge = _Keeping(load_keyword_judge())
        started = time.perf_counter()
        cache = Path(platformdirs.user_cache_dir("voice-skill")) / "rooms"
        rows = hearings(judge, settings, args.corpus, args.every, cache,
                        DEFAULT_RULES if args.check else None, tuple(args.labels.split(",")))
        if args.check:
            return _check(rows, matcher, settings)
        seconds = round(time.perf_counter() - started)
    costs = [r["judge_ms"] for r in rows if "judge_ms" in r]
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "every": args.every,
        "seconds": seconds,
        "judge_ms": {"median": round(float(np.median(costs)), 1),
                     "p95": round(float(np.percentile(costs, 95)), 1), "n": len(costs)}
        if costs else None,
        "before": summary(rows, None, matcher, settings, questions),
        "rules": {name: {"rules": vars(r), "summary": summary(rows, r, matcher, settings, questions)}
                  for name, r in RULE_SETS.items()},
        # the turns that answered nothing heard again without the room's noise, left out
        "without the stop under noise": {
            name: summary([{k: v for k, v in r.items() if k != "cleaned"} for r in rows],
                          RULE_SETS[name], matcher, settings, questions)
            for name in ("the default (kept)", STOP_AS_HEARD)},
        "rows": rows if args.keep_embeddings else [
            {k: v for k, v in r.items() if k != "x"} for r in rows]}
    args.out.write_text(json.dumps(result, separators=(",", ":")) + "\n", encoding="utf-8")
    if args.table:
        print(render(result))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
