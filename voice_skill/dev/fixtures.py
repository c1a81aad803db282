"""Recorded-audio fixtures: synthesize every phrase the dialogue accepts, or record your voice."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import NO_MATCH, IntentMatcher
from voice_skill.errors import AudioError, SpeechOutputError, VoiceSkillError
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, AudioSource, read_wav
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.settings import Settings

DEFAULT_OUT = Path("tests/fixtures/audio")
"""where the committed corpus lives, relative to the repository root"""
MANIFEST = "manifest.json"
"""file -> text, intent, value, voice, snr_db, noise; one per corpus folder"""

VOICES: dict[str, tuple[str, ...]] = {
    # {text} and {out} are filled in; the text is one argv item, never parsed by a shell.
    "slt": ("flite", "-voice", "slt", "-t", "{text}", "-o", "{out}"),
    "awb": ("flite", "-voice", "awb", "-t", "{text}", "-o", "{out}"),
    "kal16": ("flite", "-voice", "kal16", "-t", "{text}", "-o", "{out}"),
    "rms": ("flite", "-voice", "rms", "-t", "{text}", "-o", "{out}"),
    "espeak-ng": ("espeak-ng", "-v", "en-us", "-s", "150", "-w", "{out}", "{text}"),
}
"""synthesizer command per voice name"""
DEFAULT_VOICES = ("slt", "awb", "kal16", "espeak-ng")
"""the committed corpus: three flite voices PocketSphinx knows well, and espeak-ng as a hard set"""
DEFAULT_NOISY_VOICES = ("slt", "kal16")
"""voices of the committed corpus that also get noisy copies: a female and a male voice the
recognizer knows well, so the noisy sets measure noise, not the voice (and keep the corpus small)"""
DEFAULT_SNRS_DB: tuple[float | None, ...] = (None, 20, 10)
"""None is the clean copy; the numbers are noisy copies at that signal-to-noise ratio (dB)"""
DEFAULT_SEED = 20240611
"""noise seed of the committed corpus"""

PAD_S = 0.25
"""digital silence before and after the speech (seconds)"""
PEAK = 0.5
"""clean speech is scaled to this peak (-6 dBFS), so noise at 10 dB SNR never clips"""
TRIM_FLOOR_DB = -40.0
"""synthesizer silence is trimmed where 10 ms windows are this far below the loudest one"""
TRIM_MARGIN_S = 0.03
"""kept around the trimmed speech, so a soft first or last consonant is not clipped"""
NOISE_CORNER_HZ = 100.0
"""pink and brown noise are shaped above this frequency, flat below it"""

NO_MATCH_SENTENCES = (
    "the weather is nice today",
    "i had toast for breakfast",
    "my brother bought a green bicycle",
    "turn on the kitchen light",
)
"""out-of-grammar sentences: the recognizer and matcher must not make an answer of them"""
PAIN_SENTENCES = (
    ("it's about a seven", 7),
    ("seven out of ten", 7),
    ("maybe a four", 4),
    ("about a two", 2),
    ("i would say eight", 8),
    ("it's a ten", 10),
    ("around five", 5),
)
"""pain scores said as people say them, besides the eleven bare numbers"""

_SPEAKER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class Phrase:
    """One thing to say: its words, what it means, and the file name it gets."""

    text: str
    intent: str
    value: int | None
    """the pain score for `pain`, else None"""
    slug: str
    """file stem: the words joined by "_", apostrophes dropped ("no_i_havent")"""


def slugify(text: str) -> str:
    """File stem for a phrase: lower-case words joined by "_", apostrophes dropped."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("’", ""))
    return "_".join(words)


def _phrase(text: str, intent: str, value: int | None = None) -> Phrase:
    return Phrase(text=text, intent=intent, value=value, slug=slugify(text))


