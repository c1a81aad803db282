"""Audio in: WAV files and the microphone, as 16 kHz mono int16 frames for the pipeline."""

from __future__ import annotations

import logging
import os
import queue
import stat
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soxr

from voice_skill.errors import AudioError
from voice_skill.settings import Settings

log = logging.getLogger(__name__)

PIPELINE_RATE_HZ = 16000
"""the sample rate every stage after audio input works at (hertz)"""

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZE = 0xFFFFFFFF
"""data-chunk size written by recorders that never went back to fill it in"""


# --------------------------------------------------------------------------- WAV reading


MIN_RATE_HZ, MAX_RATE_HZ = 8000, 192000
"""sample rates a WAV file may have: telephone speech up to studio audio (a header that
claims 1 Hz would be resampled into a 1.5 GiB array)"""
MAX_CHANNELS = 16
MAX_WAV_S = 300.0
"""the longest WAV file read (seconds): an answer or a scenario turn is seconds long"""
MAX_WAV_BYTES = 128 * 1024 * 1024
"""the largest WAV file read: 5 minutes of 48 kHz stereo 32-bit float is 110 MiB"""


def read_wav(path: Path) -> np.ndarray:
    """Read a WAV file as int16 mono 16 kHz, whatever its rate, channels and sample format.

    Only a regular file is read (a FIFO would block for ever, /dev/zero never ends); its
    size, rate, channels and length must be sane, and float samples finite: anything else is
    an AudioError naming the file and what is allowed.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a folder opens too, and a device, a FIFO
            raise AudioError(f"{path}: not a regular file ({_file_kind(info.st_mode)});"
                             " allowed: a WAV file")
        if info.st_size > MAX_WAV_BYTES:
            raise AudioError(f"{path}: {info.st_size / 2**20:.0f} MiB; allowed: at most"
                             f" {MAX_WAV_BYTES // 2**20} MiB ({MAX_WAV_S:g} s of audio)")
        data = _read_all(fd, MAX_WAV_BYTES + 1)  # the file may have grown since
    except BlockingIOError:
        # a file of the kernel's (/proc/kmsg) that says "regular" but is a stream, empty now
        raise AudioError(f"{path}: nothing to read now (not a file of fixed content);"
                         " allowed: a WAV file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_WAV_BYTES:
        raise AudioError(f"{path}: over {MAX_WAV_BYTES // 2**20} MiB; allowed: at most"
                         f" {MAX_WAV_BYTES // 2**20} MiB ({MAX_WAV_S:g} s of audio)")
    return decode_wav(data, str(path))


def _read_all(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of `fd`, to its end, with plain reads: an error is an OSError,
    never a None or a short answer taken for the whole (as a buffered read may give)."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = os.read(fd, min(limit - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def decode_wav(data: bytes, name: str) -> np.ndarray:
    """WAV bytes as int16 mono 16 kHz; AudioError (naming `name`) for anything else."""
    samples, rate = decode_wav_native(data, name)
    return to_pipeline_format(samples, rate)


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    return next((what for test, what in kinds if test(mode)), "not a file")


def decode_wav_native(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Parse RIFF/WAVE bytes into (samples as (frames, channels) floats or ints, rate)."""
    if len(data) == 0:
        raise AudioError(f"{name}: empty file (0 bytes), not a WAV file")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        if data[:4] in (b"RIFX", b"RF64"):
            raise AudioError(f"{name}: unsupported WAV variant {data[:4]!r} (use little-endian RIFF)")
        raise AudioError(f"{name}: not a WAV file (starts with {_describe_head(data)})")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body_start = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body_start : body_start + size], name)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{name}: corrupt WAV (audio data comes before the format chunk)")
            body = data[body_start:]
            if size not in (_UNKNOWN_SIZE, 0) and size > len(body):
                raise AudioError(
                    f"{name}: truncated WAV (header promises {size} bytes of audio, only {len(body)} present)"
                )
            if size not in (_UNKNOWN_SIZE, 0):
                body = body[:size]
            return _samples_from_bytes(body, fmt, name), fmt[1]
        # Chunks are padded to an even length.
        pos = body_start + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{name}: corrupt WAV (no format chunk)")
    raise AudioError(f"{name}: corrupt or truncated WAV (no audio data chunk)")


