"""The echo canceller's gate on recorded audio: the skill's own voice reads as silence, a
person speaking over it comes through. The microphone is a recording played frame by frame
(a test double for the device); the canceller (libspeexdsp) and the gate are the real ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pulse_rig import loud

from voice_skill.hearing.audio import read_wav, silence
from voice_skill.hearing.echo import PATH_LEAD, PATH_TAPS, EchoCancelledSource, EchoPath, Playback

FIXTURES = Path(__file__).parent / "fixtures"
PROMPT = FIXTURES / "audio" / "slt" / "clean" / "i_have_no_idea.wav"
STOP = FIXTURES / "real_speech" / "stop" / "1b4c9b89_nohash_2.wav"
FRAME = 480
DELAY = 1000  # samples from playback to the microphone (62 ms)


class RecordedMic:
    """A microphone that delivers a fixed recording, 30 ms at a time."""

    frame_samples = FRAME

    def __init__(self, audio: np.ndarray) -> None:
        self.audio, self.read_samples = audio, 0

    def captured_samples(self) -> int:
        return self.read_samples

    def read(self, timeout_s: float) -> np.ndarray | None:
        frame = self.audio[self.read_samples:self.read_samples + FRAME]
        if len(frame) < FRAME:
            return None
        self.read_samples += FRAME
        return frame


def heard_energy(source: EchoCancelledSource, start: int, end: int) -> float:
    """Mean level of what the canceller let through over [start, end) of the microphone."""
    out = []
    while (frame := source.read(0.1)) is not None:
        at = source.read_samples - FRAME
        if start <= at < end:
            out.append(frame.astype(np.float64))
    return float(np.sqrt(np.mean(np.concatenate(out) ** 2)))


def test_its_own_voice_is_silence_and_a_person_over_it_comes_through() -> None:
    """The skill speaks, pauses while the person says "stop" (which the canceller may learn
    from), then goes on; the person says "stop" again over it: that "stop" comes through,
    and the skill's voice alone reads as silence."""
    prompt, stop = read_wav(PROMPT), loud(read_wav(STOP))
    gap = silence(1.2)
    played = np.concatenate([prompt, prompt, gap, prompt, prompt, prompt])
    at_stop1 = 2 * len(prompt) + 1000
    at_stop2 = 2 * len(prompt) + len(gap) + len(prompt) // 2
    mic = np.zeros(len(played) + DELAY + 16000, np.float64)
    mic[DELAY:DELAY + len(played)] += 0.3 * played  # the echo, -10 dB
    for at in (at_stop1, at_stop2):
        mic[at:at + len(stop)] += stop
    recorded = RecordedMic(np.clip(mic, -32768, 32767).astype(np.int16))
    playback = Playback()
    playback.add(played, 0)
    source = EchoCancelledSource(recorded, playback)
    echo_only = heard_energy(source, len(prompt), 2 * len(prompt))
    recorded.read_samples = 0
    source = EchoCancelledSource(recorded, playback)
    second_stop = heard_energy(source, at_stop2, at_stop2 + len(stop))
    assert echo_only < 100, echo_only  # its own voice: silence
    assert second_stop > 1000, second_stop  # the person over it: heard


def test_with_no_echo_at_all_a_person_over_the_skill_comes_through() -> None:
    """Headphones: the microphone hears none of the skill. After two seconds of it talking
    unheard, its echo is taken to be below the floor, and a "stop" said over it is heard
    (before, the echo was never measured and everything said over the skill was silenced)."""
    prompt, stop = read_wav(PROMPT), read_wav(STOP)
    played = np.concatenate([prompt] * 4)
    at_stop = 3 * len(prompt)
    assert at_stop > 2.5 * 16000  # after the two unheard seconds
    mic = np.zeros(len(played) + 16000, np.int16)
    mic[at_stop:at_stop + len(stop)] = stop
    playback = Playback()
    playback.add(played, 0)
    source = EchoCancelledSource(RecordedMic(mic), playback)
    assert heard_energy(source, at_stop, at_stop + len(stop)) > 300


