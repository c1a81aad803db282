"""Train the keyword judge's number head (models/keyword_judge/number_head.npz): which of
"zero" ... "nine" one short answer is, or none, from the same embeddings as the answer head.

A pain score said in a noisy room is often heard by Whisper as nothing, "oh" or "bye"; the
judge's second opinion can then ask "Did you say seven?" (voice_skill/hearing/second_opinion.py).

Data and split as keyword_train (its docstring): the Speech Commands recordings in
tests/fixtures/real_speech, speakers with an even sha256 of their id trained on, the odd half
held out; each training recording heard six ways. The digits (8 per digit, 4 speakers per digit
in the training half) are the classes; yes, no, stop, go, other words and noise are "other".
The 8 kHz digits (three speakers) are not used: their half-split is by file, not by speaker.

The held-out report: per condition (close, its room, its room with noise at 10 and 5 dB, as
room_bench draws them), the held-out digits heard right by the head alone (argmax, and at each
threshold how many it is sure of, right and wrong), and the other held-out recordings it is
sure are a digit.

Run: python -m voice_skill.dev.number_train [--corpus DIR] [--features CACHE.npz]
       [--out models/keyword_judge/number_head.npz] [--report FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from voice_skill.dev.keyword_train import (
    LABEL_CLASS,
    REPO,
    bare_judge,
    fit,
    held_out,
    held_out_set,
    judge_with_head,
    recordings,
    speaker,
    training_set,
)
from voice_skill.models.keyword_judge import NUMBER_HEAD_FILE

NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CLASSES = (*NUMBERS, "other")
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)


def number_of(path: Path) -> str:
    """The digit a Speech Commands digit recording says: its file name's first word."""
    return path.name.split("_", 1)[0]


def target(label: str, path: Path) -> int:
    """The class of one training recording: its digit, or "other"."""
    return CLASSES.index(number_of(path)) if label == "digits" else CLASSES.index("other")


def report(head: dict[str, np.ndarray], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per condition: the held-out digits the head hears right (argmax), and at each threshold
    the digits it is sure of (right, wrong) and the other recordings it is sure are a digit."""
    judge = judge_with_head(bare_judge(), head)
    probs = judge.head(np.stack([r["x"] for r in rows]))
    out: dict[str, Any] = {}
    for r, p in zip(rows, probs, strict=True):
        best = int(np.argmax(p[: len(NUMBERS)]))
        cell = out.setdefault(r["condition"], {"digits": 0, "right": 0, "others": 0,
                                               **{f"sure {t:g}": [0, 0, 0] for t in THRESHOLDS}})
        digit = r["label"] == "digits"
        cell["digits" if digit else "others"] += 1
        if digit and int(np.argmax(p)) == NUMBERS.index(number_of(Path(r["file"]))):
            cell["right"] += 1
        for t in THRESHOLDS:
            if p[best] >= t:
                right = digit and NUMBERS[best] == number_of(Path(r["file"]))
                cell[f"sure {t:g}"][0 if right else 1 if digit else 2] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    import platformdirs

    parser = argparse.ArgumentParser(prog="python -m voice_skill.dev.number_train",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "tests" / "fixtures" / "real_speech")
    parser.add_argument("--out", type=Path,
                        default=REPO / "models" / "keyword_judge" / NUMBER_HEAD_FILE)
    parser.add_argument("--report", type=Path, default=None, help="write the held-out figures here")
    parser.add_argument("--features", type=Path, default=None,
                        help="keep the embeddings here (an .npz) and reuse them on the next run")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--l2", type=float, default=1e-3)
    args = parser.parse_args(argv)
    cache = Path(platformdirs.user_cache_dir("voice-skill")) / "rooms"
    every = recordings(args.corpus, tuple(LABEL_CLASS))
    noises = every.pop("noise")
    train = {k: [p for p in v if not held_out(p)] for k, v in every.items()}
    train["noise"] = [n for n in noises if not held_out(n)]
    test = {k: [p for p in v if held_out(p)] for k, v in every.items()}
    test["noise"] = [n for n in noises if held_out(n)]
    started = time.perf_counter()
    if args.features and args.features.exists():
        with np.load(args.features, allow_pickle=False) as f:
            x, y, who, tx = f["x"], f["y"], list(f["who"]), f["tx"]
            tmeta = json.loads(str(f["tmeta"]))
    else:
        judge = bare_judge()
        x_parts, y_parts, who = [], [], []
        for label, paths in train.items():
            xi, yi, wi = training_set(judge, {label: paths}, train["noise"], cache, target)
            x_parts.append(xi)
            y_parts.append(yi)
            who += wi
            print(f"number_train: {label}: {len(paths)} recordings, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        x, y = np.concatenate(x_parts), np.concatenate(y_parts)
        rows = held_out_set(judge, test, test["noise"], cache)
        tx = np.stack([r["x"] for r in rows])
        tmeta = [{k: r[k] for k in ("label", "file", "condition")} for r in rows]
        if args.features:
            np.savez(args.features, x=x, y=y, who=np.array(who), tx=tx,
                     tmeta=np.array(json.dumps(tmeta)))
    head = fit(x, y, hidden=args.hidden, l2=args.l2, classes=CLASSES)
    figures = report(head, [m | {"x": tx[i]} for i, m in enumerate(tmeta)])
    result = {"trained_on": {k: len(v) for k, v in train.items()}
              | {"digit speakers": len({speaker(p) for p in train["digits"]}),
                 "speakers": len(set(who))},
              "held_out": figures}
    print(json.dumps(result, indent=1), file=sys.stderr)
    buf = io.BytesIO()
    np.savez_compressed(buf, **cast("dict[str, Any]", head))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buf.getvalue())
    if args.report:
        args.report.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
