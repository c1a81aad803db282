"""Turn-taking benchmark: end-of-turn delay and inner-pause cut-offs on real recordings.

Answers with a pause inside them are built by joining real human recordings (Speech
Commands, the copies in tests/fixtures/real_speech/) and flite sentences with 0.3-0.6 s of
silence; each is heard by the microphone path's listener (AudioListener, its endpointer and turn
judge) reading the recording instead of a microphone. With 8 speakers (the default): 24 single
answers and 126 with a pause. It says how many it built, and stops when there are no real
recordings (it needs flite too: `bin/setup dev`).
Run: .venv/bin/python -m voice_skill.dev.turn_bench [--real-speech DIR] [--speakers N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.events import Intent
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, WavSource, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.recognizers import recognizer_for
from voice_skill.hearing.turns import TurnJudge
from voice_skill.hearing.voice_input import AudioListener
from voice_skill.settings import Settings

PAUSES_S = (0.3, 0.45, 0.6)
"""silences put inside an answer: a breath, a wince, a search for the word (seconds)"""
DEFAULT_REAL = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real_speech"
"""the real recordings in this repository; a folder in the Speech Commands layout (yes/, no/,
digits/, or those under speech-commands/) can be given instead"""


@dataclass(frozen=True)
class Answer:
    """One spoken answer made of parts, with what the whole of it means in a state."""

    name: str
    state: str
    parts: tuple[np.ndarray, ...]
    meaning: str
    pause_s: float = 0.0


def flite(text: str, voice: str = "slt") -> np.ndarray:
    """A sentence spoken by flite, as pipeline audio."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as fh:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", fh.name], check=True)
        return trim(read_wav(Path(fh.name)))


def trim(audio: np.ndarray, floor: float = 300.0) -> np.ndarray:
    """Cut leading and trailing quiet (recordings are padded to 1 s) so pauses are as built."""
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > floor)
    if loud.size == 0:
        return audio
    pad = int(0.03 * PIPELINE_RATE_HZ)
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


def corpus(real: Path, speakers: int) -> list[Answer]:
    """Single answers and answers with an inner pause, from real and synthetic voices."""
    sc = real / "speech-commands" if (real / "speech-commands").is_dir() else real

    def takes(word: str, folder: str | None = None) -> list[np.ndarray]:
        files = sorted((sc / (folder or word)).glob(f"{word}*.wav" if folder else "*.wav"))
        return [trim(read_wav(f)) for f in files[:speakers]]

    nos, yeses = takes("no"), takes("yes")
    sevens, threes = takes("seven", "digits"), takes("three", "digits")
    if not (nos and yeses and sevens and threes):
        raise SystemExit(f"turn_bench: too few real recordings under {sc} (no: {len(nos)}, "
                         f"yes: {len(yeses)}, seven: {len(sevens)}, three: {len(threes)}; "
                         "each needs at least one); give --real-speech DIR")
    out: list[Answer] = []
    for i, a in enumerate(nos):
        out.append(Answer(f"no#{i}", "rf_bladder", (a,), "no"))
    for i, a in enumerate(yeses):
        out.append(Answer(f"yes#{i}", "rf_bladder", (a,), "yes"))
    for i, a in enumerate(sevens):
        out.append(Answer(f"seven#{i}", "pain_start", (a,), "pain=7"))
    i_would_say, no_i = flite("I'd say"), flite("no, I")
    i_have_not, not_sure = flite("I haven't"), flite("I'm not sure")
    about, a_seven = flite("it's about"), flite("a seven")
    for p in PAUSES_S:
        for i in range(min(speakers, len(nos))):
            out.append(Answer(f"no..no#{i}", "rf_bladder", (nos[i], nos[(i + 1) % len(nos)]),
                              "no", p))
            out.append(Answer(f"yes..yes#{i}", "rf_bladder",
                              (yeses[i], yeses[(i + 1) % len(yeses)]), "yes", p))
            out.append(Answer(f"I'd say..seven#{i}", "pain_start", (i_would_say, sevens[i % len(sevens)]),
                              "pain=7", p))
            out.append(Answer(f"no..I'm not sure#{i}", "rf_bladder", (nos[i], not_sure),
                              "unsure", p))
            three, seven = threes[i % len(threes)], sevens[i % len(sevens)]
            out.append(Answer(f"three..seven#{i}", "pain_start", (three, seven), "pain=7", p))
        out.append(Answer("no, I..I haven't", "rf_bladder", (no_i, i_have_not), "no", p))
        out.append(Answer("it's about..a seven", "pain_start", (about, a_seven), "pain=7", p))
    return out


def build(a: Answer) -> tuple[np.ndarray, float]:
    """The answer's audio with a second of silence before and after; where its speech ends."""
    gap = silence(a.pause_s)
    body = [a.parts[0]]
    for part in a.parts[1:]:
        body += [gap, part]
    speech = np.concatenate(body)
    lead = silence(1.0)
    return np.concatenate([lead, speech, silence(2.5)]), (len(lead) + len(speech)) / PIPELINE_RATE_HZ


