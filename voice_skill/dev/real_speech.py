"""Real-speech benchmark: what each engine hears of real people, clean and under real noise.

Every recording goes through the microphone's hearing path (`hear_recording`: followed by
quiet, endpointed by the VAD with the turn judge's quick or patient end, recognized with the
state's phrases and question, read by the intent matcher), under the dialogue state where its
word is an answer. Noisy copies are mixed at run time from the real noise clips, seeded, so
every run hears the same audio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from voice_skill.dev import room_sim
from voice_skill.dev.report_doc import write_section
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.events import Utterance
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, AudioSource, read_wav
from voice_skill.hearing.endpointing import Endpointer, EndSilence, Segment
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import hear_recording
from voice_skill.settings import Settings

if TYPE_CHECKING:
    from voice_skill.hearing.recognizers import Recognizer

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real_speech"
RED_FLAG_STATE, PAIN_STATE = "rf_bladder", "pain_start"
ANSWERS = {"yes": "yes", "no": "no", "stop": "stop"}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NOISY_SETS = ("yes", "no", "stop", "digits")
SNRS_DB = (10.0, 5.0)
ANSWER_INTENTS = ("yes", "no", "unsure", "pain")
"""what counts as taking a sound for an answer"""
SECTION = "real-speech"
"""its markers in docs/benchmarks.md"""


@dataclass(frozen=True)
class Clip:
    """One recording to hear: its label folder, file, and the noise mixed under it (if any)."""

    label: str
    path: Path
    snr_db: float | None = None
    noise: Path | None = None

    @property
    def state(self) -> str:
        """The dialogue state in which this recording is heard."""
        return PAIN_STATE if self.label.startswith("digits") else RED_FLAG_STATE

    def expected_value(self) -> int | None:
        """The pain score a digit recording says (None for other labels)."""
        if not self.label.startswith("digits"):
            return None
        head = self.path.name.split("_")[0]
        return int(head) if head.isdigit() else DIGITS.index(head)


def active_speech_power(audio: np.ndarray) -> float:
    """room_sim.active_level of int16 audio: the speech's power, not the pauses'."""
    return room_sim.active_level(audio.astype(np.float64) / 32768.0)


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float, seed: str) -> np.ndarray:
    """Real noise under real speech at `snr_db` over the speech's active level (int16)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "little"))
    x = speech.astype(np.float64) / 32768.0
    nz = noise.astype(np.float64) / 32768.0
    if len(nz) < len(x):
        nz = np.tile(nz, math.ceil(len(x) / len(nz)))
    start = int(rng.integers(0, len(nz) - len(x) + 1))
    nz = nz[start:start + len(x)]
    noise_power = float(np.mean(nz**2)) or 1e-12
    mixed = x + nz * math.sqrt(active_speech_power(speech) / 10 ** (snr_db / 10) / noise_power)
    peak = float(np.abs(mixed).max())
    if peak > 0.99:
        mixed *= 0.99 / peak  # scaling both keeps the ratio
    return np.clip(np.round(mixed * 32768.0), -32768, 32767).astype(np.int16)


def clips(corpus: Path = CORPUS, every: int = 1) -> Iterator[Clip]:
    """Every clip to hear: each label clean, the answers also under noise at each SNR."""
    if not corpus.is_dir():
        raise SystemExit(f"no real-speech corpus at {corpus} (run from a checkout of the repo)")
    noises = sorted((corpus / "noise").glob("*.wav"))
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.wav"))[::every]
        for i, f in enumerate(files):
            yield Clip(folder.name, f)
            base = folder.name.removesuffix("8k")
            if base in NOISY_SETS and folder.name == base:
                for snr in SNRS_DB:
                    yield Clip(folder.name, f, snr, noises[(i * 7 + int(snr)) % len(noises)])


class TimedRecognizer:
    """A recognizer that keeps the time of each decode (the turn judge may decode at a pause)."""

    def __init__(self, recognizer: Any) -> None:
        self.inner, self.name = recognizer, recognizer.name
        self.decode_s: list[float] = []

    def recognize(self, audio: np.ndarray, phrases: Any, hint: str = "") -> Utterance:
        """The wrapped recognizer's utterance; its decode time noted."""
        u: Utterance = self.inner.recognize(audio, phrases, hint)
        self.decode_s.append(u.decode_s)
        return u

    def answer_margin(self, audio: np.ndarray, word: str) -> float | None:
        """The wrapped recognizer's answer_margin (None if it has none)."""
        margin = getattr(self.inner, "answer_margin", None)
        return None if margin is None else cast("float | None", margin(audio, word))


