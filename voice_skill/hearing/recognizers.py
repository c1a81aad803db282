"""Speech to text behind one small interface: Whisper tiny.en (measured), Vosk, PocketSphinx.

Each engine's library is imported only when that engine is chosen, so one that cannot load
(not installed, or a system library missing: the arm64 Vosk library needs libatomic.so.1,
which a minimal Raspberry Pi OS lacks) costs one line and the next engine, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voice_skill.errors import ModelError
from voice_skill.events import Utterance
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, pcm_bytes  # every engine gets 16 kHz mono int16 audio
from voice_skill.hearing.grammar import LruCache, jsgf, normalize, parse, phrase_key, split_known
from voice_skill.settings import Settings

GRAMMAR_CACHE_SIZE = 16
"""Compiled grammars kept per recognizer; a dialogue cycles through a handful of phrase sets."""

DOWNLOAD_HINT = "For better accuracy run: voice-skill models download"

UNK = "[unk]"

ORDER = ("whisper", "vosk", "pocketsphinx")
"""what `auto` tries, in order: Whisper tiny.en is the engine measured on real voices
(docs/benchmarks.md); Vosk's English path never was, so it is used when chosen, or when
Whisper cannot load"""
LABELS = {"whisper": "Whisper", "vosk": "Vosk", "pocketsphinx": "PocketSphinx"}


def load_engine(module: str, engine: str) -> Any:
    """An engine's library, imported now; ModelError (one line, naming why) if it cannot load."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as exc:  # OSError: its shared library cannot be loaded
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ("; on Raspberry Pi OS: sudo apt-get install libatomic1"
                if "libatomic" in why else "; run bin/setup")
        raise ModelError(f"the {engine} library cannot be loaded ({why}{hint})") from exc


class Recognizer(Protocol):
    """Turns one endpointed utterance into text, restricted to the phrases the dialogue expects."""

    name: str

    def recognize(self, audio: np.ndarray, phrases: Sequence[str] | None,
                  hint: str = "") -> Utterance:
        """Text heard (or "" when not understood); `phrases` None means free dictation.

        `hint` is what the person was just asked; an engine that can use context does.
        """
        ...

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of these phrases the engine cannot hear (sorted, each once)."""
        ...


class VoskRecognizer:
    """Vosk (Kaldi) with a grammar per dialogue state; out-of-grammar speech comes back as ""."""

    name = "vosk"

    def __init__(self, model_path: Path, cache_size: int = GRAMMAR_CACHE_SIZE) -> None:
        self._vosk = vosk = load_engine("vosk", "Vosk")
        vosk.SetLogLevel(-1)  # Kaldi's log lines would interleave with the session's output
        self.model_path = Path(model_path)
        if not self.model_path.is_dir():
            raise ModelError(f"Vosk model folder not found: {self.model_path}")
        start = time.perf_counter()
        try:
            self._model = vosk.Model(str(self.model_path))
        except Exception as exc:  # vosk raises a bare Exception for any load failure
            raise ModelError(
                f"cannot load the Vosk model in {self.model_path} (incomplete or not a model)"
            ) from exc
        self.load_s = time.perf_counter() - start
        """time taken to load the model (seconds)"""
        self._grammars: LruCache[Any] = LruCache(cache_size)
        self._free: Any = None
        self.has_unk = self.knows(UNK)
        """whether the model has "[unk]" (English models do; the small Korean one does not):
        without it, speech outside the grammar is forced onto the nearest phrase"""

    @property
    def cached_grammars(self) -> int:
        """How many compiled grammars are held now."""
        return len(self._grammars)

    def knows(self, word: str) -> bool:
        """Whether the word is in the model's vocabulary."""
        return int(self._model.vosk_model_find_word(word)) >= 0

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of these phrases not in the model's vocabulary (Vosk would silently skip them)."""
        return split_known(phrase_key(phrases), self.knows)[1]

    def _recognizer(self, phrases: Sequence[str] | None) -> Any:
        """The recognizer for a phrase set (cached), or None when no phrase can be heard."""
        if phrases is None:
            if self._free is None:
                self._free = self._vosk.KaldiRecognizer(self._model, PIPELINE_RATE_HZ)
                self._free.SetWords(True)
            return self._free
        key = phrase_key(phrases)
        return self._grammars.get(key, lambda: self._new_grammar(key))

    def _new_grammar(self, key: Sequence[str]) -> Any:
        # Phrases with unknown words are left out, not half-heard (Vosk would drop the
        # unknown word and listen for the rest); "[unk]" absorbs speech that is none of
        # the phrases so it is not forced onto one.
        kept = split_known(key, self.knows)[0]
        if not kept:
            return None
        grammar = json.dumps([*kept, UNK] if self.has_unk else kept, ensure_ascii=False)
        rec = self._vosk.KaldiRecognizer(self._model, PIPELINE_RATE_HZ, grammar)
        rec.SetWords(True)
        return rec

    def recognize(self, audio: np.ndarray, phrases: Sequence[str] | None,
                  hint: str = "") -> Utterance:
        """Text heard (or "" when not understood); `phrases` None means free dictation."""
        data = pcm_bytes(audio)
        start = time.perf_counter()
        rec = self._recognizer(phrases)
        if rec is None:  # nothing in this set can be heard: nothing is understood
            return Utterance("", 0.0, len(audio) / PIPELINE_RATE_HZ, 0.0)
        rec.Reset()
        results = []
        step = PIPELINE_RATE_HZ  # bytes: half a second of 16-bit samples per call, as a stream
        for offset in range(0, len(data), step):
            if rec.AcceptWaveform(data[offset : offset + step]):
                results.append(json.loads(rec.Result()))
        results.append(json.loads(rec.FinalResult()))
        words = [w for r in results for w in r.get("result", []) if w.get("word") != UNK]
        text = " ".join(str(w["word"]) for w in words)
        confidence = float(np.mean([float(w["conf"]) for w in words])) if words else 0.0
        return Utterance(
            text=text,
            confidence=min(max(confidence, 0.0), 1.0),
            audio_s=len(audio) / PIPELINE_RATE_HZ,
            decode_s=time.perf_counter() - start,
        )


