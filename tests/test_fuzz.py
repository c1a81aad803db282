"""Fuzzing (Hypothesis): typed answers through whole sessions, bytes through the WAV reader.

Issue 16: whatever is typed, a session ends with an `ended` event, never a traceback or a
hang; whatever a WAV file holds, the reader gives pipeline audio or one AudioError. 1,000
examples each, in-process, a few seconds each.
"""

from __future__ import annotations

import contextlib
import io
import signal
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_skill.clock import WallClock
from voice_skill.dialogue.dialog import load_dialog
from voice_skill.dialogue.intents import IntentMatcher
from voice_skill.errors import AudioError
from voice_skill.events import SessionEnded, SessionEvent
from voice_skill.front.live import _console_sink, _json_sink
from voice_skill.front.text_input import TextListener
from voice_skill.hearing.audio import decode_wav
from voice_skill.session import Session
from voice_skill.session_log import SessionLog
from voice_skill.settings import Settings
from voice_skill.speaking.tts import NullSpeaker

DIALOG = load_dialog()
MATCHER = IntentMatcher(DIALOG)
HANG_S = 10.0
"""one whole session, however long its input, takes well under this"""
EXAMPLES = settings(max_examples=1000, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Hung(Exception):
    """A session took longer than HANG_S."""


@contextlib.contextmanager
def no_hang() -> Iterator[None]:
    def alarm(_sig: int, _frame: FrameType | None) -> None:
        raise Hung(f"no end after {HANG_S:g} s")

    before = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


# Answers people give, commands, and anything at all, so sessions go deep as well as wide.
WORDS = st.sampled_from(["yes", "no", "not sure", "seven", "about a 7", "10", "repeat",
                         "slower", "pause", "continue", "how long is left", "ready", "ice",
                         "heat", "i can't move", "stop", "help", "", " ", "\t", "\r"])
LINE = st.one_of(WORDS, st.text(max_size=80), st.text(alphabet=st.characters(), max_size=300),
                 st.binary(max_size=120).map(lambda b: b.decode("latin-1")))


def encoded(lines: list[str], raw_tail: bytes) -> bytes:
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + raw_tail
    return data


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@EXAMPLES
@given(lines=st.lists(LINE, max_size=40), raw_tail=st.binary(max_size=40),
       json_out=st.booleans())
def test_any_typed_answers_end_the_session_politely(log_dir: Path, lines: list[str],
                                                    raw_tail: bytes, json_out: bool) -> None:
    events: list[SessionEvent] = []
    with tempfile.TemporaryFile() as typed, contextlib.redirect_stdout(io.StringIO()) as shown, \
            no_hang():
        typed.write(encoded(lines, raw_tail))
        typed.seek(0)
        log = SessionLog(log_dir)  # sessions in the same second append to one file
        sinks = [events.append, log.write, _json_sink if json_out else _console_sink(False)]
        stream = io.TextIOWrapper(typed, encoding="utf-8")  # fileno() is all the listener uses
        run = Session(DIALOG, Settings(), WallClock(), TextListener(stream), NullSpeaker(), sinks)
        run.matcher = MATCHER  # its grammars are built once, not per example
        end = run.run()
        log.close()
        assert log.failed is None
        assert log.path.read_bytes().endswith(b"}\n")
    assert isinstance(end, SessionEnded) and isinstance(events[-1], SessionEnded)
    assert shown.getvalue()


# ---- WAV bytes --------------------------------------------------------------------------------

TAGS = st.one_of(st.sampled_from([1, 3, 0xFFFE]), st.integers(0, 0xFFFF))
RATES = st.one_of(st.sampled_from([0, 1, 7999, 8000, 16000, 22050, 44100, 192000, 192001,
                                   0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF))
BITS = st.one_of(st.sampled_from([0, 8, 16, 24, 32, 64]), st.integers(0, 0xFFFF))
SIZES = st.one_of(st.none(), st.sampled_from([0, 1, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF))


@st.composite
def wav_files(draw: st.DrawFn) -> bytes:
    """RIFF files with hostile but plausible headers, some cut short or padded."""
    tag, channels, rate, bits = draw(TAGS), draw(st.integers(0, 40)), draw(RATES), draw(BITS)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, draw(st.integers(0, 0xFFFFFFFF)),
                      draw(st.integers(0, 0xFFFF)), bits)
    if tag == 0xFFFE or draw(st.booleans()):
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", draw(TAGS)) + bytes(14)
    fmt = fmt[:draw(st.integers(0, len(fmt)))] if draw(st.integers(0, 9)) == 0 else fmt
    if draw(st.booleans()):
        data = draw(st.binary(max_size=4096))
    else:  # real-looking samples, with NaN and infinities among float ones
        floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
        data = np.array(draw(st.lists(floats, max_size=512)), dtype="<f4").tobytes()
    chunks = [b"fmt " + struct.pack("<I", len(fmt)) + fmt]
    if draw(st.booleans()):
        extra = draw(st.binary(max_size=64))
        chunks.insert(draw(st.integers(0, 1)), b"LIST" + struct.pack("<I", draw(SIZES) or
                                                                         len(extra)) + extra)
    size = draw(SIZES)
    chunks.append(b"data" + struct.pack("<I", len(data) if size is None else size) + data)
    if draw(st.booleans()):
        chunks.reverse()
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", draw(SIZES) or len(body)) + body


@EXAMPLES
@given(data=st.one_of(wav_files(), st.binary(max_size=256),
                      st.binary(max_size=64).map(lambda b: b"RIFF\0\0\0\0WAVE" + b)))
def test_any_wav_bytes_give_audio_or_one_clean_error(data: bytes) -> None:
    try:
        audio = decode_wav(data, "fuzz.wav")
    except AudioError as exc:
        assert str(exc).startswith("fuzz.wav") or "audio" in str(exc)
        assert "\n" not in str(exc)
        return
    assert audio.dtype == np.int16 and audio.ndim == 1
