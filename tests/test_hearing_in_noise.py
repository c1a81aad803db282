"""An answer heard through loud noise is not sure, whatever the engine says: its confidence
falls with the speech-to-noise ratio of what was heard, so a red-flag answer is confirmed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from voice_skill.dev.real_speech import CORPUS, mix
from voice_skill.events import Utterance
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, WavSource, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.hearing.listening import in_noise
from voice_skill.hearing.voice_input import (
    SNR_NONE_DB,
    SNR_SURE_DB,
    AudioListener,
    hear_recording,
    sound_factor,
    speech_to_noise_db,
)
from voice_skill.settings import Settings

YES = read_wav(sorted((CORPUS / "yes").glob("*.wav"))[0])
NOISE = read_wav(sorted((CORPUS / "noise").glob("*.wav"))[5])


def padded(audio: np.ndarray) -> np.ndarray:
    return np.concatenate([silence(0.5), audio, silence(0.5)])


class SureOfNo:
    """An engine that always hears "no" and is always sure of it."""

    name = "sure"

    def recognize(self, audio: np.ndarray, phrases: Sequence[str] | None, hint: str = "") -> Utterance:
        return Utterance("no", 0.95, len(audio) / PIPELINE_RATE_HZ, 0.0)

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        return []


def test_the_speech_to_noise_ratio_falls_with_the_noise() -> None:
    clean = speech_to_noise_db(padded(YES))
    at = {snr: speech_to_noise_db(mix(padded(YES), NOISE, snr, "x")) for snr in (20.0, 10.0, 0.0)}
    assert clean > 30 and clean > at[20.0] > at[10.0] > at[0.0]
    assert speech_to_noise_db(np.zeros(10, np.int16)) == 0.0  # too short to tell


def test_the_echo_gates_silence_is_not_taken_for_a_quiet_room() -> None:
    """Live, the skill's echo canceller silences the tail of its own voice, which begins the
    stretch in which the person answers: that silence made a noisy room look clear."""
    noisy = mix(np.concatenate([padded(YES), silence(1.0)]), NOISE, 10.0, "x")
    gated = noisy.copy()
    gated[: len(gated) // 3] = 0  # the echo's tail, gated to silence
    assert abs(speech_to_noise_db(gated) - speech_to_noise_db(noisy)) < 5.0
    assert speech_to_noise_db(gated) < 15.0


def test_confidence_is_kept_in_quiet_and_lost_in_loud_noise() -> None:
    assert sound_factor(SNR_SURE_DB) == 1.0 and sound_factor(60.0) == 1.0
    assert sound_factor(SNR_NONE_DB) == 0.0 and sound_factor(-30.0) == 0.0
    assert sound_factor((SNR_SURE_DB + SNR_NONE_DB) / 2) == pytest.approx(0.5)


def quiet_and_noisy(snr_db: float) -> tuple[Utterance, Utterance]:
    """A real "yes" heard by an engine always sure of "no": in quiet, and with real noise at
    `snr_db` going on while the skill listens (no quiet after it)."""
    settings = Settings()
    engine = SureOfNo()
    quiet = hear_recording(padded(YES), settings, engine, "rf_bladder", ("yes", "no"))  # type: ignore[arg-type]
    loud = mix(np.concatenate([padded(YES), silence(2.0)]), NOISE, snr_db, "x")
    noisy = hear_recording(loud, settings, engine, "rf_bladder", ("yes", "no"),  # type: ignore[arg-type]
                           after=np.zeros(0, np.int16))
    assert quiet.utterance is not None and noisy.utterance is not None
    return quiet.utterance, noisy.utterance


def test_a_sure_answer_through_loud_noise_is_confirmed_not_trusted() -> None:
    quiet, noisy = quiet_and_noisy(0.0)
    assert quiet.confidence == pytest.approx(0.95)
    assert noisy.confidence < Settings().low_confidence


def test_an_answer_is_known_to_be_heard_through_loud_noise_and_a_quiet_one_is_not() -> None:
    quiet, noisy = quiet_and_noisy(10.0)
    assert not in_noise(quiet) and in_noise(noisy)
    assert not in_noise(Utterance("no"))  # typed: nothing measured


class _Gated(WavSource):
    """A microphone through the skill's echo canceller: in the tail of the skill's voice, in
    which the answer begins, the room's noise comes out 40 dB down (its gate and residue
    suppressor); the raw sound is kept."""

    def __init__(self, raw: np.ndarray, gated_s: float, settings: Settings) -> None:
        out = raw.copy()
        n = round(gated_s * PIPELINE_RATE_HZ)
        out[:n] = np.round(raw[:n] * 0.01).astype(np.int16)
        super().__init__(out, settings)
        self.raw = raw
        self.asked: list[tuple[int, int]] = []

    def raw_audio(self, start: int, end: int) -> np.ndarray | None:
        self.asked.append((start, end))
        return self.raw[start:end] if 0 <= start < end <= len(self.raw) else None


def _through_the_gate(raw: np.ndarray) -> Utterance:
    settings = Settings()
    source = _Gated(raw, 0.6, settings)
    heard = AudioListener(source, Endpointer(settings), SureOfNo(), math.inf,  # type: ignore[arg-type]
                          announce=lambda _: None).listen("rf_bladder", ("yes", "no"), None)
    u = heard.utterance
    assert u is not None and u.speech_to_noise_db is not None
    # the raw sound of the whole stretch, lead-in and tail of quiet included: a word alone
    # holds no room to measure
    [(start, end)] = source.asked
    assert (end - start) / PIPELINE_RATE_HZ == pytest.approx(u.audio_s)
    return u


def test_the_room_is_measured_before_the_echo_gate() -> None:
    """Through the skill's canceller an answer in a noisy room was as sure as in a quiet one.
    The room is measured over the stretch's lead-in and tail too: a word alone has no floor."""
    noisy = _through_the_gate(mix(np.concatenate([silence(0.5), YES, silence(2.0)]), NOISE,
                                  10.0, "x"))
    assert in_noise(noisy) and noisy.confidence < 0.95  # less sure than the engine
    quiet = _through_the_gate(np.concatenate([silence(0.5), YES, silence(2.0)]))
    assert not in_noise(quiet) and quiet.confidence == pytest.approx(0.95)


def test_listening_over_the_guide_ends_soon_after_it_in_steady_noise() -> None:
    """The guide listens for "stop" and "help" while it talks, and a little after, until the
    room is quiet. Live in steady household noise at 10 dB (which the voice detector calls
    voice throughout) the room never was: the session stood still after its first sentence,
    nine minutes, hearing the noise over and over. It ends within seconds of the speech now."""
    settings = Settings()
    level = 1000.0  # -30 dBFS: 10 dB under an answer at -20 dBFS (the detector calls it voice)
    tap = NOISE.astype(np.float64) * level / np.sqrt(np.mean(NOISE.astype(np.float64) ** 2))
    room = np.tile(tap, 60).astype(np.int16)  # a minute of it, then the recording ends
    source = WavSource(room, settings)
    listener = AudioListener(source, Endpointer(settings), SureOfNo(), math.inf,  # type: ignore[arg-type]
                             announce=lambda _: None, safety_over_speech=True)
    heard = listener.hear_over("rf_bladder", ("yes", "no"), "", say=lambda: None,
                               stop=lambda: None, acts_on=lambda _: None, safety=("help", "stop"))
    assert heard is None  # nothing acted on, nothing to answer
    assert listener.position_s() < 5.0, f"listened {listener.position_s():.0f} s after the speech"