def speech_end_s(audio: np.ndarray) -> float:
    """Where the words of a dry recording end (seconds): the end of its last 10 ms frame within
    30 dB of the loudest and 6 dB above the quietest tenth (its own background). The reference
    for how long a turn runs on after the person stops."""
    x = audio.astype(np.float64) / 32768.0
    win = PIPELINE_RATE_HZ // 100
    n = len(x) // win
    if n < 2:
        return len(x) / PIPELINE_RATE_HZ
    power = np.mean(x[: n * win].reshape(n, win) ** 2, axis=1)
    floor = float(np.percentile(power, 10))
    loud = np.flatnonzero(power >= max(power.max() / 1000.0, 4.0 * floor))
    return float((loud[-1] + 1) * win / PIPELINE_RATE_HZ) if loud.size else n * win / PIPELINE_RATE_HZ


class _Watched:
    """An audio source that notes when its sound has run out."""

    def __init__(self, source: AudioSource) -> None:
        self.source, self.frame_samples = source, source.frame_samples
        self.ran_out = False

    def read(self, timeout_s: float) -> np.ndarray | None:
        frame = self.source.read(timeout_s)
        self.ran_out = self.ran_out or frame is None
        return frame

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)


class WatchedEndpointer(Endpointer):
    """The product's endpointer, noting for the benchmark where in the stream each turn was
    decided to be over and whether it only ended because the sound did (a run-on)."""

    decided_s: float | None = None
    run_on = False

    def listen(self, source: AudioSource, no_input_timeout_s: float | None = None,
               end_silence: EndSilence | None = None) -> Segment | None:
        watched = _Watched(source)
        segment = super().listen(cast("AudioSource", watched), no_input_timeout_s, end_silence)
        self.decided_s = float(getattr(source, "position_s", 0.0))
        self.run_on = watched.ran_out
        return segment


def hear(clip: Clip, recognizer: TimedRecognizer, judge: TurnJudge, matcher: IntentMatcher,
         dialog: Dialog, settings: Settings, audio: np.ndarray | None = None,
         after: np.ndarray | None = None, lead_s: float = 0.0) -> dict[str, Any]:
    """The live hearing path on one clip (or on `audio` made of it, such as the clip played in a
    room from `lead_s` on, with `after` as the sound that follows it instead of quiet):
    endpoint, recognize in its state, match the intent."""
    dry = read_wav(clip.path)
    if audio is None:
        audio = dry
    if clip.noise is not None and clip.snr_db is not None:
        audio = mix(audio, read_wav(clip.noise), clip.snr_db, f"{clip.path.name}|{clip.snr_db}")
    recognizer.decode_s.clear()
    endpointer = WatchedEndpointer(settings)
    # The recording's own room sound leads in; the quiet after it ends the turn.
    heard = hear_recording(audio, settings, cast("Recognizer", recognizer), clip.state,
                           matcher.grammar(clip.state), dialog.question(clip.state), judge, after,
                           endpointer)
    u = heard.utterance
    words_end = lead_s + speech_end_s(dry)
    row: dict[str, Any] = {"label": clip.label, "file": clip.path.name, "snr_db": clip.snr_db,
                           "text": "", "intent": "no_match", "value": None, "confidence": 0.0,
                           "decode_s": None, "reply_wait_s": None, "speech_found": u is not None,
                           "sound_s": round(len(audio) / PIPELINE_RATE_HZ, 3),
                           "words_end_s": round(words_end, 3)}
    if u is not None and endpointer.decided_s is not None:
        # run_on: the turn ended only because the sound did, not on quiet; ended_after_s: how
        # long after the words the end was decided (for a run-on: the rest of the sound)
        row.update(run_on=endpointer.run_on,
                   ended_after_s=round(endpointer.decided_s - words_end, 3))
    if u is not None:
        got = matcher.match(u.text, clip.state, u.confidence)
        row.update(text=u.text, intent=got.name, value=got.value,
                   confidence=round(u.confidence, 3), audio_s=round(u.audio_s, 3),
                   decode_s=round(recognizer.decode_s[-1], 4),
                   reply_wait_s=round(u.decode_s, 4))
    row["correct"] = is_correct(clip, row)
    return row