def corpus_phrases(dialog: Dialog) -> list[Phrase]:
    """Every phrase of every intent in its written and spoken forms, pain scores, and no-matches.

    The spoken forms ("no i haven't") are the ones the recognizer's grammar adds
    (`IntentMatcher.grammar`), so the corpus covers exactly what a state may hear.
    """
    matcher = IntentMatcher(dialog)
    # Spoken variants of each written phrase, as the grammar of any state lists them.
    variants: dict[tuple[str, ...], list[str]] = {}
    for state in dialog.states:
        for text in matcher.grammar(state):
            forms = variants.setdefault(tuple(matcher.tokens(text)), [])
            if text not in forms:
                forms.append(text)
    out: list[Phrase] = []
    for intent, phrases in dialog.intents.items():
        for written in phrases:
            forms = variants.get(tuple(matcher.tokens(written)), [written])
            out.extend(_phrase(f, intent) for f in ([written] + [f for f in forms if f != written]))
    lang = dialog.language
    out.extend(_phrase(word, "pain", n) for n, word in enumerate(lang.numbers))
    out.extend(_phrase(text, "pain", n) for text, n in PAIN_SENTENCES)
    out.extend(_phrase(text, "pain", int(n)) for text, n in lang.number_words.items())
    out.extend(_phrase(text, NO_MATCH) for text in NO_MATCH_SENTENCES)
    # First owner wins: "none" is both a `no` phrase and a pain word for 0.
    unique: dict[str, Phrase] = {}
    for p in out:
        if p.slug and p.slug not in unique:
            unique[p.slug] = p
    return list(unique.values())


# --------------------------------------------------------------------------- synthesis


def synthesize(text: str, voice: str) -> np.ndarray:
    """Speak `text` with a named voice; 16 kHz mono int16, as the synthesizer made it."""
    if voice not in VOICES:
        raise VoiceSkillError(f"unknown voice {voice!r}; choose from {', '.join(VOICES)}")
    template = VOICES[voice]
    program = template[0]
    if shutil.which(program) is None:
        raise SpeechOutputError(
            f"{program} is not installed (needed for voice {voice!r}); "
            f"install the Debian package {program}"
        )
    with tempfile.TemporaryDirectory(prefix="voice-skill-fixture-") as tmp:
        out = Path(tmp) / "speech.wav"
        argv = [a.format(text=text, out=out) for a in template]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SpeechOutputError(f"{program} hung speaking {text!r} ({voice})") from exc
        if done.returncode != 0 or not out.exists():
            raise SpeechOutputError(
                f"{program} failed speaking {text!r} ({voice}), exit {done.returncode}: "
                f"{done.stderr.strip()[:300]}"
            )
        return read_wav(out)


def clean_take(speech: np.ndarray) -> np.ndarray:
    """Trim the synthesizer's own silence, scale to a -6 dBFS peak, pad with digital silence."""
    x = speech.astype(np.float64) / 32768.0
    win = PIPELINE_RATE_HZ // 100
    n = len(x) // win
    if n == 0 or not np.any(x):
        raise AudioError("synthesizer produced no audible speech")
    rms = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1))
    loud = np.nonzero(rms >= rms.max() * 10 ** (TRIM_FLOOR_DB / 20))[0]
    margin = round(TRIM_MARGIN_S * PIPELINE_RATE_HZ)
    start = max(0, loud[0] * win - margin)
    end = min(len(x), (loud[-1] + 1) * win + margin)
    x = x[start:end]
    x = x * (PEAK / np.abs(x).max())
    pad = np.zeros(round(PAD_S * PIPELINE_RATE_HZ))
    return _to_int16(np.concatenate([pad, x, pad]))


def speech_span(clean: np.ndarray) -> slice:
    """The speech part of a clean take: first to last non-zero sample (the padding is zeros)."""
    nz = np.flatnonzero(clean)
    if nz.size == 0:
        return slice(0, 0)
    return slice(int(nz[0]), int(nz[-1]) + 1)


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Signal-to-noise ratio of `noisy` over the speech part of `clean` (dB)."""
    span = speech_span(clean)
    s = clean[span].astype(np.float64)
    y = noisy[span].astype(np.float64)
    # Least-squares gain, so a copy scaled to avoid clipping still measures right.
    gain = float(np.dot(y, s) / np.dot(s, s))
    noise = y - gain * s
    return float(10 * np.log10(np.mean((gain * s) ** 2) / np.mean(noise**2)))


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS coloured noise: "pink" (1/f, like a fan) or "brown" (1/f², like traffic)."""
    white = rng.standard_normal(n + 1024)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(len(white), 1 / PIPELINE_RATE_HZ)
    # Flat below the corner, and nothing below 30 Hz (no microphone hears that): else the
    # rumble would carry most of the power and the ratio would say little about speech.
    f = np.maximum(freqs, NOISE_CORNER_HZ)
    shaped = np.where(freqs < 30.0, 0.0, spectrum / (np.sqrt(f) if kind == "pink" else f))
    out: np.ndarray = np.fft.irfft(shaped, len(white))[512 : 512 + n]
    return out / float(np.sqrt(np.mean(out**2)))


