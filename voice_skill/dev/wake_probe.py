"""What the waiting path hears, stretch by stretch, so rules can be tried without decoding again:
`python -m voice_skill.dev.wake_probe --words DIR --every 3 --out FILE.jsonl [--front-end G,NS[,d]]`.

Each real wake-word take (set as the only start phrase, as wake_real does) in each condition,
and the real non-phrase sound and the talk of wake_real (the dialogue's start phrases), cut into
stretches by `serve`'s endpointing; for every stretch: the free decode (text, confidence,
no-speech probability), the decode held to the phrases (text, mean log-probability) and the
second decode `serve` would take (recognize with the phrases). One JSON line per stretch.
A development tool: the product never imports it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dev.wake_real import CONDITIONS, WORDS, talk_stream
from voice_skill.dev.wake_recordings import NOISE_DIR, as_heard
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.front.serve import WakePhrases
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, WavSource, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.front_end import cleaned
from voice_skill.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def stretches(audio: np.ndarray, settings: Settings) -> list[np.ndarray]:
    """The stretches of speech `serve`'s endpointing cuts from the sound (with the front end the
    settings ask for)."""
    source = WavSource(np.concatenate([audio, silence(settings.end_silence_s + 0.3)]), settings)
    listened = cleaned(source, settings)
    endpointer = Endpointer(settings)
    out = []
    while source.position_s < source.duration_s:
        segment = endpointer.listen(listened, math.inf)
        if segment is None:
            break
        out.append(segment.audio)
    return out


MATCHER: list[IntentMatcher] = []


def probe(audio: np.ndarray, recognizer: Any, phrases: WakePhrases,
          near: float = 0.0) -> dict[str, Any]:
    """Everything the waiting path could decide one stretch on (`near`: the held decodes only
    for free text at least this near a start phrase, to save time)."""
    u = recognizer.recognize(audio, None, phrases.hint)
    free, conf, no_speech = u.text, u.confidence, float(getattr(recognizer, "_no_speech", 0.0))
    held, logprob = "", 0.0
    if near and not phrases.nearness(list(MATCHER[0].tokens(free))) >= near:
        return {"s": round(len(audio) / PIPELINE_RATE_HZ, 2), "free": free,
                "conf": round(conf, 3), "no_speech": round(no_speech, 3), "held": "",
                "held_lp": 0.0, "second": free, "second_conf": round(conf, 3)}
    if hasattr(recognizer, "_held"):
        held, logprob = recognizer._held(recognizer._features(audio),
                                         recognizer._prompt(phrases.hint), phrases.texts)
    second = recognizer.recognize(audio, phrases.texts, phrases.hint)
    return {"s": round(len(audio) / PIPELINE_RATE_HZ, 2), "free": free, "conf": round(conf, 3),
            "no_speech": round(no_speech, 3), "held": held, "held_lp": round(logprob, 3),
            "second": second.text, "second_conf": round(second.confidence, 3)}


def main(argv: list[str] | None = None) -> int:
    from voice_skill.dev.wake_bench import negative_stream
    from voice_skill.hearing.recognizers import recognizer_for

    parser = argparse.ArgumentParser(prog="python -m voice_skill.dev.wake_probe")
    parser.add_argument("--words", type=Path, required=True)
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--conditions", default="close,room,room + 10 dB")
    parser.add_argument("--negatives", action="store_true", help="the real sound and the talk too")
    parser.add_argument("--no-positives", action="store_true")
    parser.add_argument("--talk-only", action="store_true")
    parser.add_argument("--cheap-near", type=float, default=0.0,
                        help="negatives: held decodes only for free text this near a phrase")
    parser.add_argument("--front-end", default="", help="GAIN,NS[,d]: d = detector only")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    base = Settings(log_enabled=False, dialog_path=REPO / "dialogs" / "back_spasm.yaml")
    if args.front_end:
        parts = args.front_end.split(",")
        base = base.replace(front_end_gain_dbfs=int(parts[0]),
                            front_end_noise_suppression=int(parts[1]),
                            front_end_detector_only=len(parts) > 2)
    dialog = load_dialog(base.dialog_path)
    matcher = IntentMatcher(dialog)
    MATCHER.append(matcher)
    recognizer = recognizer_for(base, "whisper")
    noises = sorted(NOISE_DIR.glob("*.wav"))
    import platformdirs
    cache = Path(platformdirs.user_cache_dir("voice-skill"))
    conds = [c.strip() for c in args.conditions.split(",") if c.strip()]
    cpu0 = time.process_time()
    with args.out.open("w", encoding="utf-8") as out:
        def write(row: dict[str, Any]) -> None:
            out.write(json.dumps(row) + "\n")
            out.flush()

        if not args.no_positives:
            for word in WORDS:
                settings = base.replace(start_phrases=(word,))
                phrases = WakePhrases.of(dialog, settings)
                files = sorted((args.words / word).glob("*.wav"))[args.offset::args.every]
                for cond in conds:
                    room, snr = CONDITIONS[cond]
                    for f in files:
                        audio = as_heard(f, room, snr, noises, cache / "rooms")
                        for k, seg in enumerate(stretches(audio, settings)):
                            write({"set": "pos", "word": word, "cond": cond, "file": f.name,
                                   "k": k, **probe(seg, recognizer, phrases)})
                    print(f"wake_probe: {word} {cond} done, cpu {time.process_time() - cpu0:.0f}"
                          " s", file=sys.stderr, flush=True)
        if args.negatives:
            phrases = WakePhrases.of(dialog, base)
            real, _ = negative_stream()
            streams = [("real", real), ("talk", talk_stream(30.0, cache))]
            for name, audio in streams[1:] if args.talk_only else streams:
                c0 = time.process_time()
                for k, seg in enumerate(stretches(audio, base)):
                    write({"set": name, "k": k, **probe(seg, recognizer, phrases, args.cheap_near)})
                write({"set": name + "-total", "hours": len(audio) / PIPELINE_RATE_HZ / 3600,
                       "cpu_s": time.process_time() - c0})
                print(f"wake_probe: {name} done, cpu {time.process_time() - cpu0:.0f} s",
                      file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