class PocketSphinxRecognizer:
    """PocketSphinx 5 with the US English model inside its wheel; JSGF grammar per state."""

    name = "pocketsphinx"

    REJECT_SCORE = -5.5
    """words whose mean acoustic score per frame is below this were not really said: answer "" """
    SCORE_AT_ZERO, SCORE_AT_ONE = -7.92, -2.0
    """mean acoustic score per frame mapped linearly to confidence 0 and 1.

    Calibrated on the fixture corpus (yes/no/unsure and out-of-grammar sentences under a
    red-flag grammar, four voices, clean to 10 dB) so that the dialogue's default threshold,
    0.55, falls at a score of -4.67: about 5% of correct "no" answers fall below it (and are
    confirmed), as do 4 of the 5 out-of-grammar sentences that were forced onto a "no".
    """

    def __init__(self, lead_ins: Sequence[str] = (), cache_size: int = GRAMMAR_CACHE_SIZE) -> None:
        pocketsphinx = load_engine("pocketsphinx", "PocketSphinx")
        start = time.perf_counter()
        try:
            # The default config is the bundled en-us acoustic model, CMUdict and the
            # en-us language model; the language model serves free dictation.
            self._decoder = pocketsphinx.Decoder(loglevel="FATAL")
        except (RuntimeError, ValueError) as exc:
            model = pocketsphinx.get_model_path("en-us")
            raise ModelError(f"cannot load the bundled PocketSphinx model in {model}") from exc
        self.load_s = time.perf_counter() - start
        """time taken to load the model (seconds)"""
        self._grammars: LruCache[tuple[str, list[str]]] = LruCache(cache_size, self._drop)
        self._fillers = [f for f in lead_ins if all(self.knows(w) for w in f.split())]
        self._serial = 0

    @property
    def cached_grammars(self) -> int:
        """How many compiled grammars are held now."""
        return len(self._grammars)

    def knows(self, word: str) -> bool:
        """Whether the word is in the pronunciation dictionary."""
        return self._decoder.lookup_word(word) is not None

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of these phrases not in the pronunciation dictionary (their phrases are dropped)."""
        return split_known(phrase_key(phrases), self.knows)[1]

    def _drop(self, entry: tuple[str, list[str]]) -> None:
        name = entry[0]
        if self._decoder.current_search() == name:
            self._decoder.activate_search()
        self._decoder.remove_search(name)

    def _grammar(self, phrases: Sequence[str]) -> tuple[str, list[str]] | None:
        """The search name and kept phrases for a phrase set, or None when no phrase is usable."""
        key = phrase_key(phrases)
        kept = split_known(key, self.knows)[0]
        if not kept:
            return None

        def build() -> tuple[str, list[str]]:
            self._serial += 1
            name = f"grammar{self._serial}"
            self._decoder.add_jsgf_string(name, jsgf(kept, self._fillers))
            return name, kept

        return self._grammars.get(key, build)

    MAX_WORD_FRAMES = 120
    """a word held over 1.2 s was stretched over speech the grammar could not explain"""
    SILENCE_SPEECH_RATIO = 0.5
    """a "silence" of over 0.3 s at least half as loud (RMS) as the words is speech in disguise"""

    def _forced(self, audio: np.ndarray) -> bool:
        """Whether the best path explained part of the speech away as a long word or as silence.

        "I had toast for breakfast" comes out of a yes/no grammar as "I haven't" followed by
        a second of "silence" that is as loud as the words; background noise at 10 dB SNR is
        far quieter than the words, so a noisy answer still counts. Measured on the fixture
        corpus; a real answer that trips this is only re-asked.
        """
        segs = [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in self._decoder.seg() or []]
        words = [(a, b) for w, a, b in segs if not w.startswith(("<", "[", "+"))]
        if any(b - a > self.MAX_WORD_FRAMES for a, b in words):
            return True
        spoken = np.concatenate([audio[a * 160:b * 160] for a, b in words] or [audio[:0]])
        level = _rms(spoken)
        return level > 0 and any(
            w == "<sil>" and b - a > 30 and _rms(audio[a * 160:b * 160]) > self.SILENCE_SPEECH_RATIO * level
            for w, a, b in segs
        )

    def _word_scores(self) -> list[tuple[float, int]]:
        """Acoustic log score and frame count of each spoken word (not silence) of the best path.

        PocketSphinx scores each frame relative to its best-scoring senone, so a word that fits
        the sound well scores near 0 and a word forced onto other speech scores far below.
        """
        scores = []
        for seg in self._decoder.seg() or []:
            word = seg.word
            if word in ("<s>", "</s>", "<sil>") or word.startswith(("[", "+")):
                continue
            frames = max(seg.end_frame - seg.start_frame + 1, 1)
            log_score = math.log(seg.ascore) if seg.ascore > 0 else -30.0 * frames
            scores.append((log_score, frames))
        return scores

    def recognize(self, audio: np.ndarray, phrases: Sequence[str] | None,
                  hint: str = "") -> Utterance:
        """Text heard (or "" when not understood); `phrases` None means free dictation."""
        data = pcm_bytes(audio)
        start = time.perf_counter()
        grammar = None
        if phrases is not None:
            grammar = self._grammar(phrases)
            if grammar is None:  # nothing in this set can be heard: nothing is understood
                return Utterance("", 0.0, len(audio) / PIPELINE_RATE_HZ, 0.0)
        self._decoder.activate_search(grammar[0] if grammar else None)
        self._decoder.start_utt()
        self._decoder.process_raw(data, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        heard = normalize(hyp.hypstr) if hyp is not None else ""
        scores = self._word_scores()
        # Per frame over all spoken words: a short word ("a", "it") may fit poorly on its own.
        frames = sum(n for _, n in scores)
        mean = sum(score for score, _ in scores) / frames if frames else -math.inf
        if grammar is not None:
            heard = parse(heard, grammar[1], self._fillers)
            if mean < self.REJECT_SCORE or self._forced(audio):
                heard = ""
        confidence = 0.0
        if heard and scores:
            span = self.SCORE_AT_ONE - self.SCORE_AT_ZERO
            confidence = min(max((mean - self.SCORE_AT_ZERO) / span, 0.0), 1.0)
        return Utterance(
            text=heard,
            confidence=confidence,
            audio_s=len(audio) / PIPELINE_RATE_HZ,
            decode_s=time.perf_counter() - start,
        )


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) if audio.size else 0.0


def _whisper() -> Recognizer:
    try:  # CTranslate2 loads only when Whisper is used
        from voice_skill.hearing.whisper_recognizer import WhisperRecognizer
    except (ImportError, OSError) as exc:
        raise ModelError(f"the Whisper engine cannot be loaded ({exc}); run bin/setup") from exc
    return WhisperRecognizer()


def _lead_ins(settings: Settings) -> tuple[str, ...]:
    """What the dialogue says people say before an answer (a grammar lets it through)."""
    from voice_skill.dialogue.dialog import load_dialog

    return load_dialog(settings.dialog_path).language.lead_ins


def _open(engine: str, settings: Settings, model_path: Path | None) -> Recognizer:
    if engine == "whisper":
        return _whisper()
    if engine == "vosk":
        if model_path is None:
            raise ModelError("no Vosk model is installed")
        return VoskRecognizer(model_path)
    return PocketSphinxRecognizer(_lead_ins(settings))


def open_recognizer(
    settings: Settings, model_path: Path | None, announce: Callable[[str], None]
) -> Recognizer:
    """The engine the settings ask for; announces once, in plain words, which one is used.

    "auto" takes the measured default, the bundled Whisper tiny.en; if it cannot load, Vosk
    (with a model), then the bundled PocketSphinx. A chosen engine that cannot load is said
    in one line and the next one in that order is used: the guide keeps guiding.
    """
    engine = settings.engine
    if engine == "vosk" and model_path is None:
        raise ModelError(
            "engine vosk needs a Vosk model and none was found;"
            " run: voice-skill models download, or set VOSK_MODEL_PATH"
        )
    chosen = ORDER if engine == "auto" else (engine, *(e for e in ORDER if e != engine))
    reasons: list[str] = []
    for name in chosen:
        if name == "vosk" and model_path is None:
            continue
        try:
            recognizer = _open(name, settings, model_path)
        except ModelError as exc:
            reasons.append(f"The {LABELS[name]} recognizer could not be used ({exc}).")
            continue
        announce(" ".join([*reasons, _using(recognizer.name, engine, model_path)]))
        return recognizer
    raise ModelError(" ".join(reasons) or "no speech recognizer could be loaded")


def _using(name: str, engine: str, model_path: Path | None) -> str:
    """The sentence saying which engine is used, and why."""
    configured = ", as configured" if name == engine else ""
    if name == "vosk":
        return f"Using the Vosk recognizer with the model in {model_path}{configured}."
    if name == "whisper":
        vosk_too = (f" (the Vosk model in {model_path} is used with --engine vosk)"
                    if engine == "auto" and model_path is not None else "")
        return f"Using the bundled Whisper tiny.en recognizer{configured}{vosk_too}."
    hint = f" {DOWNLOAD_HINT}" if engine == "auto" and model_path is None else ""
    return f"Using the bundled PocketSphinx recognizer{configured}.{hint}"


_OPENED: dict[tuple[str, str], Recognizer] = {}


def recognizer_for(settings: Settings, engine: str | None = None,
                   announce: Callable[[str], None] | None = None) -> Recognizer:
    """The configured engine with the model found where settings say; one per process,
    since loading a model takes a while. "vosk" without a Vosk model raises ModelError
    listing where it looked; any other engine goes on without one."""
    from voice_skill.models.manifest import locate_vosk_model

    wanted = engine or settings.engine
    model_path = None
    try:  # a Vosk model also serves as the fallback of an engine that cannot load
        model_path = locate_vosk_model(settings)
    except ModelError:
        if wanted == "vosk":
            raise
    key = (wanted, str(model_path))
    if key not in _OPENED:
        _OPENED[key] = open_recognizer(settings.replace(engine=wanted), model_path,
                                       announce or (lambda _m: None))
    return _OPENED[key]


def guiding_recognizer(settings: Settings, announce: Callable[[str], None]) -> Recognizer:
    """For a session with a person: the configured engine or, when it cannot be had at all
    (engine vosk with no model), the next one, said in one line: the guide keeps guiding.
    The testers' commands (recognize, replay) keep the error."""
    try:
        return recognizer_for(settings, announce=announce)
    except ModelError as exc:
        if settings.engine == "auto":
            raise
        why = str(exc).splitlines()[0].rstrip(".: ")
        told = f"The {LABELS.get(settings.engine, settings.engine)} recognizer could not be used ({why})."
        return recognizer_for(settings, "auto", lambda m: announce(f"{told} {m}"))
