"""Simulated rooms: a real recording played by a talker lying 1-3 m from a table microphone in a
shoebox room with echoes, and real background noise from elsewhere in the same room.

Every draw (room size, reverberation, positions, noise clip) comes from a generator seeded by
the recording's name, so the same name always gives the same room and the same audio. The
impulse responses come from pyroomacoustics' image source model with the wall absorption and
reflection order that Sabine's formula gives for the asked RT60 (`inverse_sabine`); each is
measured back (`measure_rt60`, from its 30 dB decay) and the measured value is reported.
pyroomacoustics is a development dependency only: the product never imports this module.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.hearing.audio import PIPELINE_RATE_HZ

SIDE_M = (3.0, 6.0)
"""length and width of the room (metres)"""
HEIGHT_M = (2.4, 3.0)
"""ceiling height (metres)"""
RT60_S = (0.3, 0.7)
"""asked reverberation time (seconds): a furnished bedroom to a bare living room"""
MIC_HEIGHT_M = 0.75
"""the speaker's microphone, on a table"""
MOUTH_HEIGHT_M = (0.2, 0.6)
"""the talker's mouth: lying on the floor (0.2 m) to lying on a bed (0.6 m)"""
DISTANCE_M = (1.0, 3.0)
"""from the talker's mouth to the microphone (metres, straight line)"""
NOISE_HEIGHT_M = (0.3, 1.5)
"""a tap, a dishwasher, a fan, a television"""
NOISE_AWAY_M = 1.0
"""the noise is at least this far from both the microphone and the talker (metres)"""
WALL_MARGIN_M = 0.3
"""nothing is nearer a wall than this (metres)"""
LEAD_S = 0.5
"""room sound before the word starts (seconds)"""
TRAIL_S = 2.5
"""room sound (noise, if any) after the word and its echoes (seconds): longer than the
listening goes on after a word (the patient end of a turn, 1.2 s), so the noise never stops
while the skill listens; the benchmark adds no quiet after it"""
RT60_DECAY_DB = 30
"""the RT60 is measured from the first 30 dB of the impulse response's decay (T30)"""


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded by a name (sha256): the same name, the same draws, on any machine."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"))


@dataclass(frozen=True)
class Room:
    """One simulated room: its size, its asked RT60 and where the microphone, talker and noise are."""

    seed: str
    size_m: tuple[float, float, float]
    rt60_s: float
    mic_m: tuple[float, float, float]
    talker_m: tuple[float, float, float]
    noise_m: tuple[float, float, float]
    noise_pick: float
    """a number in [0, 1): which noise clip plays (its index among the sorted clips)"""

    @property
    def distance_m(self) -> float:
        """Talker's mouth to microphone (metres)."""
        return float(np.linalg.norm(np.subtract(self.talker_m, self.mic_m)))

    def as_dict(self) -> dict[str, Any]:
        """Every parameter, rounded for a report."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = [round(x, 3) for x in v]
            elif isinstance(v, float):
                out[k] = round(v, 3)
        out["distance_m"] = round(self.distance_m, 3)
        return out


def _inside(size: np.ndarray, xy: np.ndarray) -> bool:
    return bool(np.all(xy >= WALL_MARGIN_M) and np.all(xy <= size[:2] - WALL_MARGIN_M))


def draw_room(seed: str) -> Room:
    """The room for one recording, drawn from a generator seeded by `seed`."""
    rng = rng_for(seed)
    size = np.array([rng.uniform(*SIDE_M), rng.uniform(*SIDE_M), rng.uniform(*HEIGHT_M)])
    rt60 = float(rng.uniform(*RT60_S))
    lo = np.full(2, WALL_MARGIN_M)
    mic = np.append(rng.uniform(lo, size[:2] - WALL_MARGIN_M), MIC_HEIGHT_M)
    while True:  # a talker at the drawn distance who fits in the room (redrawn until one does)
        mouth_z = rng.uniform(*MOUTH_HEIGHT_M)
        d = rng.uniform(*DISTANCE_M)
        flat = math.sqrt(max(d**2 - (MIC_HEIGHT_M - mouth_z) ** 2, 0.0))
        angle = rng.uniform(0, 2 * math.pi)
        xy = mic[:2] + flat * np.array([math.cos(angle), math.sin(angle)])
        if _inside(size, xy):
            talker = np.append(xy, mouth_z)
            break
    while True:
        noise = np.append(rng.uniform(lo, size[:2] - WALL_MARGIN_M), rng.uniform(*NOISE_HEIGHT_M))
        if min(np.linalg.norm(noise - mic), np.linalg.norm(noise - talker)) >= NOISE_AWAY_M:
            break
    pick = float(rng.uniform())

    def t(v: np.ndarray) -> tuple[float, float, float]:
        return (float(v[0]), float(v[1]), float(v[2]))

    return Room(seed, t(size), rt60, t(mic), t(talker), t(noise), pick)


def impulse_responses(room: Room) -> tuple[np.ndarray, np.ndarray]:
    """The microphone's impulse responses from the talker and from the noise (16 kHz float)."""
    import pyroomacoustics as pra

    absorption, max_order = pra.inverse_sabine(room.rt60_s, list(room.size_m))
    sim = pra.ShoeBox(list(room.size_m), fs=PIPELINE_RATE_HZ, materials=pra.Material(absorption),
                      max_order=max_order)
    sim.add_source(list(room.talker_m))
    sim.add_source(list(room.noise_m))
    sim.add_microphone(list(room.mic_m))
    sim.compute_rir()
    talker, noise = (np.asarray(sim.rir[0][i], dtype=np.float64) for i in (0, 1))
    return talker, noise