def test_with_the_servers_canceller_a_person_quieter_than_the_echo_comes_through() -> None:
    """echo_cancel = "server": the microphone is the sound server's echo-cancelled source,
    where the skill's voice is left 60 dB down (its residue) and a person 10 dB under the
    echo it had is still there. The residue reads as silence, the person comes through."""
    prompt, stop = read_wav(PROMPT), read_wav(STOP)
    played = np.concatenate([prompt] * 4)
    echo = 0.3 * played.astype(np.float64)  # what the room would have brought back, -10 dB
    at_stop = 3 * len(prompt)
    mic = np.zeros(len(played) + 16000, np.float64)
    mic[DELAY:DELAY + len(played)] += 0.001 * echo  # what the server's canceller leaves
    person = stop * (np.sqrt(np.mean(echo ** 2)) / 10 ** 0.5 / np.sqrt(np.mean(
        stop.astype(np.float64) ** 2)))  # 10 dB under the echo, over the whole recording
    mic[at_stop:at_stop + len(stop)] += person
    recorded = RecordedMic(np.clip(np.round(mic), -32768, 32767).astype(np.int16))
    playback = Playback()
    playback.add(played, 0)
    source = EchoCancelledSource(recorded, playback, quiet_person=True, server=True)
    assert heard_energy(source, len(prompt), 2 * len(prompt)) < 30  # its own voice: silence
    recorded.read_samples = 0
    source = EchoCancelledSource(recorded, playback, quiet_person=True, server=True)
    heard = heard_energy(source, at_stop, at_stop + len(stop))
    assert heard > 0.5 * np.sqrt(np.mean(person ** 2)), heard  # the person: heard


class SpeakingMic(RecordedMic):
    """A recording, with the replies that echo in it told to the canceller as they start
    (as the speaker tells it: Playback forgets replies long over)."""

    def __init__(self, audio: np.ndarray, replies: list[tuple[Any, ...]],
                 playback: Playback) -> None:
        super().__init__(audio)
        self.replies, self.playback, self.told = replies, playback, 0

    def read(self, timeout_s: float) -> np.ndarray | None:
        while self.told < len(self.replies) and self.replies[self.told][0] <= self.read_samples:
            start, reply, *stream = self.replies[self.told]
            self.playback.add(reply, start, *stream)
            self.told += 1
        return super().read(timeout_s)


def test_each_reply_is_cancelled_at_its_own_delay_so_a_quiet_person_comes_through() -> None:
    """Every reply starts playing after a delay of its own (a new output stream each time:
    93-169 ms apart through the live rig). Three replies here, each echoed at full level at
    another delay; a person 10 dB under the echo says "stop" over the third. The skill's
    voice reads as silence, and the person comes through (with one delay for all the replies
    the canceller cancelled little, and the gate took the person for the echo)."""
    prompt, stop = read_wav(PROMPT), read_wav(STOP)
    reply = np.concatenate([prompt, prompt])
    gap = len(reply) + 16000
    told = [0, gap, 2 * gap]  # when each reply was said to start, on the microphone's clock
    delays = [800, 2300, 1300]  # when each one's echo came (samples)
    mic = np.zeros(3 * gap + 16000, np.float64)
    for start, delay in zip(told, delays, strict=True):
        echo = np.convolve(reply.astype(np.float64), [0.5, 0.3, 0.15])  # a speaker, not a wire
        mic[start + delay: start + delay + len(echo)] += echo
    third = told[2] + delays[2]
    echo_rms = float(np.sqrt(np.mean(mic[third:third + len(reply)] ** 2)))
    person = stop * (echo_rms / 10 ** 0.5 / np.sqrt(np.mean(stop.astype(np.float64) ** 2)))
    at_stop = third + len(prompt)
    mic[at_stop:at_stop + len(stop)] += person
    recorded = np.clip(np.round(mic), -32768, 32767).astype(np.int16)

    def heard(start: int, end: int) -> float:
        playback = Playback()
        source = EchoCancelledSource(
            SpeakingMic(recorded, [(t, reply) for t in told], playback), playback,
            quiet_person=True)
        return heard_energy(source, start, end)

    assert heard(third, at_stop) < 0.05 * echo_rms  # its own voice: silence
    assert heard(at_stop, at_stop + len(stop)) > 0.5 * np.sqrt(np.mean(person ** 2))  # the person


def test_a_microphone_opened_again_starts_afresh_with_nothing_held_over() -> None:
    """Unplugged while a reply's start was held back: once it is opened again (its clock at
    0), nothing from before comes out after, and the position handed on is the new one."""
    prompt = read_wav(PROMPT)
    mic = np.zeros(len(prompt) + 32000, np.float64)
    mic[DELAY:DELAY + len(prompt)] += prompt
    playback = Playback()
    recorded = SpeakingMic(np.clip(mic, -32768, 32767).astype(np.int16), [(0, prompt)],
                           playback)
    source = EchoCancelledSource(recorded, playback)
    assert source.read(0.1) is not None  # handed on once the reply's delay is measured
    held_back = recorded.read_samples - source.read_samples
    assert held_back > 0  # frames measured on, still to come

    def reopen() -> None:
        recorded.read_samples = 0
        recorded.audio = np.zeros(len(mic), np.int16)  # the new microphone hears quiet

    recorded.reopen = reopen  # type: ignore[attr-defined]
    source.reopen()
    frame = source.read(0.1)
    assert frame is not None and not frame.any()  # the new microphone's quiet, not old echo
    assert source.read_samples == recorded.read_samples == FRAME