def _describe_head(data: bytes) -> str:
    """The first bytes of a file as a person would recognise them: 'ID3', 'OggS', or hex."""
    text = ""
    for ch in data[:4].decode("latin-1"):
        if not (ch.isprintable() and ch.isascii()):
            break
        text += ch
    return repr(text) if len(text) >= 2 else f"bytes {data[:4].hex(' ')}"


def _parse_fmt(body: bytes, name: str) -> tuple[int, int, int, int]:
    """Return (format tag, rate, channels, bits per sample), rejecting what we cannot decode."""
    if len(body) < 16:
        raise AudioError(f"{name}: corrupt WAV (format chunk is {len(body)} bytes, need 16)")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _FORMAT_EXTENSIBLE and len(body) >= 26:
        # The real format is the first two bytes of the sub-format GUID.
        (tag,) = struct.unpack("<H", body[24:26])
    if channels == 0:
        raise AudioError(f"{name}: corrupt WAV (0 channels)")
    if rate == 0:
        raise AudioError(f"{name}: corrupt WAV (sample rate 0 Hz)")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise AudioError(f"{name}: sample rate {rate} Hz; allowed: {MIN_RATE_HZ} to"
                         f" {MAX_RATE_HZ} Hz")
    if channels > MAX_CHANNELS:
        raise AudioError(f"{name}: {channels} channels; allowed: 1 to {MAX_CHANNELS}")
    if tag == _FORMAT_PCM and bits in (8, 16, 24, 32):
        return tag, rate, channels, bits
    if tag == _FORMAT_FLOAT and bits in (32, 64):
        return tag, rate, channels, bits
    kind = {_FORMAT_PCM: "integer PCM", _FORMAT_FLOAT: "float"}.get(tag, f"format code {tag:#06x}")
    raise AudioError(
        f"{name}: unsupported WAV encoding ({kind}, {bits}-bit); "
        "use 8/16/24/32-bit integer PCM or 32/64-bit float"
    )


def _samples_from_bytes(body: bytes, fmt: tuple[int, int, int, int], name: str) -> np.ndarray:
    """Decode the data chunk into a (frames, channels) array of its native sample type."""
    tag, rate, channels, bits = fmt
    frame_bytes = channels * bits // 8
    usable = len(body) - len(body) % frame_bytes
    if usable == 0:
        raise AudioError(f"{name}: empty WAV (no audio samples)")
    if (seconds := usable / frame_bytes / rate) > MAX_WAV_S:
        raise AudioError(f"{name}: {seconds:.0f} s of audio; allowed: at most {MAX_WAV_S:g} s"
                         " (an answer or a scenario turn)")
    body = body[:usable]
    if tag == _FORMAT_FLOAT:
        flat: np.ndarray = np.frombuffer(body, dtype="<f4" if bits == 32 else "<f8")
        if not np.isfinite(flat).all():  # NaN would come out as loud noise, even as speech
            raise AudioError(f"{name}: float samples that are not numbers (NaN or infinite);"
                             " allowed: finite samples")
    elif bits == 8:
        flat = np.frombuffer(body, dtype=np.uint8)
    elif bits == 16:
        flat = np.frombuffer(body, dtype="<i2")
    elif bits == 24:
        raw = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
        # The 3 bytes go to the top of an int32: the sign comes out right, full int32 scale.
        flat = ((raw[:, 0] << 8) | (raw[:, 1] << 16) | (raw[:, 2] << 24)).view(np.int32)
    else:
        flat = np.frombuffer(body, dtype="<i4")
    return flat.reshape(-1, channels)


# --------------------------------------------------------------------------- conversion


def to_pipeline_format(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """Convert any dtype, shape (n,) or (n, channels), and rate to int16 mono 16 kHz."""
    arr = np.asarray(samples)
    if arr.ndim not in (1, 2):
        raise AudioError(f"audio must be 1-D or (frames, channels), got shape {arr.shape}")
    if rate_hz <= 0:
        raise AudioError(f"sample rate must be positive, got {rate_hz} Hz")
    if arr.dtype == np.int16 and arr.ndim == 1 and rate_hz == PIPELINE_RATE_HZ:
        return arr.copy()
    mono = _to_float(arr)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    if rate_hz != PIPELINE_RATE_HZ and mono.size:
        mono = soxr.resample(mono, rate_hz, PIPELINE_RATE_HZ)
    return _float_to_int16(mono)


def _to_float(arr: np.ndarray) -> np.ndarray:
    """Scale samples of any type to float32 in -1..1."""
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(arr.dtype, np.integer):
        scale = float(np.iinfo(arr.dtype).max) + 1.0
        return (arr.astype(np.float64) / scale).astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32)
    raise AudioError(f"unsupported sample type {arr.dtype}")