def run(settings: Settings, answers: list[Answer], engine: str | None) -> dict[str, object]:
    """Each answer through the microphone path's listener (over the recording), as it hears."""
    dialog = load_dialog(settings.dialog_path)
    matcher = IntentMatcher(dialog)
    recognizer = recognizer_for(settings, engine)
    judge = TurnJudge(recognizer, matcher, settings)
    rows = []
    for a in answers:
        audio, speech_end = build(a)
        source = WavSource(audio, settings)
        listener = AudioListener(source, Endpointer(settings), recognizer, 10.0, print,
                                 judge=judge)
        grammar = matcher.grammar(a.state)
        heard = listener.listen(a.state, grammar, 10.0)
        decided = source.position_s  # audio time when the turn was decided over
        if heard.utterance is None:
            rows.append({"name": a.name, "pause_s": a.pause_s, "heard": None, "cut": False,
                         "joined": False, "meaning": None, "want": a.meaning})
            continue
        u = heard.utterance
        # What is said after a quick end comes back as the rest of the answer (the session
        # then keeps the answer or takes the whole one instead): listen once more for it.
        rest = listener.listen("can_move", matcher.grammar("can_move"), 3.0)
        joined = rest.continues
        if joined and rest.utterance is not None:
            u = rest.utterance
        # What the same engine makes of the whole answer in one piece: a turn-taking fault is a
        # meaning other than that one (a misheard word is the recognizer's, measured elsewhere).
        lead = round(PIPELINE_RATE_HZ * 0.7)
        whole_u = recognizer.recognize(audio[lead: round(speech_end * PIPELINE_RATE_HZ) + lead],
                                       grammar)
        whole = _meaning(matcher.match(whole_u.text, a.state, whole_u.confidence))
        got = _meaning(matcher.match(u.text, a.state, u.confidence))
        # The fixed end silence alone (0.8 s, before this work) on the same recording.
        fixed_source = WavSource(audio, settings)
        Endpointer(settings).listen(fixed_source, 10.0)
        rows.append({"name": a.name, "pause_s": a.pause_s, "heard": u.text, "meaning": got,
                     "whole": whole, "want": a.meaning, "cut": decided < speech_end - 0.05,
                     "joined": joined, "end_wait_s": round(decided - speech_end, 3),
                     "fixed_cut": fixed_source.position_s < speech_end - 0.05,
                     "fixed_end_wait_s": round(fixed_source.position_s - speech_end, 3)})
    return {"engine": recognizer.name, "rows": rows, **summary(rows)}


def _meaning(intent: Intent) -> str:
    return intent.name if intent.value is None else f"{intent.name}={intent.value}"


def summary(rows: list[dict[str, object]]) -> dict[str, object]:
    """Cut-off rate of paused answers and the wait after single answers."""
    paused = [r for r in rows if r["pause_s"]]
    single = [r for r in rows if not r["pause_s"] and r.get("end_wait_s") is not None]
    waits = [float(r["end_wait_s"]) for r in single]  # type: ignore[arg-type]
    fixed = [float(r["fixed_end_wait_s"]) for r in single]  # type: ignore[arg-type]
    cut = [r for r in paused if r["cut"]]
    return {
        "paused_answers": len(paused),
        "ended_inside_the_answer": len(cut),
        "rest_joined_as_continuation": sum(1 for r in cut if r["joined"]),
        "cut_off": sum(1 for r in cut if not r["joined"]),
        "cut_off_by_the_fixed_end_silence_too": sum(1 for r in cut
                                                    if not r["joined"] and r.get("fixed_cut")),
        "meaning_differs_from_whole_answer": sum(1 for r in paused
                                                 if r["meaning"] != r.get("whole")),
        "whole_answer_misheard": sum(1 for r in paused if r.get("whole") != r["want"]),
        "single_answers": len(single),
        "single_end_wait_median_s": round(statistics.median(waits), 3) if waits else None,
        "single_end_wait_median_fixed_s": round(statistics.median(fixed), 3) if fixed else None,
        "single_quick": sum(1 for w in waits if w < 0.5),
    }


def main() -> None:
    """Print the turn-taking figures as JSON."""
    ap = argparse.ArgumentParser(prog=".venv/bin/python -m voice_skill.dev.turn_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real-speech", type=Path, default=DEFAULT_REAL)
    ap.add_argument("--speakers", type=int, default=8)
    ap.add_argument("--engine", default=None)
    ap.add_argument("--rows", action="store_true", help="print every answer")
    args = ap.parse_args()
    answers = corpus(args.real_speech, args.speakers)
    result = run(Settings(), answers, args.engine)
    result["measured"] = (f"{sum(1 for a in answers if not a.pause_s)} single answers and "
                          f"{sum(1 for a in answers if a.pause_s)} with a pause, from real "
                          f"recordings in {args.real_speech} (up to {args.speakers} takes of each "
                          "word) and flite")
    if not args.rows:
        result.pop("rows")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