def is_correct(clip: Clip, row: dict[str, Any]) -> bool:
    """Whether the skill understood the clip as a person would want."""
    if clip.label in ANSWERS:
        return bool(row["intent"] == ANSWERS[clip.label])
    if clip.label.startswith("digits"):
        return bool(row["intent"] == "pain" and row["value"] == clip.expected_value())
    return bool(row["intent"] not in ANSWER_INTENTS)  # go, other words, noise: never an answer


def measure(engine: str, settings: Settings, every: int = 1) -> dict[str, Any]:
    """Hear every clip with one engine; the raw rows and the summary."""
    from voice_skill.hearing.recognizers import recognizer_for

    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    recognizer = TimedRecognizer(recognizer_for(settings, engine))
    judge = TurnJudge(cast("Recognizer", recognizer), matcher, settings)
    started = time.perf_counter()
    rows = [hear(c, recognizer, judge, matcher, dialog, settings) for c in clips(every=every)]
    return {"engine": recognizer.name, "seconds": round(time.perf_counter() - started, 1),
            "rows": rows, "summary": summarize(rows, settings.low_confidence)}


def spread(xs: list[float]) -> dict[str, float] | None:
    """Median, 95th percentile and count (None for no values)."""
    if not xs:
        return None
    return {"median": round(float(np.median(xs)), 4), "p95": round(float(np.percentile(xs, 95)), 4),
            "n": len(xs)}


def percent(k: int, n: int) -> float | None:
    return round(100.0 * k / n, 1) if n else None


def summarize(rows: list[dict[str, Any]], low_confidence: float) -> dict[str, Any]:
    """Accuracy per label and SNR, false accepts, confusions, decode times, false escalation."""
    def pick(label: str, snr: float | None = None) -> list[dict[str, Any]]:
        return [r for r in rows if r["label"] == label and r["snr_db"] == snr]

    out: dict[str, Any] = {"accuracy": {}, "n": {}}
    for label in ("yes", "no", "stop", "digits", "digits8k"):
        for snr in (None, *SNRS_DB):
            sel = pick(label, snr)
            if sel:
                key = f"{label} {'clean' if snr is None else f'{snr:g} dB'}"
                out["accuracy"][key] = percent(sum(r["correct"] for r in sel), len(sel))
                out["n"][key] = len(sel)
    noise, other, go, yes = pick("noise"), pick("other-words"), pick("go"), pick("yes")
    out["noise_as_yes_no"] = percent(sum(r["intent"] in ("yes", "no") for r in noise), len(noise))
    out["noise_as_answer"] = percent(sum(r["intent"] in ANSWER_INTENTS for r in noise), len(noise))
    out["other_words_as_answer"] = percent(sum(r["intent"] in ANSWER_INTENTS for r in other), len(other))
    out["go_as_no"] = percent(sum(r["intent"] == "no" for r in go), len(go))
    out["yes_as_confident_no"] = sum(
        r["intent"] == "no" and r["confidence"] >= low_confidence
        for r in rows if r["label"] == "yes")
    out["n"].update(noise=len(noise), other_words=len(other), go=len(go), yes_all=len(yes))
    times = [r["decode_s"] for r in rows if r["decode_s"] is not None and r["snr_db"] is None
             and r["label"] in ("yes", "no", "stop", "digits")]
    out["decode_s"] = spread(times)
    out["reply_wait_s"] = spread([r["reply_wait_s"] for r in rows if r["reply_wait_s"] is not None
                                   and r["snr_db"] is None])
    no_rows = [r for r in rows if r["label"] == "no" and r["snr_db"] is None]
    out["no_outcomes"] = answer_outcomes(no_rows, low_confidence)
    return out


def answer_outcomes(rows: list[dict[str, Any]], low_confidence: float) -> dict[str, float]:
    """What a spoken "no" to a red flag is heard as, in the dialogue manager's terms: a sure or
    unsure "no" or "yes" (sure: at or above the confidence threshold), doubt said ("not sure")
    or a stop heard unsurely (both confirmed without taking a side), or unclear (nothing heard,
    no match, another command: re-asked). "confirm" and "no_any" are sums of those, for the
    report."""
    n = len(rows) or 1

    def share(test: Any) -> float:
        return sum(1 for r in rows if test(r)) / n

    def heard(name: str, sure: bool) -> float:
        return share(lambda r: r["intent"] == name and (r["confidence"] >= low_confidence) == sure)

    out = {"no": heard("no", True), "no_unsure": heard("no", False), "yes": heard("yes", True),
           "yes_unsure": heard("yes", False),
           "doubt": share(lambda r: r["intent"] == "unsure"),
           "stop_unsure": share(lambda r: r["intent"] == "stop" and r["confidence"] < low_confidence)}
    out["unclear"] = max(0.0, 1.0 - sum(out.values()))
    return out | {"no_any": out["no"] + out["no_unsure"],
                  "confirm": out["no_unsure"] + out["yes_unsure"] + out["doubt"]
                  + out["stop_unsure"]}