def test_a_reply_cut_short_is_not_taken_for_an_echo_gone_quiet() -> None:
    """Barge-in cuts a reply short: the rest never plays. Not told so, the canceller took the
    missing echo for an echo gone quiet, and the next reply's echo came through its gate as if
    it were the person (the skill hearing itself). Told (the speaker's stop() does), it
    expects no more of the cut reply, and the next reply's echo reads as silence."""
    prompt = read_wav(PROMPT)
    reply = np.concatenate([prompt] * 4)
    cut = len(prompt) + 8000  # the first reply is stopped here (the microphone's clock)
    second = len(reply) + 32000  # the next reply starts here
    mic = np.zeros(second + len(reply) + 16000, np.float64)
    mic[DELAY:DELAY + cut] += reply[:cut]  # the echo, up to the cut
    mic[second + DELAY:second + DELAY + len(reply)] += reply
    playback = Playback()
    recorded = SpeakingMic(np.clip(np.round(mic), -32768, 32767).astype(np.int16),
                           [(0, reply), (second, reply)], playback)
    source = EchoCancelledSource(recorded, playback)
    while source.read_samples < cut:
        assert source.read(0.1) is not None
    playback.cut(cut)  # what the speaker's stop() tells it, with the microphone's clock then
    assert heard_energy(source, second + DELAY + 16000, second + len(reply)) < 30


def fractional_delay(samples: float, taps: int = 33) -> np.ndarray:
    """A filter that delays by `samples` (a fraction too): a windowed sinc."""
    n = np.arange(taps) - (taps - 1) / 2
    return np.sinc(n - samples) * np.hanning(taps)


def test_replies_on_one_output_stream_are_placed_where_it_says_and_a_quiet_person_heard() -> None:
    """The speaker plays every reply on one stream kept open and says where on it each one
    began: each is placed there, whatever the moment the canceller was told (here up to 22 ms
    off). A person 20 dB under the echo (an echo path a fraction of a sample off the 16 kHz
    grid) comes through, and the skill's own voice reads as silence."""
    prompt, stop = read_wav(PROMPT), read_wav(STOP)
    reply = np.concatenate([prompt] * 3)
    gap = len(reply) + 16000
    starts = [0, gap, 2 * gap]  # where each began on the stream (the microphone's clock here)
    told = [starts[0], starts[1] + 350, starts[2] - 200]  # when the canceller heard of it
    path = 0.6 * fractional_delay(0.4) + 0.2 * np.roll(fractional_delay(0.4), 7)  # a room
    mic = np.zeros(3 * gap + 16000, np.float64)
    for start in starts:
        echo = np.convolve(reply.astype(np.float64), path)
        mic[start + DELAY: start + DELAY + len(echo)] += echo
    third = starts[2] + DELAY
    echo_rms = float(np.sqrt(np.mean(mic[third:third + len(reply)] ** 2)))
    person = stop * (echo_rms / 10 / np.sqrt(np.mean(stop.astype(np.float64) ** 2)))
    at_stop = third + 2 * len(prompt)
    mic[at_stop:at_stop + len(stop)] += person
    recorded = np.clip(np.round(mic), -32768, 32767).astype(np.int16)
    replies = [(t, reply, ("stream 1", s)) for t, s in zip(told, starts, strict=True)]

    def heard(start: int, end: int) -> float:
        playback = Playback()
        source = EchoCancelledSource(SpeakingMic(recorded, replies, playback), playback,
                                     quiet_person=True)
        return heard_energy(source, start, end)

    assert heard(third, at_stop) < 0.02 * echo_rms  # its own voice: silence
    assert heard(at_stop, at_stop + len(stop)) > 0.5 * np.sqrt(np.mean(person ** 2))  # the person


def own_voice_let_through(lost: int, drift_ppm: float, quiet_person: bool) -> list[int]:
    """Four replies on one stream, told where they began on it; the microphone lost `lost`
    samples before the second (an overrun) and runs `drift_ppm` slower than the speaker (a
    USB microphone beside the board's own speaker). Frames of each reply's echo the gate let
    through (the skill hearing itself)."""
    reply = np.concatenate([read_wav(PROMPT)] * 2)
    gap = len(reply) + 16000
    starts = [k * gap for k in range(4)]  # on the stream's clock
    on_mic = [s - (lost if k else 0) - round(s * drift_ppm * 1e-6)
              for k, s in enumerate(starts)]  # the same moments on the microphone's clock
    mic = np.random.default_rng(1).normal(0, 20, 4 * gap + 16000)
    for at in on_mic:
        echo = np.convolve(reply.astype(np.float64), 0.6 * fractional_delay(0.4))
        mic[at + DELAY: at + DELAY + len(echo)] += echo
    recorded = np.clip(np.round(mic), -32768, 32767).astype(np.int16)
    playback = Playback()
    replies = [(at, reply, ("stream 1", s)) for at, s in zip(on_mic, starts, strict=True)]
    source = EchoCancelledSource(SpeakingMic(recorded, replies, playback), playback,
                                 quiet_person=quiet_person)
    out = []
    while (frame := source.read(0.1)) is not None:
        out.append(frame)
    heard = np.concatenate(out)
    return [int(np.count_nonzero(np.abs(heard[at + DELAY + FRAME: at + DELAY + len(reply)])
                                 .reshape(-1, 16).max(axis=1) > 0)) for at in on_mic]