def _float_to_int16(x: np.ndarray) -> np.ndarray:
    """Round -1..1 floats to int16, clipping what overshoots (resampling can ring past 1.0)."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    """Int16 silence of that length at 16 kHz (to pad or build test streams)."""
    return np.zeros(round(seconds * PIPELINE_RATE_HZ), dtype=np.int16)


def frame_samples_for(frame_ms: int) -> int:
    """Samples in one frame of `frame_ms` milliseconds at 16 kHz."""
    return PIPELINE_RATE_HZ * frame_ms // 1000


# --------------------------------------------------------------------------- sources


class AudioSource(Protocol):
    """Anything that yields fixed-size 16 kHz mono int16 frames."""

    frame_samples: int

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame; None at the end of a stream, or (live input) after `timeout_s`."""
        ...

    def flush(self) -> None:
        """Discard audio captured so far (so the skill never hears itself speak)."""
        ...

    def close(self) -> None:
        """Release the file or device."""
        ...


class WavSource:
    """A WAV file (or an int16 array) played as frames, then the end of the stream."""

    def __init__(
        self,
        audio: Path | str | np.ndarray,
        settings: Settings | None = None,
        frame_ms: int | None = None,
    ) -> None:
        ms = frame_ms if frame_ms is not None else (settings or Settings()).frame_ms
        self.frame_samples = frame_samples_for(ms)
        if isinstance(audio, np.ndarray):
            self.name = "<array>"
            self._audio = to_pipeline_format(audio, PIPELINE_RATE_HZ)
        else:
            self.name = str(audio)
            self._audio = read_wav(Path(audio))
        self._pos = 0

    @property
    def position_s(self) -> float:
        """Audio time of the next frame (seconds from the start)."""
        return self._pos / PIPELINE_RATE_HZ

    @property
    def duration_s(self) -> float:
        """Length of the whole stream (seconds)."""
        return len(self._audio) / PIPELINE_RATE_HZ

    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The next frame (the last one padded with silence), or None at the end."""
        if self._pos >= len(self._audio):
            return None
        frame = self._audio[self._pos : self._pos + self.frame_samples]
        self._pos += self.frame_samples
        if len(frame) < self.frame_samples:
            frame = np.concatenate([frame, np.zeros(self.frame_samples - len(frame), np.int16)])
        return frame

    def flush(self) -> None:
        """Nothing to discard: a file holds no audio captured while the skill spoke."""

    def close(self) -> None:
        """Stop the stream; later reads return None."""
        self._pos = len(self._audio)


class MicrophoneSource:
    """Live input through PortAudio (sounddevice), converted to 16 kHz mono frames."""

    FIRST_AUDIO_TIMEOUT_S = 5.0
    """a device that opens but sends nothing for this long counts as broken (seconds)"""
    STALL_S = 3.0
    """an open device that has sent nothing for this long is gone (it sends every few ms)"""
    QUEUE_SECONDS = 60.0
    """audio kept while nobody reads (seconds); older blocks are dropped and counted"""

    def __init__(
        self,
        settings: Settings | None = None,
        device: str | int | None = None,
        samplerate_hz: int | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._forced_rate = samplerate_hz
        self.frame_samples = frame_samples_for(self.settings.frame_ms)
        self.device = parse_device(device if device is not None else self.settings.input_device)
        self.overflows = 0
        """blocks PortAudio reported as overrun, plus blocks dropped because nobody read"""
        self._logged_overflows = 0
        self._stream: Any = None
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._buffer = np.zeros(0, dtype=np.int16)
        self._resampler: Any = None
        self._lost = threading.Event()
        self._closed = False
        self.rate_hz = 0
        self.read_samples = 0
        """16 kHz samples read or flushed since the device opened: where read() is"""
        self._captured = 0  # device samples the callback received
        self._last_block_at = 0.0  # time.monotonic() of the last block the device sent
        self._open()

    @property
    def device_label(self) -> str:
        """The device as the person named it, for messages."""
        return "default" if self.device is None else str(self.device)

    def _open(self) -> None:
        sd = load_sounddevice()
        label = self.device_label
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            if self.device is not None:
                check_device(str(self.device), "input")  # names the microphones there are
            raise AudioError(f"No microphone found (device {label!r}): {exc}") from exc
        if int(info["max_input_channels"]) < 1:
            raise AudioError(f"No microphone found (device {label!r}): it has no input channels")
        self.rate_hz = self._pick_rate(sd, float(info["default_samplerate"]))
        self._resampler = (
            None
            if self.rate_hz == PIPELINE_RATE_HZ
            else soxr.ResampleStream(self.rate_hz, PIPELINE_RATE_HZ, 1, dtype="float32")
        )
        maxblocks = max(1, int(self.QUEUE_SECONDS * 1000 / self.settings.frame_ms))
        self._queue = queue.Queue(maxsize=maxblocks)
        self._lost.clear()
        self.read_samples = self._captured = 0
        block = round(self.rate_hz * self.settings.frame_ms / 1000)
        try:
            stream = sd.InputStream(
                device=self.device,
                channels=1,
                samplerate=self.rate_hz,
                dtype="float32",
                blocksize=block,
                callback=self._callback,
                finished_callback=self._lost.set,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(
                f"Microphone {label!r} could not be opened (busy, unplugged or no permission?): {exc}"
            ) from exc
        self._stream = stream
        # Wait for the first block: a device can open fine and then deliver nothing, and the
        # first stream of a process can take ~2 s to start (measured through ALSA's pulse
        # plugin); better to know here than to mistake it for a silent person later.
        t0 = time.monotonic()
        while self._queue.empty():
            if self._lost.is_set() or time.monotonic() - t0 > self.FIRST_AUDIO_TIMEOUT_S:
                self._close_stream()
                raise AudioError(
                    f"Microphone {label!r} opened but delivered no audio within"
                    f" {self.FIRST_AUDIO_TIMEOUT_S:g} s (muted, busy or unplugged?)"
                )
            time.sleep(0.01)
        log.info(
            "microphone %r open at %d Hz (first audio after %.2f s)",
            label,
            self.rate_hz,
            time.monotonic() - t0,
        )

    def _pick_rate(self, sd: Any, default_rate: float) -> int:
        """16 kHz when the device takes it (no resampling), else its own default rate."""
        if self._forced_rate:
            return self._forced_rate
        try:
            sd.check_input_settings(
                device=self.device, channels=1, samplerate=PIPELINE_RATE_HZ, dtype="float32"
            )
            return PIPELINE_RATE_HZ
        except (sd.PortAudioError, ValueError):
            return int(default_rate)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's thread: only queue (and count), never block, log or convert here.
        if status.input_overflow:
            self.overflows += 1
        self._last_block_at = time.monotonic()
        try:
            self._queue.put_nowait(indata[:, 0].copy())
            self._captured += frames
        except queue.Full:
            self.overflows += 1

    def captured_samples(self) -> int:
        """16 kHz samples the device has captured so far: the microphone's clock, now."""
        return self._captured * PIPELINE_RATE_HZ // max(self.rate_hz, 1)

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next 16 kHz frame, or None if none arrived within `timeout_s`."""
        if self._closed:
            raise AudioError(f"Microphone {self.device_label!r} is closed")
        try:
            while len(self._buffer) < self.frame_samples:
                try:
                    block = self._queue.get(timeout=max(timeout_s, 0.0))
                except queue.Empty:
                    self._check_alive()
                    return None
                self._append(block)
        finally:
            self._log_overflows()
        frame, self._buffer = self._buffer[: self.frame_samples], self._buffer[self.frame_samples :]
        self.read_samples += len(frame)
        return frame

    def _append(self, block: np.ndarray) -> None:
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block)
        self._buffer = np.concatenate([self._buffer, _float_to_int16(block)])

    def _check_alive(self) -> None:
        """Raise if the stream died under us (device unplugged or taken away)."""
        stream = self._stream
        stalled = time.monotonic() - self._last_block_at > self.STALL_S
        if self._lost.is_set() or stream is None or not stream.active or stalled:
            raise AudioError(
                f"Microphone {self.device_label!r} stopped delivering audio (unplugged?);"
                " reconnect it and try again"
            )

    def _log_overflows(self) -> None:
        if self.overflows > self._logged_overflows:
            log.warning(
                "microphone %r: %d audio block(s) lost (input overflow); total %d",
                self.device_label,
                self.overflows - self._logged_overflows,
                self.overflows,
            )
            self._logged_overflows = self.overflows

    def flush(self) -> None:
        """Drop everything captured so far (e.g. the skill's own voice)."""
        dropped = 0
        while True:
            try:
                dropped += len(self._queue.get_nowait())
            except queue.Empty:
                break
        self.read_samples += dropped * PIPELINE_RATE_HZ // max(self.rate_hz, 1) + len(self._buffer)
        self._buffer = np.zeros(0, dtype=np.int16)
        if self._resampler is not None:
            self._resampler = soxr.ResampleStream(self.rate_hz, PIPELINE_RATE_HZ, 1, dtype="float32")

    def reopen(self) -> None:
        """Close and open the device again, rescanning devices (after an unplug or a busy error)."""
        self._close_stream()
        sd = load_sounddevice()
        # PortAudio lists devices once at start-up; restart it so a re-plugged device is seen.
        sd._terminate()
        sd._initialize()
        self._buffer = np.zeros(0, dtype=np.int16)
        self._closed = False
        self._open()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close(ignore_errors=True)
            except Exception as exc:  # a vanished device may fail to close; nothing to save
                log.debug("closing microphone %r: %s", self.device_label, exc)

    def close(self) -> None:
        """Stop recording and release the device."""
        self._closed = True
        self._close_stream()

    def __enter__(self) -> MicrophoneSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_device(device: str | int | None) -> str | int | None:
    """A numeric string means a device index, as `python -m sounddevice` lists them."""
    if isinstance(device, str):
        text = device.strip()
        if text.isdigit():
            return int(text)
        return text or None
    return device


def load_sounddevice() -> Any:
    """Import sounddevice late: PortAudio scans devices at import, and a missing lib is an error."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioError(
            f"No microphone support: the PortAudio library is missing ({exc}); install libportaudio2"
        ) from exc
    return sounddevice


def pcm_bytes(audio: np.ndarray) -> bytes:
    """The audio as little-endian 16-bit bytes, after checking it is what the engines need
    (every recognizer checks its input with this)."""
    arr = np.asarray(audio)
    if arr.dtype != np.int16 or arr.ndim != 1:
        raise AudioError(
            f"recognizer input must be 1-D int16 audio at {PIPELINE_RATE_HZ} Hz,"
            f" got {arr.dtype} with shape {arr.shape}"
        )
    return arr.astype("<i2", copy=False).tobytes()


@dataclass(frozen=True)
class Device:
    """One audio device as PortAudio lists it."""

    index: int
    name: str
    inputs: int
    outputs: int
    default_input: bool
    default_output: bool


def list_devices() -> list[Device]:
    """Every audio device PortAudio sees, with its channels and whether it is a default."""
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = (int(i) if i is not None else -1 for i in sd.default.device)
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio devices: {exc}") from exc
    return [Device(i, str(d["name"]), int(d["max_input_channels"]),
                   int(d["max_output_channels"]), i == default_in, i == default_out)
            for i, d in enumerate(devices)]


def device_table(devices: list[Device]) -> str:
    """The devices as a person reads them: microphones, then speakers, defaults marked."""
    lines = []
    for title, kind in (("Microphones", "inputs"), ("Speakers", "outputs")):
        lines.append(f"{title}:")
        found = [d for d in devices if getattr(d, kind)]
        for d in found:
            default = d.default_input if kind == "inputs" else d.default_output
            lines.append(f"  {d.index:>3}  {d.name}{'  (default)' if default else ''}")
        if not found:
            lines.append("  none")
    return "\n".join(lines)


def check_device(name: str | None, kind: str) -> None:
    """Raise AudioError naming the devices there are when `name` (an input or output) is not
    one of them; None, the system default, always passes."""
    device = parse_device(name)
    if device is None:
        return
    sd = load_sounddevice()
    try:
        sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        channels = "inputs" if kind == "input" else "outputs"
        there = ", ".join(repr(d.name) for d in list_devices() if getattr(d, channels)) or "none"
        what = "microphone" if kind == "input" else "speaker"
        raise AudioError(f"No {what} {name!r} here ({exc}). {what.capitalize()}s: {there}") from exc