def add_noise(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A copy of a clean take with pink or brown noise at `snr_db` over its speech part."""
    kind = "pink" if rng.random() < 0.5 else "brown"
    x = clean.astype(np.float64) / 32768.0
    span = speech_span(clean)
    speech_power = np.mean(x[span] ** 2)
    nz = noise(kind, len(x), rng)
    nz *= np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(nz[span] ** 2))
    mixed = x + nz
    peak = np.abs(mixed).max()
    if peak > 0.99:
        mixed *= 0.99 / peak  # scaling both keeps the ratio
    return _to_int16(mixed), kind


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def _rng(seed: int, voice: str, slug: str, snr_db: float) -> np.random.Generator:
    """A generator per file: the noise of one file never depends on which others were made."""
    digest = hashlib.sha256(f"{seed}|{voice}|{slug}|{snr_db:g}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def write_wav(path: Path, audio: np.ndarray) -> None:
    """Write 16 kHz mono int16 as a plain RIFF/WAVE file (no dates or tags inside)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(PIPELINE_RATE_HZ)
        w.writeframes(np.asarray(audio, dtype="<i2").tobytes())


def snr_folder(snr_db: float | None) -> str:
    """Folder name of a copy: "clean", or "snr20" for 20 dB."""
    return "clean" if snr_db is None else f"snr{snr_db:g}"


@dataclass(frozen=True)
class GenerateReport:
    """What `generate` wrote."""

    files: int
    phrases: int
    voices: tuple[str, ...]
    bytes: int
    seconds: float
    """wall time (seconds)"""


def generate(
    out_dir: Path,
    voices: Sequence[str] = DEFAULT_VOICES,
    snrs_db: Sequence[float | None] = DEFAULT_SNRS_DB,
    seed: int = DEFAULT_SEED,
    phrases: Sequence[Phrase] | None = None,
    dialog: Dialog | None = None,
    noisy_voices: Sequence[str] | None = DEFAULT_NOISY_VOICES,
    jobs: int = 2,
) -> GenerateReport:
    """Synthesize every phrase with each voice, with clean and noisy copies, and the manifest.

    The noisy copies (`snrs_db` other than None) are made for the voices in `noisy_voices`
    only (None: for every voice); the defaults make the committed corpus.
    `phrases` None means the whole corpus of `dialog` (the bundled one if None); then each
    voice's folders are made anew, so a phrase dropped from the dialogue loses its files.
    The same inputs give the same bytes.
    """
    began = time.perf_counter()
    out_dir = Path(out_dir)
    full = phrases is None
    todo = list(phrases) if phrases is not None else corpus_phrases(dialog or load_dialog())
    for voice in voices:
        if voice not in VOICES:
            raise VoiceSkillError(f"unknown voice {voice!r}; choose from {', '.join(VOICES)}")
    entries: dict[str, dict[str, Any]] = {}

    def one(voice: str, p: Phrase) -> dict[str, dict[str, Any]]:
        clean = clean_take(synthesize(p.text, voice))
        made: dict[str, dict[str, Any]] = {}
        for snr in snrs_db:
            if snr is not None and noisy_voices is not None and voice not in noisy_voices:
                continue
            audio, kind = (
                (clean, None)
                if snr is None
                else add_noise(clean, snr, _rng(seed, voice, p.slug, snr))
            )
            rel = f"{voice}/{snr_folder(snr)}/{p.slug}.wav"
            write_wav(out_dir / rel, audio)
            made[rel] = _entry(p, voice, snr, kind)
        return made

    for voice in voices:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for made in pool.map(lambda p, v=voice: one(v, p), todo):
                entries.update(made)
        if full:
            # A phrase dropped from the dialogue (or a noisy copy no longer wanted) goes too;
            # only WAVs in this voice's folder, nothing else the folder may hold.
            for wav in sorted((out_dir / voice).rglob("*.wav")):
                if wav.relative_to(out_dir).as_posix() not in entries:
                    wav.unlink()
    update_manifest(out_dir, entries, drop_voices=voices if full else ())
    size = sum((out_dir / rel).stat().st_size for rel in entries)
    return GenerateReport(
        files=len(entries),
        phrases=len(todo),
        voices=tuple(voices),
        bytes=size,
        seconds=time.perf_counter() - began,
    )


def _entry(p: Phrase, voice: str, snr_db: float | None, noise_kind: str | None) -> dict[str, Any]:
    return {
        "text": p.text,
        "intent": p.intent,
        "value": p.value,
        "voice": voice,
        "snr_db": snr_db,
        "noise": noise_kind,
    }


def read_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries (file relative to `out_dir` -> details); empty if there is none."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files: dict[str, dict[str, Any]] = data["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise VoiceSkillError(f"{path}: not a fixtures manifest ({exc})") from exc
    return files


def update_manifest(
    out_dir: Path, entries: dict[str, dict[str, Any]], drop_voices: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """Merge entries into the manifest (sorted, so it diffs well); drop voices made anew."""
    dropped = set(drop_voices)
    files = {
        rel: e
        for rel, e in read_manifest(out_dir).items()
        if e.get("voice") not in dropped and (Path(out_dir) / rel).exists()
    }
    files.update(entries)
    doc = {
        "sample_rate_hz": PIPELINE_RATE_HZ,
        "format": "mono, 16-bit PCM",
        "files": dict(sorted(files.items())),
    }
    path = Path(out_dir) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return files


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordReport:
    """What `record` saved and what it skipped."""

    saved: tuple[Path, ...]
    skipped: tuple[Phrase, ...]


def record(
    out_dir: Path,
    speaker_name: str,
    phrases: Sequence[Phrase],
    source: AudioSource,
    endpointer: Endpointer | None = None,
    say: Callable[[str], None] = print,
    no_input_timeout_s: float = 8.0,
) -> RecordReport:
    """Prompt for each phrase, record one utterance, save it as `<speaker>/clean/<slug>.wav`.

    Nothing heard: ask once more, then skip the phrase. The manifest is updated even if
    the session is interrupted, with what was saved so far.
    """
    if not _SPEAKER_NAME.fullmatch(speaker_name):
        raise VoiceSkillError(
            f"speaker name {speaker_name!r}: use lower-case letters, digits, - and _ (max 40)"
        )
    if speaker_name in VOICES:
        raise VoiceSkillError(f"speaker name {speaker_name!r} is a synthesizer voice's folder")
    endpointer = endpointer or Endpointer(Settings())
    out_dir = Path(out_dir)
    saved: list[Path] = []
    skipped: list[Phrase] = []
    entries: dict[str, dict[str, Any]] = {}
    try:
        for i, p in enumerate(phrases, 1):
            segment = None
            for attempt in range(2):
                prefix = "I heard nothing. " if attempt else f"[{i}/{len(phrases)}] "
                say(f"{prefix}Say: {p.text}")
                # Whatever was captured while the prompt was shown or spoken is not the answer.
                source.flush()
                segment = endpointer.listen(source, no_input_timeout_s)
                if segment is not None:
                    break
            if segment is None:
                say(f"Skipped: {p.text}")
                skipped.append(p)
                continue
            rel = f"{speaker_name}/clean/{p.slug}.wav"
            write_wav(out_dir / rel, segment.audio)
            entries[rel] = _entry(p, speaker_name, None, None)
            saved.append(out_dir / rel)
    finally:
        if entries:
            update_manifest(out_dir, entries)
    return RecordReport(saved=tuple(saved), skipped=tuple(skipped))


# --------------------------------------------------------------------------- command line


def add_fixtures_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `voice-skill fixtures generate|record` to the CLI's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fixtures",
        help="make the recorded-audio test corpus (synthesized, or your own voice)",
        description="Make the recorded-audio corpus under tests/fixtures/audio.",
    )
    sub = parser.add_subparsers(dest="fixtures_action", required=True)
    gen = sub.add_parser(
        "generate",
        help="synthesize every phrase with flite/espeak-ng, clean and with noise",
        description="Synthesize every phrase the dialogue accepts, with each voice, clean and "
        "at 20 and 10 dB SNR, and write the manifest. Same inputs, same bytes.",
    )
    gen.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    gen.add_argument(
        "--voices",
        nargs="+",
        choices=sorted(VOICES),
        default=None,
        metavar="VOICE",
        help=f"voices to use, from {', '.join(VOICES)} (default {' '.join(DEFAULT_VOICES)})",
    )
    gen.add_argument(
        "--noisy-voices",
        nargs="*",
        choices=sorted(VOICES),
        default=None,
        metavar="VOICE",
        help="voices that also get the noisy copies (default: with --voices, all of them; "
        f"else {' '.join(DEFAULT_NOISY_VOICES)})",
    )
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, help="noise seed")
    gen.add_argument("--dialog", type=Path, default=None, help="dialogue file (default bundled)")
    rec = sub.add_parser(
        "record",
        help="record your own voice saying each phrase",
        description="Show each phrase, record you saying it from the microphone, and save it "
        "as <out>/<speaker>/clean/<phrase>.wav. Silence: asked again once, then skipped.",
    )
    rec.add_argument("--speaker", required=True, help="folder name for your recordings, e.g. anna")
    rec.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    rec.add_argument(
        "--only",
        action="append",
        metavar="PHRASE",
        help="record just this phrase (its words or file name); may be repeated",
    )
    rec.add_argument("--dialog", type=Path, default=None, help="dialogue file (default bundled)")
    rec.add_argument("--device", default=None, help="input device name or index")
    rec.add_argument(
        "--timeout", type=float, default=8.0, help="seconds of silence before asking again"
    )
    return parser


