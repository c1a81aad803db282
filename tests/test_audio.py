"""Audio in: WAV files of every common shape, the pipeline format, and a real (virtual) microphone."""

from __future__ import annotations

import struct
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from pulse_rig import PulseRig, rms

from voice_skill.errors import AudioError
from voice_skill.hearing.audio import (
    MicrophoneSource,
    WavSource,
    read_wav,
    silence,
    to_pipeline_format,
)
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.settings import Settings

DATA = Path(__file__).parent / "data" / "audio"
TONE_HZ = 440.0


def tone(rate: int, seconds: float = 1.0, amplitude: float = 0.5, hz: float = TONE_HZ) -> np.ndarray:
    """A sine wave as float64 in -1..1."""
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t)


def write_pcm(path: Path, samples: np.ndarray, rate: int, sampwidth: int = 2) -> Path:
    """Write float samples (frames,) or (frames, channels) as integer PCM with `wave`."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    if sampwidth == 1:
        raw = np.clip(np.round(frames * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    elif sampwidth == 3:
        ints = np.clip(np.round(frames * 8388607), -8388608, 8388607).astype("<i4")
        raw = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        dtype = {2: "<i2", 4: "<i4"}[sampwidth]
        top = 2 ** (8 * sampwidth - 1) - 1
        raw = np.round(frames * top).astype(dtype).tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


def write_float_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """IEEE float32 mono WAV (format code 3), which `wave` cannot write."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def peak_hz(x: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64)))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def amplitude(x: np.ndarray) -> float:
    """Sine amplitude (0..1 of full scale) from the RMS of int16 samples."""
    return float(rms(x) * np.sqrt(2) / 32768)


# --------------------------------------------------------------------------- WAV formats


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_any_sample_rate_becomes_16k_with_the_same_pitch_and_length(tmp_path: Path, rate: int) -> None:
    audio = read_wav(write_pcm(tmp_path / f"tone_{rate}.wav", tone(rate, 1.0), rate))
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 2
    assert abs(peak_hz(audio) - TONE_HZ) < 2
    assert amplitude(audio) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("sampwidth", [1, 2, 3, 4])
def test_8_16_24_32_bit_pcm_read_to_the_same_signal(tmp_path: Path, sampwidth: int) -> None:
    reference = np.round(tone(16000) * 32768)
    audio = read_wav(write_pcm(tmp_path / f"tone_{sampwidth}.wav", tone(16000), 16000, sampwidth))
    # 8-bit carries only 256 levels: allow its quantisation step; the others are near exact.
    tolerance = 300 if sampwidth == 1 else 2
    assert np.max(np.abs(audio - reference)) <= tolerance


def test_negative_24_bit_samples_keep_their_sign(tmp_path: Path) -> None:
    samples = np.array([-0.5, 0.5, -1.0, 0.25] * 100)
    audio = read_wav(write_pcm(tmp_path / "signs.wav", samples, 16000, 3))
    assert list(audio[:4]) == [-16384, 16384, -32768, 8192]


def test_float_wav(tmp_path: Path) -> None:
    audio = read_wav(write_float_wav(tmp_path / "float.wav", tone(22050), 22050))
    assert abs(peak_hz(audio) - TONE_HZ) < 2
    assert amplitude(audio) == pytest.approx(0.5, abs=0.02)


def test_stereo_is_downmixed_to_the_mean(tmp_path: Path) -> None:
    left = tone(44100, amplitude=0.6)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    audio = read_wav(write_pcm(tmp_path / "left_only.wav", stereo, 44100))
    assert amplitude(audio) == pytest.approx(0.3, abs=0.02)
    # Opposite channels cancel: proof that channels are mixed, not one of them picked.
    opposite = np.stack([left, -left], axis=1)
    assert rms(read_wav(write_pcm(tmp_path / "opposite.wav", opposite, 44100))) < 5


def test_six_channels(tmp_path: Path) -> None:
    frames = np.stack([tone(48000, amplitude=0.3)] * 6, axis=1)
    audio = read_wav(write_pcm(tmp_path / "surround.wav", frames, 48000))
    assert amplitude(audio) == pytest.approx(0.3, abs=0.02)


def test_real_speech_fixture_reads(tmp_path: Path) -> None:
    audio = read_wav(DATA / "yes.wav")
    assert 0.3 < len(audio) / 16000 < 2.0
    assert rms(audio) > 300


# --------------------------------------------------------------------------- bad files


def error_for(path: Path) -> str:
    with pytest.raises(AudioError) as info:
        read_wav(path)
    message = str(info.value)
    assert path.name in message  # every message names the file
    return message