def test_a_microphone_that_lost_samples_does_not_hear_the_skill_through_its_stream_place() -> None:
    """The stream says where each reply began, but the microphone lost 100 ms meanwhile: its
    echo comes 100 ms sooner than the stream's place. Each reply is still measured on its
    first sound and placed anew where its echo is: its own voice never comes through (placed
    by the stream alone, 0.7 s of every later reply came through, measured in review)."""
    assert own_voice_let_through(1600, 0.0, quiet_person=False) == [0, 0, 0, 0]
    assert own_voice_let_through(1600, 0.0, quiet_person=True) == [0, 0, 0, 0]


def test_a_microphone_on_a_clock_of_its_own_does_not_hear_the_skill() -> None:
    """A microphone 100 ppm slower than the speaker: each reply's echo comes a few samples
    from where the last one's did. Placed anew each time, the skill's own voice never comes
    through, even to the gate that lets a person under the echo through (before, 0.3-2.7 s of
    each reply did)."""
    assert own_voice_let_through(0, 100.0, quiet_person=True) == [0, 0, 0, 0]


def test_the_echo_path_fitted_while_a_person_talks_takes_out_the_echo_not_the_person() -> None:
    """EchoPath, fitted on 3 s of the skill talking with a person talking over it 10 dB under
    its echo, takes the echo of the next second 40 dB down and leaves the person as they were
    (their voice is not correlated with the played sound, so it does not bend the fit)."""
    prompt, stop = read_wav(PROMPT), read_wav(STOP)
    played = np.concatenate([prompt] * 3).astype(np.float64)[: 5 * 16000]
    path = 0.6 * fractional_delay(0.3) + 0.25 * np.roll(fractional_delay(0.3), 5)
    echo = np.convolve(played, path)[16: 16 + len(played)]  # the echo, a little late
    person = np.zeros(len(played))
    person[16000: 16000 + len(stop)] = stop * (np.sqrt(np.mean(echo ** 2)) / np.sqrt(10)
                                               / np.sqrt(np.mean(stop.astype(np.float64) ** 2)))
    person[56000: 56000 + len(stop)] = person[16000: 16000 + len(stop)]
    mic = echo + person
    fit = EchoPath(160)
    before, after = PATH_TAPS - 1 - PATH_LEAD, PATH_LEAD
    wide = np.concatenate([np.zeros(before), played, np.zeros(after)])
    left = np.zeros(len(mic))
    for at in range(0, len(mic), 160):
        left[at: at + 160] = mic[at: at + 160] - fit.echo(wide[at: at + 160 + PATH_TAPS - 1])
        if at < 3 * 16000:
            fit.learn(mic[at: at + 160], played[at: at + 160])
    test = slice(3 * 16000, len(mic))
    residue = left[test] - person[test]
    assert 10 * np.log10(np.mean(echo[test] ** 2) / np.mean(residue ** 2)) > 40
    said = slice(56000, 56000 + len(stop))
    assert np.mean((left[said] - person[said]) ** 2) < 1e-3 * np.mean(person[said] ** 2)


def test_the_echo_path_is_left_to_speex_in_a_room_that_rings_longer_than_it() -> None:
    """A room whose echo rings 0.3 s: a 4 ms fit explains little of it, and what it would
    change each second Speex would have to learn again (in review, cancellation was worse with
    it in every such room). It is not used there; on a short, steady path it is."""
    played = np.concatenate([read_wav(PROMPT)] * 3).astype(np.float64)[: 4 * 16000]
    direct = 0.6 * fractional_delay(0.4)
    rng = np.random.default_rng(2)
    ringing = np.zeros(4800)
    ringing[:33] = direct
    ringing[64:] = rng.normal(0, 0.08, 4736) * 10 ** (-3 * np.arange(4736) / 4800)
    for path, used in ((direct, True), (ringing, False)):
        fit = EchoPath(160)
        mic = np.convolve(played, path)[16: 16 + len(played)]
        for at in range(0, len(mic) - 160 + 1, 160):
            fit.learn(mic[at: at + 160], played[at: at + 160])
        assert (fit.taps is not None) == used
