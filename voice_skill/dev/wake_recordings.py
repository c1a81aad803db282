"""The waiting speaker measured on anyone's recordings: `voice-skill bench --wake --phrase P
--positives DIR [--negatives DIR] [--room] [--snr DB] --json`.

Each positive (a WAV of someone saying the phrase) is heard through the path `voice-skill
serve` waits with (`serve.wait_for_wake`'s endpointing and `serve.wake_of`), with the phrase set
as the only start phrase: it is caught when it starts a session. The negatives (sound that is
not the phrase) are strung together with quiet between them, as wake_bench does, and every
session they start is a false start. --room plays each recording 1-3 m from the microphone in a
simulated room (room_sim, seeded by its file name); --snr adds real household noise (the repo's
tests/fixtures/real_speech/noise) at that ratio under the speech, in the room or close up.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dev import room_sim
from voice_skill.dev.real_speech import CORPUS, mix
from voice_skill.dev.wake_bench import GAP_S, detections
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import VoiceSkillError
from voice_skill.front.serve import WakePhrases
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, read_wav
from voice_skill.hearing.wake_word import WakeWordDetector
from voice_skill.models.wake_words import load_wake_word
from voice_skill.settings import Settings

NOISE_DIR = CORPUS / "noise"
"""real household noise (dishes, a tap, a bike, white and pink noise)"""


def wavs(folder: Path) -> list[Path]:
    """The WAV files in a folder and its subfolders, sorted; an error if there are none."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".wav")
    if not files:
        raise VoiceSkillError(f"{folder}: no .wav files")
    return files


def condition_name(room: bool, snr_db: float | None) -> str:
    """"close", "room", "close + 10 dB", "room + 5 dB"."""
    return ("room" if room else "close") + ("" if snr_db is None else f" + {snr_db:g} dB")


def as_heard(path: Path, room: bool, snr_db: float | None, noises: list[Path],
             cache: Path | None) -> np.ndarray:
    """One recording as the waiting speaker's microphone hears it in the condition (int16).

    The same name always gives the same room and noise. Close up with noise, the noise plays
    from room_sim's lead-in before the words to its trail after them, as it does in a room."""
    speech = read_wav(path)
    seed = f"wake/{path.parent.name}/{path.name}"
    if room:
        place = room_sim.draw_room(seed)
        talker_rir, noise_rir = room_sim.cached_responses(place, cache)
        noise = (read_wav(noises[int(place.noise_pick * len(noises))])
                 if snr_db is not None else None)
        return room_sim.in_room(speech, talker_rir, noise, noise_rir, snr_db)
    if snr_db is None:
        return speech
    pad = np.zeros(round(room_sim.LEAD_S * PIPELINE_RATE_HZ), np.int16)
    tail = np.zeros(round(room_sim.TRAIL_S * PIPELINE_RATE_HZ), np.int16)
    padded = np.concatenate([pad, speech, tail])
    pick = room_sim.rng_for(seed).uniform()
    return mix(padded, read_wav(noises[int(pick * len(noises))]), snr_db, seed)


class WaitingPath:
    """`voice-skill serve`'s waiting path with one start phrase (and a trained wake word beside
    it, as the `wake_word` setting puts one), and what it costs."""

    def __init__(self, settings: Settings, phrase: str | None, engine: str,
                 wake_word: str = "") -> None:
        """`phrase` None: the dialogue's own start phrases ("first aid", ...). `wake_word`:
        a model of models/wake_words/ ("alexa"), whose phrase Whisper also takes, as in serve."""
        from voice_skill.hearing.recognizers import recognizer_for

        self.settings = settings.replace(log_enabled=False, wake_word=wake_word, **(
            {"start_phrases": (phrase,)} if phrase else {}))
        dialog = load_dialog(self.settings.dialog_path)
        self.matcher = IntentMatcher(dialog)
        self.detector = (WakeWordDetector(load_wake_word(
            wake_word, cutoff=self.settings.wake_word_cutoff)) if wake_word else None)
        word = self.detector.phrase if self.detector is not None else ""
        self.phrases = WakePhrases.of(dialog, self.settings, word)
        self.recognizer = recognizer_for(self.settings, engine)
        self.cpu_s = 0.0
        self.audio_s = 0.0
        self.word_cpu_s = 0.0

    def heard(self, audio: np.ndarray) -> list[dict[str, Any]]:
        """Every start or call for help the waiting speaker takes from this sound."""
        cpu = time.process_time()
        found, _, _ = detections(audio, self.settings, self.recognizer, self.phrases,
                                 self.matcher, self.detector)
        self.cpu_s += time.process_time() - cpu
        self.audio_s += len(audio) / PIPELINE_RATE_HZ
        return [{"kind": h.kind, "text": h.text, "confidence": h.confidence, "by": h.by,
                 "sure": h.sure} for h in found]

    def word_alone(self, audio: np.ndarray) -> int:
        """How many times the trained wake word alone (no Whisper) fires on this sound, heard
        afresh; after each it listens on at once."""
        if self.detector is None:
            return 0
        cpu = time.process_time()
        self.detector.reset()
        fired = 0
        for i in range(0, len(audio), 480):
            fired += self.detector.hear(audio[i: i + 480]) is not None
        self.word_cpu_s += time.process_time() - cpu
        return fired