def fixtures_command(args: argparse.Namespace) -> int:
    """Run `voice-skill fixtures generate|record`; the exit code."""
    try:
        dialog = load_dialog(args.dialog)
        if args.fixtures_action == "generate":
            voices = args.voices or DEFAULT_VOICES
            noisy = args.noisy_voices
            if noisy is None and args.voices is None:
                noisy = DEFAULT_NOISY_VOICES
            report = generate(
                args.out, voices=voices, seed=args.seed, dialog=dialog, noisy_voices=noisy
            )
            print(
                f"wrote {report.files} files ({report.phrases} phrases, voices "
                f"{' '.join(report.voices)}), {report.bytes / 1e6:.1f} MB, "
                f"in {report.seconds:.0f} s to {args.out}"
            )
            return 0
        return _record_command(args, dialog)
    except VoiceSkillError as exc:
        print(f"voice-skill fixtures: {exc}", file=sys.stderr)
        return 1


def _record_command(args: argparse.Namespace, dialog: Dialog) -> int:
    from voice_skill.hearing.audio import MicrophoneSource

    phrases = corpus_phrases(dialog)
    if args.only:
        by_slug = {p.slug: p for p in phrases}
        wanted = list(dict.fromkeys(slugify(o) for o in args.only))
        unknown = [w for w in wanted if w not in by_slug]
        if unknown:
            print(
                f"voice-skill fixtures: not a corpus phrase: {', '.join(unknown)}",
                file=sys.stderr,
            )
            return 2
        phrases = [by_slug[w] for w in wanted]  # in the order asked for
    settings = Settings(input_device=args.device)
    mic = MicrophoneSource(settings)
    try:
        report = record(
            args.out,
            args.speaker,
            phrases,
            mic,
            Endpointer(settings),
            no_input_timeout_s=args.timeout,
        )
    except KeyboardInterrupt:
        print("\nstopped; what was recorded is saved", file=sys.stderr)
        return 130
    finally:
        mic.close()
    print(f"saved {len(report.saved)}, skipped {len(report.skipped)}")
    for p in report.skipped:
        print(f"  skipped: {p.text}")
    return 0
