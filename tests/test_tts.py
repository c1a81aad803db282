"""Speech out: real espeak-ng speech into the virtual speaker, and every way the engine can fail."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pulse_rig import PulseRig, SpeakerRecorder, rms

from voice_skill.hearing.audio import WavSource, read_wav, to_pipeline_format
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.settings import Settings
from voice_skill.speaking.tts import (
    ConsoleSpeaker,
    NullSpeaker,
    Pyttsx3Speaker,
    WavSpeaker,
    estimate_speech_s,
    slugify,
)

LONG_TEXT = (
    "Lie on your back with your knees bent and your feet flat on the floor. Breathe slowly "
    "in through your nose and out through your mouth. Let your back sink into the floor, and "
    "tell me when you are ready for the next step of the exercise."
)


# Worker doubles: module level, so the spawned child can import them by name.
def hanging_worker(cmd: Connection, evt: Connection, config: dict[str, Any]) -> None:
    """An engine that starts, then never speaks (pyttsx3 issue #126)."""
    evt.send(("ready", 0.0, "hanging"))
    while True:
        time.sleep(1)


def dying_worker(cmd: Connection, evt: Connection, config: dict[str, Any]) -> None:
    """An engine that crashes on the first reply."""
    evt.send(("ready", 0.0, "dying"))
    cmd.recv()
    os._exit(3)


def speech_in(audio: np.ndarray) -> float:
    """Seconds of speech the endpointer finds in a recording (0 for none)."""
    segment = Endpointer(Settings(end_silence_s=1.0)).listen(WavSource(audio), 30.0)
    return 0.0 if segment is None else segment.duration_s


# --------------------------------------------------------------------------- faults


def test_hung_engine_returns_within_the_limit_and_shows_the_words() -> None:
    out, faults = io.StringIO(), list[str]()
    settings = Settings(tts_timeout_s=1.0)
    speaker = Pyttsx3Speaker(settings, faults.append, worker_target=hanging_worker, stream=out,
                             fallback=False)  # the printing, alone
    try:
        t0 = time.perf_counter()
        speaker.say("Lie on your back.")
        first_s = time.perf_counter() - t0
        speaker.say("Bend your knees.")  # the restarted engine is not waited for
        speaker.say("Breathe slowly.")
    finally:
        speaker.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Speech output failed (the speech engine hung")
    assert lines[0].endswith("showing the words instead.")
    assert lines[1:] == ["Lie on your back.", "Bend your knees.", "Breathe slowly."]
    assert len(faults) == 1 and "hung" in faults[0]  # said once, not per reply
    assert "hung" in speaker.faults[0]
    assert first_s < 20  # 1 s limit plus the worker's start-up; never hangs for good
    assert speaker.last_first_audio_s is None and speaker.last_spoken_by == "printed"


def test_crashed_engine_shows_the_words() -> None:
    out, faults = io.StringIO(), list[str]()
    speaker = Pyttsx3Speaker(Settings(), faults.append, worker_target=dying_worker, stream=out,
                             fallback=False)
    try:
        speaker.say("Can you move your legs?")
    finally:
        speaker.close()
    lines = out.getvalue().splitlines()
    assert "died (exit code 3)" in lines[0]
    assert lines[1] == "Can you move your legs?"
    assert len(faults) == 1


def test_missing_engine_shows_the_words_once_told() -> None:
    """An engine pyttsx3 cannot load (as with espeak-ng missing): printed, said once."""
    out, faults = io.StringIO(), list[str]()
    speaker = Pyttsx3Speaker(Settings(), faults.append, driver_name="no_such_engine", stream=out,
                             fallback=False)
    try:
        speaker.say("Are you able to lie down?")
        speaker.say("Good.")
    finally:
        speaker.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Speech output failed (the speech engine cannot start")
    assert "no_such_engine" in lines[0]
    assert lines[1:] == ["Are you able to lie down?", "Good."]
    assert len(faults) == 1
    assert len(speaker.faults) == 1  # no restart for an engine that cannot exist


def test_no_audio_output_device_shows_the_words() -> None:
    """Neither the worker nor espeak-ng called directly can play: the words are printed."""
    out, faults = io.StringIO(), list[str]()
    speaker = Pyttsx3Speaker(Settings(), faults.append, output_device="no-such-output", stream=out)
    try:
        speaker.say("I will show the steps here.")
    finally:
        speaker.close()
    lines = out.getvalue().splitlines()
    assert "no audio output" in lines[0] and "espeak-ng: could not play" in lines[0]
    assert lines[1] == "I will show the steps here."
    assert speaker.last_spoken_by == "printed"


# --------------------------------------------------------------------------- real speech


def say_aloud(rig: PulseRig) -> tuple[np.ndarray, list[str], str, Pyttsx3Speaker]:
    """A real speaker's reply, recorded at the virtual speaker: the audio, the faults reported,
    what was printed instead of spoken, and the (closed) speaker."""
    out, faults = io.StringIO(), list[str]()
    speaker = Pyttsx3Speaker(Settings(), faults.append, stream=out)
    try:
        recorder = rig.speaker_recorder()
        speaker.say("Please lie still on your back.")
        time.sleep(0.3)
        heard = recorder.stop()
    finally:
        speaker.close()
    return heard, faults, out.getvalue(), speaker


@pytest.mark.audio
def test_speaks_into_the_speaker(pulse_rig: PulseRig) -> None:
    heard, faults, printed, speaker = say_aloud(pulse_rig)
    assert printed == "" and faults == []
    assert rms(heard) > 300, "the speaker stayed silent"
    assert 0.5 < speech_in(heard) < 4.0  # six words at 140 wpm; a busy machine may drop a bit
    assert speaker.last_first_audio_s is not None
    assert speaker.worker_start_s is not None


@pytest.mark.audio
def test_stop_cuts_speech_short(pulse_rig: PulseRig) -> None:
    out = io.StringIO()
    speaker = Pyttsx3Speaker(Settings(), stream=out)
    try:
        speaker.say("Ready.")  # the engine is up before the timed part
        recorder = pulse_rig.speaker_recorder()
        timer = threading.Timer(1.0, speaker.stop)
        timer.start()
        t0 = time.perf_counter()
        speaker.say(LONG_TEXT)
        took = time.perf_counter() - t0
        time.sleep(0.5)
        heard = recorder.stop()
        speaker.say("Still here.")  # a stopped engine keeps working
    finally:
        timer.cancel()
        speaker.close()
    full = estimate_speech_s(LONG_TEXT, 140)
    assert full > 15
    assert took < full / 2
    assert 0.3 < speech_in(heard) < full / 2
    assert out.getvalue() == ""  # a stop is not a fault


@pytest.mark.audio
def test_replies_play_on_one_stream_each_exactly_where_the_speaker_says(pulse_rig: PulseRig) -> None:
    """Where the skill's canceller listens over its speech, every reply plays on one output
    stream kept open, and the speaker tells where on it each began. Recorded at the speaker,
    each reply sounds the same time after its place on the stream (to a sample or two), so the
    echo canceller, told the place, knows where each reply's echo comes from the first one
    measured (a stream per reply moved it 93-169 ms)."""
    told: list[tuple[np.ndarray, int, tuple[str, int] | None]] = []
    speaker = Pyttsx3Speaker(Settings(safety_words_over_speech=True))  # the canceller listens
    speaker.on_playback = lambda audio, rate, where: told.append((audio, rate, where))
    try:
        speaker.say("Ready.")  # the engine is up
        recorder = pulse_rig.speaker_recorder()
        for text in ("Lie on your back.", "Bend your knees.", "Breathe in.", "Breathe out."):
            speaker.say(text)
            time.sleep(0.3)
        heard = recorder.stop().astype(np.float64)
    finally:
        speaker.close()
    offsets: dict[str, list[float]] = {}
    for audio, rate, where in told[1:]:
        assert where is not None  # played on the kept stream
        reply = to_pipeline_format(audio, rate).astype(np.float64)
        # where the reply is in the recording: the peak of their cross-correlation
        size = 1 << (len(heard) + len(reply)).bit_length()
        corr = np.fft.irfft(np.fft.rfft(heard, size) * np.conj(np.fft.rfft(reply, size)), size)
        at = int(np.argmax(corr[: len(heard)]))
        offsets.setdefault(where[0], []).append(at - where[1] * 16000 / rate)
    # an underflow on a loaded machine starts a new clock: replies are compared on one clock
    same = [o for o in offsets.values() if len(o) > 1]
    assert same, offsets
    for o in same:
        assert max(o) - min(o) <= 2, offsets  # samples at 16 kHz


# --------------------------------------------------------------------------- other speakers


def test_wav_speaker_writes_real_speech(tmp_path: Path) -> None:
    speaker = WavSpeaker(tmp_path / "out", Settings())
    speaker.say("Can you move your legs?")
    speaker.say("Call 9 1 1 now!")
    names = [path.name for _, path in speaker.spoken]
    assert names == ["001_can_you_move_your_legs.wav", "002_call_9_1_1_now.wav"]
    audio = read_wav(speaker.spoken[0][1])
    assert 0.8 < speech_in(audio) < 3.0
    assert speaker.last_first_audio_s is not None


def test_slower_rate_makes_longer_speech(tmp_path: Path) -> None:
    speaker = WavSpeaker(tmp_path, Settings())
    speaker.say(LONG_TEXT)
    speaker.set_rate_factor(0.6)
    speaker.say(LONG_TEXT)
    normal, slow = (len(read_wav(path)) for _, path in speaker.spoken)
    assert slow > normal * 1.4


def test_wav_speaker_without_espeak_reports_instead_of_raising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    speaker = WavSpeaker(tmp_path / "out", Settings())
    speaker.say("Hello.")
    assert speaker.spoken == []
    assert "espeak-ng is not installed" in speaker.faults[0]


def test_console_speaker_prints_each_reply() -> None:
    out = io.StringIO()
    speaker = ConsoleSpeaker(out)
    speaker.say("First.")
    speaker.say("Second.")
    assert out.getvalue() == "First.\nSecond.\n"


def test_null_speaker_is_silent_but_remembers(capsys: pytest.CaptureFixture[str]) -> None:
    speaker = NullSpeaker()
    speaker.say("Nothing to hear.")
    assert speaker.said == ["Nothing to hear."]
    assert capsys.readouterr().out == ""


def test_slugify() -> None:
    assert slugify("Can you move?") == "can_you_move"
    assert slugify("!!!") == "reply"
    assert len(slugify("word " * 40)) <= 40


def test_what_the_wav_speaker_says_is_heard_back_as_its_words(tmp_path: Path) -> None:
    """What the skill writes goes back through the same input path as a person's voice (16 kHz
    WAV, endpointing, the bundled recognizer) and is heard as what it said."""
    from voice_skill.hearing.recognizers import recognizer_for
    from voice_skill.hearing.voice_input import hear_recording

    speaker = WavSpeaker(tmp_path, Settings())
    speaker.say("No.")
    audio = read_wav(speaker.spoken[0][1])
    settings = Settings(log_enabled=False)
    heard = hear_recording(audio, settings, recognizer_for(settings, "whisper"), "opening",
                           ("yes", "no"))
    assert heard.utterance is not None and heard.utterance.text == "no"


# --------------------------------------------------------------------------- speech comes back


def worker_pids(parent: int) -> list[int]:
    """The speech workers among a process's children (multiprocessing's spawned children)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    found = []
    for pid in children:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
    return found


def recognized(audio: np.ndarray) -> str:
    """What the bundled Whisper hears in a recording of the speaker (free text, lower case),
    from its first sound to its last. Whisper tiny.en's reading of this synthetic voice turns on
    where the words begin in its window: of 31 recordings of one fallback reply, played whole and
    intact (the same 2.08 s of sound), 5 were misread ("please go i want one now") with 0.3 s of
    quiet before them, none of 61 with 0 or 0.2 s."""
    from voice_skill.hearing.recognizers import recognizer_for

    sounding = np.flatnonzero(np.abs(audio) > 50)
    if len(sounding):
        audio = audio[sounding[0]: sounding[-1] + 1]
    settings = Settings(log_enabled=False)
    return recognizer_for(settings, "whisper").recognize(audio, None, "").text.lower()


@pytest.mark.audio
def test_a_speech_worker_killed_again_and_again_keeps_being_heard(pulse_rig: PulseRig) -> None:
    """The worker SIGKILLed at a quiet moment, three times: every reply is still spoken
    (by espeak-ng directly while the worker restarts), and the worker comes back each time.
    Before, the second death gave speech up for the session: the words were only printed."""
    out, faults = io.StringIO(), list[str]()
    speaker = Pyttsx3Speaker(Settings(), faults.append, stream=out)
    ways = []
    try:
        speaker.say("Ready.")
        ways.append(speaker.last_spoken_by)
        for _ in range(3):
            pid = speaker._proc.pid
            os.kill(pid, signal.SIGKILL)
            speaker._proc.join(10)  # dead, at a quiet moment
            recorder = pulse_rig.speaker_recorder()
            speaker.say("Please call 9 1 1 now.")
            time.sleep(0.3)
            heard = recorder.stop()
            ways.append(speaker.last_spoken_by)
            assert rms(heard) > 300, f"silent after the worker was killed: {out.getvalue()}"
            assert "call 911" in recognized(heard)
            for _ in range(600):  # the worker restarts in the background (a generous limit)
                if speaker.plan() == "worker":
                    break
                time.sleep(0.05)
            speaker.say("Good.")
            ways.append(speaker.last_spoken_by)
            assert speaker._proc.pid != pid
    finally:
        speaker.close()
    assert ways == ["worker", *["fallback", "worker"] * 3]
    assert faults == [] and "showing the words instead" not in out.getvalue()
    assert sum("exited" in f for f in speaker.faults) == 3


@pytest.mark.audio
@pytest.mark.slow
def test_a_red_flag_yes_after_the_worker_was_killed_twice_is_spoken(
        pulse_rig: PulseRig, tmp_path: Path) -> None:
    """A spoken session whose speech worker is SIGKILLed at two quiet moments (while it
    listens), then a red-flag "yes": the emergency instruction is heard on the speaker, and
    its `said` events say how. Before, it was only written to stderr, while the JSON said it
    had been said."""
    from test_voice_session import SpokenSession

    config = tmp_path / "speech.toml"
    config.write_text("speech_rate_wpm = 200\n")  # plain enough for the recognizer to check
    s = SpokenSession(pulse_rig, tmp_path, "--config", str(config))
    killed: list[int] = []
    recording: list[SpeakerRecorder] = []
    audio: list[np.ndarray] = []

    def kill_at_quiet_moments(event: dict[str, Any]) -> str | None:
        if event["event"] == "listening" and event["state"] in ("rf_bladder", "rf_saddle"):
            pid = next(p for p in worker_pids(s.proc.pid) if p not in killed)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            if event["state"] == "rf_saddle":  # the "yes" comes next
                recording.append(pulse_rig.speaker_recorder())
        if event["event"] == "listening" and event["state"] == "emergency" and not audio:
            audio.append(recording[0].stop())
        return None

    end = s.run({"opening": "yes", "rf_bladder": "no", "rf_saddle": "yes", "emergency": "stop"},
                on_event=kill_at_quiet_moments)
    assert len(killed) == 2 and end["level"] == "emergency"
    instruction = [e for e in s.kinds("said") if e["key"].startswith("states.emergency.say")]
    assert instruction[0]["spoken"] == "fallback", instruction  # its worker was just killed
    assert {e["spoken"] for e in instruction} <= {"fallback", "worker"}, instruction
    heard = audio[0][int(np.argmax(np.abs(audio[0]) > 500)):]  # from its first sound
    assert rms(heard) > 300, "the emergency instruction was not heard on the speaker"
    assert "call 911" in recognized(heard[:25 * 16000])


@pytest.mark.audio
def test_a_worker_that_dies_in_the_middle_of_a_reply_is_followed_by_espeak_ng(
        pulse_rig: PulseRig) -> None:
    """The engine dies on the reply it was given: espeak-ng, called directly, says it on the
    same speaker (before: printed, with a notice)."""
    out, faults = io.StringIO(), list[str]()
    speaker = Pyttsx3Speaker(Settings(), faults.append, worker_target=dying_worker, stream=out)
    try:
        recorder = pulse_rig.speaker_recorder()
        speaker.say("Please call 9 1 1 now.")
        time.sleep(0.3)
        heard = recorder.stop()
    finally:
        speaker.close()
    assert speaker.last_spoken_by == "fallback" and faults == []
    assert "died (exit code 3)" in speaker.faults[0]
    assert "Please call" not in out.getvalue()  # spoken, not printed
    assert "call 911" in recognized(heard)
    assert speaker.last_first_audio_s is not None


def test_a_reply_file_written_late_by_the_engine_is_still_spoken_and_a_missing_one_is_a_fault(
        tmp_path: Path) -> None:
    """pyttsx3's espeak driver now and then returns before its file is written (1 in 80 with
    both cores busy): the worker waits for it, rather than taking the engine for broken and
    falling back to espeak-ng, whose sound the echo canceller cannot place."""
    from voice_skill.dev.fixtures import write_wav
    from voice_skill.errors import AudioError
    from voice_skill.hearing.audio import decode_wav_native
    from voice_skill.speaking.tts import _written_speech

    late = tmp_path / "late.wav"
    threading.Timer(0.15, write_wav, (late, np.full(2205, 1000, np.int16))).start()
    samples, _ = _written_speech(str(late), decode_wav_native)
    assert len(samples) == 2205
    with pytest.raises(FileNotFoundError):
        _written_speech(str(tmp_path / "never.wav"), decode_wav_native)
    header_only = tmp_path / "empty.wav"
    write_wav(header_only, np.zeros(0, np.int16))
    with pytest.raises(AudioError):
        _written_speech(str(header_only), decode_wav_native)