def test_non_wav_file_names_what_it_starts_with(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200))
    assert "not a WAV file (starts with 'ID3')" in error_for(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty" in error_for(path)


def test_wav_with_no_samples(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "nothing.wav", np.zeros(0), 16000)
    assert "no audio samples" in error_for(path)


def test_truncated_wav(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "cut.wav", tone(16000), 16000)
    path.write_bytes(path.read_bytes()[:5000])
    assert "truncated" in error_for(path)


def test_header_only_wav(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "header.wav", tone(16000), 16000)
    path.write_bytes(path.read_bytes()[:30])
    assert "corrupt" in error_for(path)


def test_garbage_after_riff_header(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"RIFF\x00\x10\x00\x00WAVE" + bytes(range(256)) * 4)
    assert "corrupt" in error_for(path)


def test_unsupported_encoding_is_named(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "adpcm.wav", tone(16000), 16000)
    data = bytearray(path.read_bytes())
    data[20:22] = struct.pack("<H", 2)  # format code 2: Microsoft ADPCM
    path.write_bytes(bytes(data))
    assert "unsupported WAV encoding (format code 0x0002" in error_for(path)


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in error_for(tmp_path / "absent.wav")


# --------------------------------------------------------------------------- conversion, sources


def test_pipeline_format_passes_16k_int16_through_unchanged() -> None:
    x = (np.arange(1000) % 200 - 100).astype(np.int16)
    assert np.array_equal(to_pipeline_format(x, 16000), x)


def test_pipeline_format_from_float_stereo_48k() -> None:
    stereo = np.stack([tone(48000, 0.5), tone(48000, 0.5)], axis=1).astype(np.float32)
    out = to_pipeline_format(stereo, 48000)
    assert out.dtype == np.int16 and len(out) == 8000
    assert amplitude(out) == pytest.approx(0.5, abs=0.02)


def test_pipeline_format_clips_instead_of_wrapping() -> None:
    out = to_pipeline_format(np.array([1.5, -1.5, 0.0], dtype=np.float32), 16000)
    assert list(out) == [32767, -32768, 0]


def test_wav_source_yields_fixed_frames_then_ends() -> None:
    audio = (np.arange(1000) % 100).astype(np.int16)
    source = WavSource(audio, frame_ms=30)
    frames = []
    while (frame := source.read(0.1)) is not None:
        frames.append(frame)
    assert [len(f) for f in frames] == [480, 480, 480]
    assert np.array_equal(np.concatenate(frames)[:1000], audio)
    assert not frames[-1][40:].any()  # the last frame is padded with silence
    assert source.read(0.1) is None


def test_wav_source_frame_length_follows_settings() -> None:
    assert WavSource(silence(1.0), Settings(frame_ms=10)).frame_samples == 160
    assert WavSource(DATA / "yes.wav").frame_samples == 480


def test_wav_source_reports_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("hello")
    with pytest.raises(AudioError, match=r"bad\.wav"):
        WavSource(bad)


def test_silence_helper() -> None:
    s = silence(2.5)
    assert len(s) == 40000 and s.dtype == np.int16 and not s.any()


# --------------------------------------------------------------------------- microphone


def test_missing_microphone_is_named_in_plain_words() -> None:
    with pytest.raises(AudioError, match=r"No microphone 'no-such-mic' here"):
        MicrophoneSource(Settings(input_device="no-such-mic"))


def read_for(mic: MicrophoneSource, seconds: float) -> np.ndarray:
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = mic.read(1.0)
        assert frame is not None, "the virtual microphone stopped delivering frames"
        assert len(frame) == mic.frame_samples
        frames.append(frame)
    return np.concatenate(frames)


@pytest.mark.audio
@pytest.mark.parametrize("rate", [None, 44100])
def test_microphone_hears_what_is_played_into_it(pulse_rig: PulseRig, rate: int | None) -> None:
    """Through PortAudio and PulseAudio; 44.1 kHz exercises the live resampler."""
    with MicrophoneSource(Settings(), samplerate_hz=rate) as mic:
        quiet = read_for(mic, 0.3)
        player = pulse_rig.play_into_mic(DATA / "i_cannot_move_my_legs.wav")
        segment = Endpointer(Settings()).listen(mic, no_input_timeout_s=5.0)
        player.wait(10)
    assert rms(quiet) < 50
    assert segment is not None, "no speech heard through the virtual microphone"
    assert 1.0 < segment.duration_s < 3.0  # the phrase is ~1.8 s long
    assert rms(segment.audio) > 500
    assert mic.overflows == 0


@pytest.mark.audio
def test_flush_discards_what_was_heard_before(pulse_rig: PulseRig) -> None:
    """The skill flushes after speaking so it never answers its own voice."""
    with MicrophoneSource(Settings()) as mic:
        player = pulse_rig.play_into_mic(DATA / "yes.wav")
        player.wait(10)
        time.sleep(0.3)  # the queue now holds the whole "yes"
        mic.flush()
        after = read_for(mic, 0.5)
    assert rms(after) < 50


@pytest.mark.audio
def test_closed_microphone_says_so_and_reopen_brings_it_back(
    pulse_rig: PulseRig,
) -> None:
    mic = MicrophoneSource(Settings())
    mic.close()
    with pytest.raises(AudioError, match="closed"):
        mic.read(0.1)
    mic.reopen()  # reopen brings a closed (or unplugged) microphone back
    try:
        assert mic.read(1.0) is not None
    finally:
        mic.close()
