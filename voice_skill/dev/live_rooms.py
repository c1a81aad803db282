"""The live trial's rooms, heard offline: every take of each session's real "yes" and "no"
speaker, in that session's room with its household noise, through the product's hearing path
(Whisper with the turn judge, the keyword judge and its rules), a red-flag question each time.

Why: a live session answers all ten red flags with one speaker in one room, so its misses come
together; the room benchmark's false escalation treats every answer as independent and so
understates it. Here the false escalation of a person who says "no" to every red flag is worked
out for each session's own speaker and room (real_speech.false_escalation on that session's
hearings), then averaged over sessions, beside the pooled figure the benchmark gives. The real
"yes" takes give the other side: a red flag passed as "no", and a real yes confirmed first.

Run: python -m voice_skill.dev.live_rooms --sessions 0:40 [--snr 10] [--noise-draws 1] --out F
      python -m voice_skill.dev.live_rooms --summary F      (the figures of saved hearings)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dev.real_speech import (
    answer_outcomes,
    false_escalation,
    percent,
    red_flag_questions,
    red_flag_reasks,
)
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.settings import Settings

STATE = "rf_bladder"
"""the red-flag question every take answers"""
YES_WORDS = ("yes", "yeah", "yep", "yup")


def hear_sessions(numbers: range, snr_db: float, draws: int, out: Path) -> None:
    """Append one JSON line per hearing to `out`: session, word, take, what was heard."""
    from voice_skill.dev.turn_live import RoomTrial
    from voice_skill.dialogue.intents import IntentMatcher
    from voice_skill.hearing.audio import read_wav
    from voice_skill.hearing.keyword_judge import keyword_judge
    from voice_skill.hearing.recognizers import recognizer_for
    from voice_skill.hearing.second_opinion import DEFAULT_RULES
    from voice_skill.hearing.turns import TurnJudge
    from voice_skill.hearing.voice_input import AudioListener, hear_recording

    settings = Settings(log_enabled=False)
    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    whisper = recognizer_for(settings, "whisper")
    turns = TurnJudge(whisper, matcher, settings)
    words = keyword_judge(print)
    made: list[AudioListener] = []

    def listener(*args: Any, **kw: Any) -> AudioListener:
        kw |= {"keyword_judge": words, "opinion_rules": DEFAULT_RULES}
        made.append(AudioListener(*args, **kw))
        return made[-1]

    with out.open("a", encoding="utf-8") as sink:
        for number in numbers:
            with tempfile.TemporaryDirectory() as tmp:
                room = RoomTrial(Path(tmp), number, snr_db)
                assert room.noise is not None
                noise = read_wav(room.noise)
                rng = np.random.default_rng(number)
                for word in ("no", "yes"):
                    for take, path in enumerate(room.files[word]):
                        wet = read_wav(path)
                        for draw in range(draws):
                            # the noise goes on, from a point of its own, before and after
                            at = int(rng.integers(0, len(noise) - len(wet) - 48000))
                            mixed = np.clip(wet.astype(np.int32) + noise[at:at + len(wet)],
                                            -32768, 32767).astype(np.int16)
                            after = noise[at + len(wet):at + len(wet) + 40000]
                            made.clear()
                            heard = hear_recording(mixed, settings, whisper, STATE,
                                                   matcher.grammar(STATE), dialog.question(STATE),
                                                   turns, after, listener=listener)
                            u = heard.utterance
                            intent = (matcher.match(u.text, STATE, u.confidence)
                                      if u is not None and u.text else None)
                            op = made[0].last_opinion if made else None
                            row = {"session": number, "word": word, "take": take, "draw": draw,
                                   "file": path.name, "text": u.text if u else None,
                                   "intent": intent.name if intent else "no_match",
                                   "confidence": u.confidence if u else 0.0,
                                   "whisper": op.heard.text if op else (u.text if u else None),
                                   "whisper_confidence": op.heard.confidence if op else None,
                                   "verdict": (dict(op.verdict.probabilities)
                                               if op is not None and op.verdict is not None
                                               else None)}
                            sink.write(json.dumps(row) + "\n")
                            sink.flush()
            print(f"live_rooms: session {number} heard", file=sys.stderr, flush=True)


def summary(rows: list[dict[str, Any]], settings: Settings, questions: int,
            snr_db: float | None = None) -> dict[str, Any]:
    """Pooled and per-session figures of the hearings (`snr_db`: their noise)."""
    low = settings.low_confidence
    reasks = red_flag_reasks(settings, snr_db)
    sessions = sorted({r["session"] for r in rows})
    no = [r for r in rows if r["word"] == "no"]
    yes = [r for r in rows if r["word"] == "yes"]

    def pct(part: list[dict[str, Any]], test: Any) -> float | None:
        return percent(sum(1 for r in part if test(r)), len(part))

    pooled = false_escalation(answer_outcomes(no, low), questions, reasks)
    each = [false_escalation(answer_outcomes([r for r in no if r["session"] == s], low),
                             questions, reasks)
            for s in sessions if any(r["session"] == s for r in no)]
    return {
        "sessions": len(sessions), "no_hearings": len(no), "yes_hearings": len(yes),
        "no as sure no": pct(no, lambda r: r["intent"] == "no" and r["confidence"] >= low),
        "no as no (sure or confirmed)": pct(no, lambda r: r["intent"] == "no"),
        "no as sure yes": pct(no, lambda r: r["intent"] == "yes" and r["confidence"] >= low),
        "no as unsure yes (confirmed)": pct(no, lambda r: r["intent"] == "yes"
                                            and r["confidence"] < low),
        "no as sure yes without the doubt of a yes": pct(no, lambda r: _sure_yes_before(r, low)),
        "no unclear (asked again)": pct(no, lambda r: r["intent"] not in ("yes", "no")),
        "yes as yes": pct(yes, lambda r: r["intent"] == "yes"),
        "yes confirmed": pct(yes, lambda r: r["intent"] == "yes" and r["confidence"] < low),
        "yes as sure no": pct(yes, lambda r: r["intent"] == "no" and r["confidence"] >= low),
        "false escalation, pooled (%)": round(100 * pooled, 2),
        "false escalation, per speaker and room (%)": (round(100 * float(np.mean(each)), 2)
                                                       if each else None),
        "sessions with false escalation over 50 %": sum(1 for f in each if f > 0.5),
    }


def _sure_yes_before(row: dict[str, Any], low: float) -> bool:
    """A sure "yes" before the judge could doubt one (a lone yes it hears as "no")."""
    if row["intent"] != "yes":
        return False
    whisper_sure = (row.get("whisper") in YES_WORDS
                    and (row.get("whisper_confidence") or 0.0) >= low)
    return bool(row["confidence"] >= low or whisper_sure)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m voice_skill.dev.live_rooms",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sessions", default="0:40", help="first:end session numbers (turn_live's)")
    ap.add_argument("--snr", type=float, default=10.0,
                    help="the noise under the answers (with --summary: that of the saved "
                         "hearings, which decides the red flags' re-asks in noise)")
    ap.add_argument("--noise-draws", type=int, default=1, help="noise starting points per take")
    ap.add_argument("--out", type=Path, help="append the hearings here (JSON lines)")
    ap.add_argument("--summary", type=Path, help="print the figures of these hearings")
    args = ap.parse_args(argv)
    if args.out:
        first, _, end = args.sessions.partition(":")
        hear_sessions(range(int(first), int(end)), args.snr, args.noise_draws, args.out)
    path = args.summary or args.out
    if path is None:
        ap.error("--out or --summary")
    settings = Settings(log_enabled=False)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    questions = red_flag_questions(load_dialog(settings.dialog_path))
    print(json.dumps(summary(rows, settings, questions, args.snr), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
