"""Endpointing on real speech: where utterances start and end, and what is not speech."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from voice_skill.errors import AudioError
from voice_skill.hearing.audio import WavSource, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.settings import Settings

DATA = Path(__file__).parent / "data" / "audio"


def speech_span(audio: np.ndarray, threshold: int = 300) -> tuple[float, float]:
    """First and last sample above `threshold`, in seconds: where the words are."""
    loud = np.nonzero(np.abs(audio) > threshold)[0]
    return loud[0] / 16000, loud[-1] / 16000


def stream(*parts: np.ndarray | float) -> np.ndarray:
    """Concatenate audio arrays and seconds of silence."""
    return np.concatenate([silence(p) if isinstance(p, float) else p for p in parts])


@pytest.fixture(scope="module")
def legs() -> np.ndarray:
    return read_wav(DATA / "i_cannot_move_my_legs.wav")


@pytest.fixture(scope="module")
def yes() -> np.ndarray:
    return read_wav(DATA / "yes.wav")


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_speech_then_long_silence_ends_near_the_end_of_the_words(legs: np.ndarray, frame_ms: int) -> None:
    words_start, words_end = speech_span(legs)
    source = WavSource(stream(1.0, legs, 5.0), frame_ms=frame_ms)
    segment = Endpointer(Settings()).listen(source)
    assert segment is not None
    assert segment.start_s == pytest.approx(1.0 + words_start, abs=0.2)
    assert segment.end_s == pytest.approx(1.0 + words_end, abs=0.25)
    # It stops reading once end_silence_s of quiet has passed, not at the end of the stream.
    assert source.position_s == pytest.approx(segment.end_s + 0.8, abs=0.1)


def test_segment_keeps_the_audio_of_the_first_word(legs: np.ndarray) -> None:
    segment = Endpointer(Settings()).listen(WavSource(stream(1.0, legs, 2.0)))
    assert segment is not None
    # Pre-roll before the start, so a soft first sound is not clipped ...
    lead_s = speech_span(segment.audio)[0]
    assert lead_s >= 0.25  # PREROLL_S is 0.3
    # ... and every loud sample of the phrase is in the segment.
    assert np.sum(np.abs(segment.audio) > 300) == np.sum(np.abs(legs) > 300)


def test_single_word(yes: np.ndarray) -> None:
    segment = Endpointer(Settings()).listen(WavSource(stream(0.5, yes, 2.0)))
    assert segment is not None
    start, _ = speech_span(yes)
    assert segment.start_s == pytest.approx(0.5 + start, abs=0.2)
    assert 0.2 < segment.duration_s < 1.0


def test_silence_is_no_input() -> None:
    source = WavSource(silence(30.0))
    assert Endpointer(Settings()).listen(source, no_input_timeout_s=8.0) is None
    # Counted in audio time: it read 8 s of the stream, not all 30 (and took no wall time).
    assert source.position_s == pytest.approx(8.0, abs=0.05)


def test_default_timeout_comes_from_settings() -> None:
    source = WavSource(silence(30.0))
    assert Endpointer(Settings(no_input_timeout_s=3.0)).listen(source) is None
    assert source.position_s == pytest.approx(3.0, abs=0.05)


def test_infinite_timeout_waits_until_speech(yes: np.ndarray) -> None:
    source = WavSource(stream(20.0, yes, 1.0))
    segment = Endpointer(Settings()).listen(source, no_input_timeout_s=math.inf)
    assert segment is not None and segment.start_s > 19.5


def test_speech_after_the_timeout_is_not_taken(yes: np.ndarray) -> None:
    assert Endpointer(Settings()).listen(WavSource(stream(9.0, yes, 1.0)), 8.0) is None


def test_short_stream_of_silence_ends_with_none() -> None:
    assert Endpointer(Settings()).listen(WavSource(silence(1.0)), 8.0) is None


@pytest.mark.parametrize("click_ms", [1, 5, 30])
def test_a_noise_click_is_not_speech(click_ms: int) -> None:
    audio = silence(4.0)
    n = 16 * click_ms
    rng = np.random.default_rng(click_ms)
    audio[16000 : 16000 + n] = np.clip(rng.standard_normal(n) * 12000, -32768, 32767)
    assert Endpointer(Settings()).listen(WavSource(audio), 3.0) is None


def test_steady_background_hiss_is_not_speech() -> None:
    rng = np.random.default_rng(7)
    hiss = (rng.standard_normal(16000 * 6) * 200).astype(np.int16)
    assert Endpointer(Settings()).listen(WavSource(hiss), 5.0) is None


def test_speech_over_background_hiss_is_found(legs: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    audio = stream(1.0, legs, 2.0)
    noisy = np.clip(audio + rng.standard_normal(len(audio)) * 200, -32768, 32767)
    segment = Endpointer(Settings()).listen(WavSource(noisy.astype(np.int16)))
    assert segment is not None
    assert segment.start_s == pytest.approx(1.0 + speech_span(legs)[0], abs=0.25)


def test_stream_ending_mid_speech_returns_what_was_heard(legs: np.ndarray) -> None:
    cut = legs[: len(legs) * 2 // 3]
    segment = Endpointer(Settings()).listen(WavSource(stream(1.0, cut)))
    assert segment is not None
    assert segment.end_s == pytest.approx((16000 + len(cut)) / 16000, abs=0.1)


def test_long_talk_is_cut_at_max_utterance(legs: np.ndarray) -> None:
    talk = np.concatenate([legs] * 8)  # ~15 s with hardly a pause
    source = WavSource(stream(0.5, talk))
    segment = Endpointer(Settings(max_utterance_s=4.0)).listen(source)
    assert segment is not None
    assert segment.duration_s == pytest.approx(4.0, abs=0.1)
    assert source.position_s < 5.0


def test_two_utterances_in_one_stream_come_one_per_listen(yes: np.ndarray, legs: np.ndarray) -> None:
    source = WavSource(stream(0.5, yes, 1.5, legs, 1.5))
    endpointer = Endpointer(Settings())
    first, second = endpointer.listen(source), endpointer.listen(source)
    assert first is not None and second is not None
    assert first.duration_s < 1.0 < second.duration_s
    assert endpointer.listen(source) is None


def test_a_shorter_end_silence_ends_sooner(legs: np.ndarray) -> None:
    audio = stream(0.5, legs, 0.5, legs, 2.0)  # a half-second pause mid-answer
    patient = Endpointer(Settings(end_silence_s=0.8)).listen(WavSource(audio))
    hasty = Endpointer(Settings(end_silence_s=0.3)).listen(WavSource(audio))
    assert patient is not None and hasty is not None
    assert patient.duration_s > 3.0  # both phrases: the pause did not end the answer
    assert hasty.duration_s < 2.5  # only the first phrase


def test_replays_are_deterministic(legs: np.ndarray) -> None:
    audio = stream(1.0, legs, 2.0)
    endpointer = Endpointer(Settings())
    a, b = endpointer.listen(WavSource(audio)), endpointer.listen(WavSource(audio))
    assert a is not None and b is not None
    assert (a.start_s, a.end_s) == (b.start_s, b.end_s)
    assert np.array_equal(a.audio, b.audio)


def test_frames_the_vad_cannot_take_are_refused() -> None:
    class OddFrames:
        frame_samples = 400  # 25 ms

        def read(self, timeout_s: float) -> np.ndarray | None:
            return np.zeros(400, np.int16)

        def flush(self) -> None: ...

        def close(self) -> None: ...

    with pytest.raises(AudioError, match="10, 20 or 30 ms"):
        Endpointer(Settings()).listen(OddFrames())


def test_a_microphone_failing_while_a_pause_is_judged_leaves_no_judgement_running(
        yes: np.ndarray) -> None:
    """The pause after "yes" is judged on a thread; when the microphone fails meanwhile, the
    failure comes out only once that judgement is over (it uses the recognizer, which the
    next turn must not find busy)."""
    audio = np.concatenate([silence(0.3), yes, silence(1.0)])
    source = WavSource(audio)
    words_end = 0.3 + len(yes) / 16000 - 0.1
    read = source.read
    judging, done = threading.Event(), threading.Event()

    def failing(timeout_s: float) -> np.ndarray | None:
        # in the quiet after the word: unplugged as soon as the pause is being judged
        if source.position_s >= words_end and judging.wait(0.2):
            raise AudioError("unplugged")
        return read(timeout_s)

    def slow_judge(heard: np.ndarray) -> float:
        judging.set()
        time.sleep(0.5)
        done.set()
        return 0.25

    source.read = failing  # type: ignore[method-assign]
    with pytest.raises(AudioError):
        Endpointer(Settings()).listen(source, 5.0, slow_judge)
    assert done.is_set()