def measured_rt60(rir: np.ndarray) -> float:
    """The RT60 of an impulse response, from its 30 dB decay (Schroeder's backward integral)."""
    import pyroomacoustics as pra

    return float(pra.experimental.measure_rt60(rir, fs=PIPELINE_RATE_HZ, decay_db=RT60_DECAY_DB))


def cached_responses(room: Room, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """impulse_responses, kept in `cache` (keyed by every parameter: a changed room is new)."""
    if cache is None:
        return impulse_responses(room)
    import pyroomacoustics as pra

    key = hashlib.sha256(f"{room!r}|{pra.__version__}".encode()).hexdigest()[:24]
    path = cache / f"{key}.npz"
    try:
        with np.load(path) as f:
            return f["talker"].astype(np.float64), f["noise"].astype(np.float64)
    except (OSError, KeyError, ValueError):
        pass
    talker, noise = impulse_responses(room)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, talker=talker.astype(np.float32), noise=noise.astype(np.float32))
    tmp.replace(path)
    return talker, noise


def active_level(x: np.ndarray, rate: int = PIPELINE_RATE_HZ) -> float:
    """Mean power of the 10 ms frames within 20 dB of the loudest: the speech, not the pauses."""
    win = rate // 100
    n = len(x) // win
    power = np.mean(x[: n * win].reshape(n, win) ** 2, axis=1) if n else np.zeros(1)
    loud = power[power >= power.max() / 100.0]
    return float(loud.mean()) if loud.size else 0.0


def _looped(noise: np.ndarray, n: int, fade: int = 160) -> np.ndarray:
    """A noise clip repeated to `n` samples, each join cross-faded over `fade` samples."""
    if len(noise) >= n:
        return noise[:n]
    fade = min(fade, len(noise) // 4)
    ramp = np.linspace(0.0, 1.0, fade)
    out = noise.copy()
    while len(out) < n:
        joined = out[-fade:] * (1 - ramp) + noise[:fade] * ramp
        out = np.concatenate([out[:-fade], joined, noise[fade:]])
    return out[:n]


def fftconvolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The full linear convolution of two signals, through the FFT."""
    n = len(a) + len(b) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b, size), size)[:n]


def in_room(speech: np.ndarray, talker_rir: np.ndarray, noise: np.ndarray | None = None,
            noise_rir: np.ndarray | None = None, snr_db: float | None = None) -> np.ndarray:
    """What the microphone hears (int16): room sound, the speech with its echoes, room sound.

    The reverberant speech keeps the recording's active level (the microphone's gain suits
    the room). Noise, when given, plays from its own place in the room from the start to the
    end, at `snr_db` below the reverberant speech's active level; both are scaled down
    together if the sum would clip.
    """
    x = speech.astype(np.float64) / 32768.0
    wet = fftconvolve(x, talker_rir)
    wet *= math.sqrt(active_level(x) / max(active_level(wet), 1e-20))
    lead, trail = round(LEAD_S * PIPELINE_RATE_HZ), round(TRAIL_S * PIPELINE_RATE_HZ)
    out = np.concatenate([np.zeros(lead), wet, np.zeros(trail)])
    if noise is not None and noise_rir is not None and snr_db is not None:
        nz = fftconvolve(_looped(noise.astype(np.float64) / 32768.0, len(out) + len(noise_rir)),
                         noise_rir)[len(noise_rir): len(noise_rir) + len(out)]  # steady state
        power = float(np.mean(nz**2)) or 1e-20
        out += nz * math.sqrt(active_level(wet) / 10 ** (snr_db / 10) / power)
    peak = float(np.abs(out).max())
    if peak > 0.99:
        out *= 0.99 / peak
    return np.clip(np.round(out * 32768.0), -32768, 32767).astype(np.int16)
