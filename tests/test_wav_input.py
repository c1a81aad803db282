"""Hostile WAV files end in one clear line naming the file and what is allowed.

Issue 16; docs/failure-modes.md."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from typed_session import SKILL

from voice_skill.errors import AudioError
from voice_skill.hearing.audio import read_wav


def wav_bytes(tag: int, channels: int, rate: int, bits: int, data: bytes,
              size: int | None = None) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8,
                      channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data) if size is None else size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.wav"
    link.symlink_to("/dev/zero")
    with pytest.raises(AudioError, match=r"zero\.wav: not a regular file \(a device\); allowed"):
        read_wav(link)


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "answer.wav"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(AudioError, match=r"answer\.wav: not a regular file \(a FIFO\)"):
        read_wav(fifo)
    assert time.monotonic() - t0 < 1.0


def test_a_header_claiming_1_hz_is_refused_before_any_allocation(tmp_path: Path) -> None:
    path = tmp_path / "one_hz.wav"
    path.write_bytes(wav_bytes(1, 1, 1, 16, bytes(20_000)))
    with pytest.raises(AudioError, match=r"one_hz\.wav: sample rate 1 Hz; allowed: 8000 to"):
        read_wav(path)


def test_ten_minutes_of_silence_is_a_clear_limit(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    path.write_bytes(wav_bytes(1, 1, 16000, 16, bytes(16000 * 2 * 600)))
    with pytest.raises(AudioError, match=r"600 s of audio; allowed: at most 300 s"):
        read_wav(path)


def test_the_recognize_command_hears_a_long_quiet_file_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"  # over Whisper's 30 s window, under the length limit
    path.write_bytes(wav_bytes(1, 1, 16000, 16, bytes(16000 * 2 * 45)))
    done = subprocess.run([*SKILL, "recognize", "--state", "opening", str(path), "--engine",
                           "whisper"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["intent"] == "no_match"


def test_nan_samples_are_refused_not_heard(tmp_path: Path) -> None:
    samples = np.full(16000, np.nan, dtype="<f4")
    path = tmp_path / "nan.wav"
    path.write_bytes(wav_bytes(3, 1, 16000, 32, samples.tobytes()))
    with pytest.raises(AudioError, match=r"nan\.wav: .*NaN or infinite.*allowed: finite"):
        read_wav(path)


@pytest.mark.parametrize("make", ["dev_zero", "fifo", "one_hz", "nan"])
def test_the_recognize_command_names_each_bad_file_in_one_line(tmp_path: Path, make: str) -> None:
    path = tmp_path / f"{make}.wav"
    if make == "dev_zero":
        path.symlink_to("/dev/zero")
    elif make == "fifo":
        os.mkfifo(path)
    elif make == "one_hz":
        path.write_bytes(wav_bytes(1, 1, 1, 16, bytes(20_000)))
    else:
        path.write_bytes(wav_bytes(3, 1, 16000, 32, np.full(800, np.nan, "<f4").tobytes()))
    done = subprocess.run([*SKILL, "recognize", "--state", "opening", str(path), "--engine",
                           "pocketsphinx"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    out = json.loads(done.stdout)
    assert out["file"] == str(path) and "allowed" in out["error"]


def test_the_recognize_command_names_a_folder_and_goes_on_to_the_next_files(
        tmp_path: Path) -> None:
    """A folder among the files (`recognize --state opening recordings/ yes.wav`): it was a
    traceback, and the files after it were never heard."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    yes = Path(__file__).parent / "data" / "asr" / "yes.wav"
    done = subprocess.run([*SKILL, "recognize", "--state", "opening", str(folder),
                           "/proc/self/mem", str(yes), "--engine", "pocketsphinx"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {"file": str(folder), "error": f"{folder}: not a regular file (a folder);"
                        " allowed: a WAV file"}
    assert lines[1]["file"] == "/proc/self/mem" and "cannot be read" in lines[1]["error"]
    assert lines[2]["file"] == str(yes) and lines[2]["intent"] == "yes"


def test_a_regular_file_with_nothing_to_read_now_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel file that says it is regular but is a stream (/proc/kmsg when no message is
    waiting): its non-blocking read has nothing (Python's buffered read gave None, and
    `len(None)` was a TypeError traceback). The read is stood in for: no ordinary user can
    open such a file, and reading /proc/kmsg would take the kernel's messages from syslog."""
    path = tmp_path / "kmsg"
    path.write_bytes(wav_bytes(1, 1, 16000, 16, bytes(3200)))

    def nothing_now(fd: int, n: int) -> bytes:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "read", nothing_now)
    with pytest.raises(AudioError, match=r"kmsg: nothing to read now \(not a file of fixed"
                                         r" content\); allowed: a WAV file"):
        read_wav(path)


@pytest.mark.skipif(not os.access("/proc/kmsg", os.R_OK), reason="/proc/kmsg: root only")
def test_proc_kmsg_is_one_error_line(tmp_path: Path) -> None:
    """The real /proc/kmsg, when no kernel message waits (so reading takes none from syslog)."""
    import select

    fd = os.open("/proc/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        waiting = select.select([fd], [], [], 0)[0]
    finally:
        os.close(fd)
    if waiting:
        pytest.skip("kernel messages are waiting in /proc/kmsg: not taken from syslog here")
    done = subprocess.run([*SKILL, "recognize", "--state", "opening", "/proc/kmsg", "--engine",
                           "pocketsphinx"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["file"] == "/proc/kmsg"