def false_escalation(o: dict[str, float], questions: int, max_reprompts: int) -> float:
    """Chance that a person answering "no" to every red flag is told it is a red flag.

    Follows the dialogue manager's rules, per question: a sure "no" passes and a sure "yes"
    escalates; an unsure answer or doubt is confirmed; an unclear answer is re-asked up to
    `max_reprompts` times, then taken as a yes (doubt said at the last ask too; a stop heard
    unsurely is confirmed at any ask). In the confirmation a "no" passes (unless it disagrees
    with an unsure "yes" before it, or is unsure after doubt: then it is asked once more), a
    "yes" or doubt escalates, and two unsure answers that disagree are settled by a third, of
    which only a sure "no" passes; unclear answers are asked again, up to `max_reprompts` times
    in all. Answers are independent.
    """

    def settled(left: int) -> float:
        """Chance the third answer after two that disagreed passes, `left` re-asks left."""
        return o["no"] + o["unclear"] * (settled(left - 1) if left > 0 else 0.0)

    def confirmed(doubted: str | None, left: int) -> float:
        """Chance the confirmation passes, `left` re-asks left."""
        decide = settled(left - 1) if left > 0 else 0.0
        again = confirmed(doubted, left - 1) if left > 0 else 0.0
        if doubted == "yes":  # an unsure "no" against an unsure "yes": a third decides
            no_unsure = decide
        elif doubted == "no":  # two unsure "no"s agree
            no_unsure = 1.0
        else:  # after doubt, nothing to agree with: asked once more, as if it came first
            no_unsure = confirmed("no", left - 1) if left > 0 else 0.0
        return (o["no"] + o["no_unsure"] * no_unsure
                + o["yes_unsure"] * (decide if doubted == "no" else 0.0) + o["unclear"] * again)

    def asked(left: int) -> float:
        """Chance the question passes, `left` re-asks left."""
        return (o["no"] + o["no_unsure"] * confirmed("no", max_reprompts)
                + o["yes_unsure"] * confirmed("yes", max_reprompts)
                + o["doubt"] * (confirmed(None, max_reprompts) if left > 0 else 0.0)
                + o["stop_unsure"] * confirmed(None, max_reprompts)
                + o["unclear"] * (asked(left - 1) if left > 0 else 0.0))

    return 1.0 - asked(max_reprompts) ** questions


def red_flag_reasks(settings: Settings, snr_db: float | None) -> int:
    """The re-asks a red flag gets in the dialogue: one more where answers are heard through
    loud noise, since the person has then been asked to speak up (the dialogue manager's
    bound). `snr_db`: the noise under the answers (None: none added)."""
    from voice_skill.hearing.listening import NOISY_BELOW_DB

    noisy = snr_db is not None and snr_db < NOISY_BELOW_DB
    return settings.max_reprompts + (settings.noisy_extra_reprompts if noisy else 0)


def red_flag_questions(dialog: Dialog) -> int:
    """How many red-flag questions a screening asks whose "yes" escalates (not routine)."""
    return sum(1 for s in dialog.states.values() if s.red_flag and s.red_flag.level != "routine")


