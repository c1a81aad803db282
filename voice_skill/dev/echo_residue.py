"""What each echo canceller leaves of the skill's own voice, through the live rig.

The skill speaks the first sentences of the dialogue (its real speaker, pyttsx3 -> espeak-ng)
with nobody talking, on a private PulseAudio (tests/pulse_rig.py, so run it from a source
checkout) whose speaker is looped into its microphone at full level. What the microphone
path hands on (the same `EchoCancelledSource` the skill listens through, before its gate) is
compared, 30 ms frame by frame, with the raw echo at the microphone, recorded beside it and
aligned on a tone played into the microphone first. Printed: the residue in dB under the raw
echo over the frames where the echo sounds, the median and the worst tenth (90th percentile
of what is left, i.e. the least cancelled frames), for

- skill: the skill's own Speex canceller, timed by when the speech worker says playback began;
- server: PulseAudio's module-echo-cancel (webrtc) as `PulseRig.cancel_echo_in_server` loads it.

Run: .venv/bin/python -m voice_skill.dev.echo_residue [--sentences 8] [--mode skill|server|both]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dev.turn_live import block_levels, pulse_rig_module
from voice_skill.hearing.audio import PIPELINE_RATE_HZ

FRAME = PIPELINE_RATE_HZ * 30 // 1000
MARK_HZ, MARK_S = 700.0, 0.1
"""the tone that aligns the two recordings: played into the microphone before the skill talks"""
ECHO_RANGE_DB = 35.0
"""frames with echo within this of the loudest are counted"""


def sentences(n: int) -> list[str]:
    """The first n sentences the dialogue says (its own words, as a session hears them)."""
    import yaml

    from voice_skill.dialogue.dialog import bundled_dialog_path

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "say":
                    found.extend(re.sub(r"\{\w+\},? ?", "", v)  # a setting's words: left out
                                 for v in ([value] if isinstance(value, str) else value)
                                 if isinstance(v, str) and len(v) > 30)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(bundled_dialog_path().read_text(encoding="utf-8")))
    return found[:n]


def measure(mode: str, n: int) -> dict[str, Any]:
    """Speak n sentences through the rig with `mode`'s canceller; the residue figures."""
    from voice_skill.dev.fixtures import write_wav
    from voice_skill.hearing.audio import MicrophoneSource
    from voice_skill.hearing.echo import cancel_echo
    from voice_skill.settings import Settings
    from voice_skill.speaking.tts import Pyttsx3Speaker

    mod = pulse_rig_module()
    with tempfile.TemporaryDirectory() as tmp:
        rig = mod.PulseRig(Path(tmp) / "pulse")
        rig.start()
        try:
            rig.echo_speaker_into_mic("100%")
            if mode == "server":
                rig.cancel_echo_in_server()
            # as the skill listens over its speech (the speaker then keeps one output stream)
            settings = Settings(echo_cancel=mode, safety_words_over_speech=True)  # type: ignore[arg-type]
            speaker = Pyttsx3Speaker(settings)
            mic = MicrophoneSource(settings)
            source = cancel_echo(mic, speaker, quiet_person=True, server=mode == "server")
            raw = mod.SpeakerRecorder(rig.env, f"{mod.MIC_SINK}.monitor")
            raw.flowing.wait(10)
            out: list[np.ndarray] = []
            done = threading.Event()

            def pump() -> None:
                while not done.is_set():
                    frame = source.read(0.5)
                    if frame is not None:  # what came in, before the gate
                        at = source.read_samples - len(frame)
                        kept = source.cancelled_audio(at, at + len(frame))
                        out.append(frame if kept is None else kept)

            thread = threading.Thread(target=pump, daemon=True)
            thread.start()
            time.sleep(1.0)
            t = np.arange(round(MARK_S * PIPELINE_RATE_HZ)) / PIPELINE_RATE_HZ
            mark = Path(tmp) / "mark.wav"
            write_wav(mark, (8000 * np.sin(2 * np.pi * MARK_HZ * t) * np.hanning(len(t)))
                      .astype(np.int16))
            rig.play_into_mic(mark).wait(10)
            time.sleep(1.0)
            for text in sentences(n):
                speaker.say(text)
                time.sleep(0.5)
            time.sleep(1.0)
            done.set()
            thread.join(5)
            raw_audio = raw.stop()
            speaker.close()
            source.close()
        finally:
            rig.stop()
    return residue(raw_audio, np.concatenate(out)) | {"mode": mode, "sentences": n}


def _mark_at(audio: np.ndarray) -> int:
    """Where the alignment tone starts: its first loud 10 ms, refined to the sample."""
    loud = np.flatnonzero(block_levels(audio) > 300)
    if not len(loud):
        raise SystemExit("the alignment tone was not heard")
    return int(loud[0]) * (PIPELINE_RATE_HZ // 100)


def residue(raw: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    """Residue per 30 ms frame in dB under the raw echo, the two aligned on the tone."""
    a, b = _mark_at(raw), _mark_at(out)
    span = round(MARK_S * PIPELINE_RATE_HZ)
    ref = raw[a - span: a + 2 * span].astype(np.float64)
    shift = max(range(-span, span + 1), key=lambda d: float(
        np.dot(ref, out[b - span + d: b + 2 * span + d].astype(np.float64))))
    skip = 2 * span  # past the tone
    x, y = raw[a + skip:].astype(np.float64), out[b + shift + skip:].astype(np.float64)
    n = min(len(x), len(y)) // FRAME
    ex = np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)
    ey = np.mean(y[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)
    echo = ex > max(float(ex.max()) * 10 ** (-ECHO_RANGE_DB / 10), 60.0 ** 2)
    under = -10 * np.log10(np.maximum(ey[echo], 1.0) / ex[echo])
    return {"echo_frames": int(echo.sum()),
            "residue_median_db_under_echo": round(float(np.median(under)), 1),
            "residue_worst_tenth_db_under_echo": round(float(np.percentile(under, 10)), 1),
            "residue_worst_hundredth_db_under_echo": round(float(np.percentile(under, 1)), 1)}


def main() -> None:
    """Print the residue figures as JSON, one object per canceller."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=8)
    ap.add_argument("--mode", choices=("skill", "server", "both"), default="both")
    args = ap.parse_args()
    modes = ("skill", "server") if args.mode == "both" else (args.mode,)
    print(json.dumps([measure(m, args.sentences) for m in modes], indent=1))


if __name__ == "__main__":
    main()
