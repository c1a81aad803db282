"""The room's steady noise taken out of a turn, for a second hearing of it.

Power spectral subtraction: the noise's mean power in each frequency bin (measured on room
sound alone, or on the turn's own quietest frames) is subtracted from each frame (the gain
never below GAIN_FLOOR, so no bin is emptied). It is not in front of every decode: on the room
benchmark, everything cleaned this way before Whisper and the detector heard "stop" far better
in noise but lost real "no"s at 5 dB (docs/benchmarks.md, issue 24, ninth session); it is a
second hearing of a turn that answered nothing (voice_input's stop under noise).
"""

from __future__ import annotations

import numpy as np

FRAME = 512
"""samples per analysis frame (32 ms at 16 kHz)"""
HOP = 128
"""samples between frames (75 % overlap)"""
NOISE_WEIGHT = 1.0
"""how many times the noise's power is taken off (1: its mean, no more)"""
GAIN_FLOOR = 0.1
"""the least a bin keeps of its amplitude (-20 dB): lower floors leave "musical" noise"""
QUIET_SHARE = 0.3
"""without a stretch of room sound alone, the noise is the quietest this share of the frames"""
_WINDOW = np.hanning(FRAME + 1)[:-1]


def _spectra(x: np.ndarray) -> np.ndarray:
    """(frames, bins): the windowed frames of `x` (padded by a frame at both ends)."""
    padded = np.pad(x, (FRAME, FRAME + (-len(x)) % HOP))
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME)[::HOP]
    return np.fft.rfft(frames * _WINDOW, axis=1)


def subtracted(audio: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """int16 `audio` with the mean power spectrum of int16 `noise` (room sound alone) taken out;
    without `noise`, that of the quietest QUIET_SHARE of its own frames (the room between and
    around the words: in noise the turn starts on the noise, so it holds some)."""
    x = audio.astype(np.float64)
    spec = _spectra(x)
    power = np.abs(spec) ** 2
    if noise is not None:
        noise_power = np.mean(np.abs(_spectra(noise.astype(np.float64))) ** 2, axis=0)
    else:
        inside = power[FRAME // HOP: len(power) - FRAME // HOP] if len(power) > 3 * FRAME // HOP else power
        energy = inside.sum(axis=1)
        quiet = inside[energy <= np.quantile(energy, QUIET_SHARE)]
        noise_power = quiet.mean(axis=0)
    gain = np.sqrt(np.maximum(1.0 - NOISE_WEIGHT * noise_power / np.maximum(power, 1e-12),
                              GAIN_FLOOR ** 2))
    frames = np.fft.irfft(spec * gain, n=FRAME, axis=1) * _WINDOW
    # overlap-add, divided by the summed squared window (exact where frames overlap)
    length = (len(frames) - 1) * HOP + FRAME
    out, norm = np.zeros(length), np.zeros(length)
    starts = np.arange(len(frames)) * HOP
    index = starts[:, None] + np.arange(FRAME)
    np.add.at(out, index, frames)
    np.add.at(norm, index, np.broadcast_to(_WINDOW ** 2, frames.shape))
    y = out[FRAME: FRAME + len(x)] / np.maximum(norm[FRAME: FRAME + len(x)], 1e-6)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)