def render(report: dict[str, Any]) -> str:
    """The markdown section for docs/benchmarks.md, from the saved JSON alone."""
    engines = report["engines"]
    labels = [k for e in engines for k in e["summary"]["accuracy"]]
    keys = list(dict.fromkeys(labels))
    names = [e["engine"] for e in engines]
    sampled = [f"{e['engine']} heard every {e['every']}th clip" for e in engines
               if e.get("every", 1) > 1]
    lines = ["## Real speech", "",
             f"Measured {report['when']} at commit `{report['commit']}` by "
             "`.venv/bin/python -m voice_skill.dev.real_speech` (also part of `voice-skill bench`). "
             "Real people from Speech Commands (16 kHz) and the Free Spoken Digit Dataset "
             "(8 kHz, resampled), `tests/fixtures/real_speech/`; noisy copies mix the real "
             "noise clips under the answers at the given SNR over the speech's active level. "
             "Each clip goes through the microphone's hearing path: VAD endpointing with the "
             "turn judge (a quick end after a whole answer, decoded at the pause), the state's "
             "phrases and question (yes/no/stop under `rf_bladder`, digits under `pain_start`), "
             "the intent matcher. Decode time is one recognizer run; the wait is what is left "
             "of it after the end of the turn is decided (a decode made at the pause is reused). "
             "Times are on this machine, shared with other work while measured."
             + (f" Sampled: {'; '.join(sampled)} (n is the first engine's)." if sampled else ""),
             "", "| accuracy (%) | " + " | ".join(names) + " | n |",
             "|---|" + "---|" * (len(names) + 1)]
    for k in keys:
        cells = [_cell(e["summary"]["accuracy"].get(k)) for e in engines]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {engines[0]['summary']['n'].get(k, '')} |")
    rows = [("noise taken as yes or no (%)", "noise_as_yes_no"),
            ("noise taken as any answer (%)", "noise_as_answer"),
            ("other words taken as an answer (%)", "other_words_as_answer"),
            ('"go" heard as "no" (%)', "go_as_no"),
            ('"yes" heard as a confident "no" (count)', "yes_as_confident_no")]
    lines += ["", "| false accepts | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for title, key in rows:
        lines.append(f"| {title} | " + " | ".join(_cell(e["summary"][key]) for e in engines) + " |")
    lines.append("| decode time per answer, median / p95 (s) | " + " | ".join(
        f"{d['median']:.3f} / {d['p95']:.3f}" if (d := e["summary"]["decode_s"]) else "-"
        for e in engines) + " |")
    lines.append("| false escalation of a person answering \"no\" to every red flag (%) | "
                 + " | ".join(_cell(e["false_escalation_pct"]) for e in engines) + " |")
    lines += ["", f"False escalation is computed from each engine's measured outcomes for real "
              f"\"no\"s (sure no, doubtful no, yes, unclear) and the dialogue's rules: "
              f"{report['questions']} red-flag questions that escalate, "
              f"{report['max_reprompts']} re-asks, answers below confidence "
              f"{report['low_confidence']} confirmed once."]
    return "\n".join(lines) + "\n"


def _cell(x: Any) -> str:
    return "-" if x is None else f"{x:.1f}" if isinstance(x, float) else str(x)


def run(engines: list[str], settings: Settings, out_dir: Path,
        every: dict[str, int] | None = None) -> dict[str, Any]:
    """Measure each installed engine (every Nth clip, per engine), save JSON and markdown."""
    import subprocess

    from voice_skill.errors import ModelError

    dialog = load_dialog(settings.dialog_path)
    measured = []
    for engine in engines:
        try:
            result = measure(engine, settings, (every or {}).get(engine, 1))
        except ModelError as exc:
            print(f"{engine}: not measured ({exc})", file=sys.stderr)
            continue
        result["false_escalation_pct"] = round(100 * false_escalation(
            result["summary"]["no_outcomes"], red_flag_questions(dialog),
            settings.max_reprompts), 2)
        result["every"] = (every or {}).get(engine, 1)
        measured.append(result)
        print(f"{engine}: {json.dumps(result['summary']['accuracy'])}", file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=CORPUS, check=False).stdout.strip() or "unknown"
    report = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
              "questions": red_flag_questions(dialog), "max_reprompts": settings.max_reprompts,
              "low_confidence": settings.low_confidence, "engines": measured}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmarks-real-speech.json").write_text(json.dumps(report, indent=1) + "\n",
                                                         encoding="utf-8")
    write_section(out_dir / "benchmarks.md", SECTION, render(report))
    return report


def main(argv: list[str] | None = None) -> int:
    """`.venv/bin/python -m voice_skill.dev.real_speech [--engine E ...] [--every N] [--out DIR]`."""
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m voice_skill.dev.real_speech",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=("whisper", "pocketsphinx", "vosk"),
                        help="engine to measure (repeatable); default: every installed one")
    parser.add_argument("--every", type=int, default=1, help="hear every Nth clip (quick runs)")
    parser.add_argument("--sample", action="append", default=[], metavar="ENGINE=N",
                        help="hear every Nth clip with this engine (a slow one), e.g. pocketsphinx=3")
    parser.add_argument("--out", type=Path, default=CORPUS.parents[3] / "docs")
    args = parser.parse_args(argv)
    engines = args.engine or ["whisper", "pocketsphinx", "vosk"]
    every = {e: args.every for e in engines}
    every.update({k: int(v) for k, v in (s.split("=", 1) for s in args.sample)})
    run(engines, Settings(), args.out, every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