def measure_positives(path: WaitingPath, files: Iterable[Path], room: bool,
                      snr_db: float | None, noises: list[Path],
                      cache: Path | None) -> dict[str, Any]:
    """Each positive heard alone: caught when it starts a session (a start phrase heard)."""
    rows: list[dict[str, Any]] = []
    for f in files:
        audio = as_heard(f, room, snr_db, noises, cache)
        got = path.heard(audio)
        rows.append({"file": f"{f.parent.name}/{f.name}",
                     "caught": any(h["kind"] == "start" for h in got),
                     "emergency": any(h["kind"] == "emergency" for h in got),
                     "word": path.word_alone(audio) > 0,
                     "heard": [h["text"] for h in got]})
    n = len(rows)
    caught = sum(bool(r["caught"]) for r in rows)
    out: dict[str, Any] = {"positives": n, "caught": caught,
                           "caught_pct": round(100 * caught / n, 1) if n else None,
                           "emergencies": sum(bool(r["emergency"]) for r in rows),
                           "missed": [r for r in rows if not r["caught"]]}
    if path.detector is not None:
        word = sum(bool(r["word"]) for r in rows)
        out |= {"wake_word": path.settings.wake_word, "word_alone_caught": word,
                "word_alone_pct": round(100 * word / n, 1) if n else None}
    return out


def measure_negatives(path: WaitingPath, files: list[Path], room: bool,
                      snr_db: float | None, noises: list[Path],
                      cache: Path | None) -> dict[str, Any]:
    """The negatives one after another with quiet between: every session they start is false."""
    gap = np.zeros(round(GAP_S * PIPELINE_RATE_HZ), np.int16)
    stream = np.concatenate([x for f in files
                             for x in (as_heard(f, room, snr_db, noises, cache), gap)])
    hours = len(stream) / PIPELINE_RATE_HZ / 3600
    cpu_before = path.cpu_s
    got = path.heard(stream)
    starts = [h["text"] for h in got if h["kind"] == "start"]
    helps = [h["text"] for h in got if h["kind"] == "emergency" and h["sure"]]
    asked = [h["text"] for h in got if h["kind"] == "emergency" and not h["sure"]]
    word = {"word_alone_false": path.word_alone(stream)} if path.detector is not None else {}
    return {"negatives": len(files), "negative_hours": round(hours, 3), **word,
            "false_starts": len(starts), "false_starts_per_hour": round(len(starts) / hours, 2),
            "false_emergencies": len(helps),
            "false_emergencies_per_hour": round(len(helps) / hours, 2),
            "calls_asked_about": len(asked),
            "false_heard": starts + helps + asked,
            "cpu_pct_one_core": round(100 * (path.cpu_s - cpu_before) / (hours * 3600), 1)}


def run(phrase: str | None, positives: Path, negatives: Path | None = None, room: bool = False,
        snr_db: float | None = None, engine: str = "whisper",
        settings: Settings | None = None, cache: Path | None = None,
        noise_dir: Path = NOISE_DIR, wake_word: str = "") -> dict[str, Any]:
    """The whole measurement, as one JSON-ready dict."""
    noises = sorted(noise_dir.glob("*.wav")) if snr_db is not None else []
    if snr_db is not None and not noises:
        raise VoiceSkillError(f"--snr needs the real noise recordings in {noise_dir} "
                              "(a repository checkout)")
    started = time.perf_counter()
    path = WaitingPath(settings or Settings(log_enabled=False), phrase, engine, wake_word)
    out: dict[str, Any] = {"phrase": phrase, "condition": condition_name(room, snr_db),
                           "room": room, "snr_db": snr_db, "engine": path.recognizer.name,
                           "positives_dir": str(positives)}
    out |= measure_positives(path, wavs(positives), room, snr_db, noises, cache)
    if negatives is not None:
        out["negatives_dir"] = str(negatives)
        out |= measure_negatives(path, wavs(negatives), room, snr_db, noises, cache)
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def wake_command(args: argparse.Namespace, settings: Settings) -> int:
    """`voice-skill bench --wake`: print one JSON object (or a short summary without --json)."""
    import platformdirs

    if not (args.phrase or args.wake_word) or args.positives is None:
        raise VoiceSkillError("bench --wake needs --phrase or --wake-word, and --positives DIR")
    cache = Path(platformdirs.user_cache_dir("voice-skill")) / "rooms" if args.room else None
    engine = args.engine if args.engine not in (None, "auto") else "whisper"
    result = run(args.phrase, args.positives, args.negatives, args.room, args.snr, engine,
                 settings, cache, wake_word=args.wake_word or "")
    if args.json:
        print(json.dumps(result))
    else:
        what = " + ".join(x for x in (args.wake_word, args.phrase) if x)
        print(f"{result['condition']}: {result['caught']} of {result['positives']} "
              f"\"{what}\" caught ({result['caught_pct']} %)"
              + (f", the wake word alone {result['word_alone_pct']} %" if "word_alone_pct"
                 in result else "")
              + (f"; {result['false_starts_per_hour']} false starts an hour over "
                 f"{result['negative_hours'] * 60:.0f} minutes" if "false_starts" in result
                 else ""))
    return 0
