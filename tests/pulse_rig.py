"""A private PulseAudio with two null sinks: a virtual microphone and a virtual speaker.

`user_voice` is what the "person" says (its monitor is the default source, the skill's
microphone); `skill_speaker` is the default sink, where the skill speaks (its monitor can be
recorded). The daemon runs under a private runtime directory, so it never meets another one.
Both sinks render without rewinds: with them, every new stream into the microphone (the
person's words) rewound the echo loopback's buffer, and the "room"'s echo delay jumped by
tens of milliseconds (32 -> 73 -> 56 -> 73 ms in one minute, measured), which no room does.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

MIC_SINK = "user_voice"
SPEAKER_SINK = "skill_speaker"
EC_SOURCE, EC_SINK = "echo_cancelled_mic", "echo_cancelled_speaker"
"""the sound server's echo canceller, once loaded (`PulseRig.cancel_echo_in_server`)"""
TOOLS = ("pulseaudio", "pactl", "paplay", "parec")
START_TIMEOUT_S = 10.0
RECORD_RATE_HZ = 16000


def missing_tools() -> list[str]:
    """The PulseAudio command-line tools that are not installed."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class SpeakerRecorder:
    """Records a PulseAudio source (by default the skill's speaker) in the background."""

    def __init__(
        self, env: dict[str, str], source: str = f"{SPEAKER_SINK}.monitor", keep: bool = True
    ) -> None:
        self.flowing = threading.Event()
        """set once the first audio has arrived"""
        self._keep = keep
        self._proc = subprocess.Popen(
            [
                "parec",
                f"--device={source}",
                "--format=s16le",
                f"--rate={RECORD_RATE_HZ}",
                "--channels=1",
                "--raw",
                "--latency-msec=20",  # the default latency holds back seconds of audio
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        stdout = self._proc.stdout
        assert isinstance(stdout, io.BufferedReader)
        while chunk := stdout.read1(4096):
            self.flowing.set()
            if self._keep:
                self._chunks.append(chunk)

    def stop(self) -> np.ndarray:
        """Stop recording; everything heard, as int16 mono 16 kHz."""
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._thread.join(5)
        data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16).copy()


class PulseRig:
    """A running private PulseAudio daemon; `stop()` always ends it."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.runtime_dir = base_dir / "runtime"
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)
        self.log_path = base_dir / "pulseaudio.log"
        self.env = dict(os.environ)
        self.env.update(
            PULSE_RUNTIME_PATH=str(self.runtime_dir),
            PULSE_STATE_PATH=str(base_dir / "state"),
            PULSE_SERVER=f"unix:{self.runtime_dir / 'native'}",
        )
        self._daemon: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}
        self._keepers: list[SpeakerRecorder] = []
        self._players: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start the daemon with the two null sinks and make this process a client of it."""
        log = self.log_path.open("wb")
        self._daemon = subprocess.Popen(
            [
                "pulseaudio",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit=no",
                "-n",
                f"--load=module-null-sink sink_name={MIC_SINK} norewinds=1",
                f"--load=module-null-sink sink_name={SPEAKER_SINK} norewinds=1",
                "--load=module-native-protocol-unix auth-anonymous=1",
                "--log-target=stderr",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.pactl("info", check=False).returncode != 0:
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PulseAudio did not start; see {self.log_path}")
            time.sleep(0.05)
        self.pactl("set-default-source", f"{MIC_SINK}.monitor")
        self.pactl("set-default-sink", SPEAKER_SINK)
        # A null sink renders in blocks of up to 2 s until a low-latency client asks for
        # less, so new streams waited ~2 s for their first audio (measured). One idle
        # low-latency listener per sink, started and seen flowing here, keeps both quick.
        self._keepers = [
            SpeakerRecorder(self.env, f"{sink}.monitor", keep=False) for sink in (MIC_SINK, SPEAKER_SINK)
        ]
        for keeper in self._keepers:
            if not keeper.flowing.wait(START_TIMEOUT_S):
                self.stop()
                raise RuntimeError(f"PulseAudio monitors deliver no audio; see {self.log_path}")
        for key in ("PULSE_RUNTIME_PATH", "PULSE_STATE_PATH", "PULSE_SERVER"):
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = self.env[key]
        _rescan_portaudio()

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run pactl against this daemon."""
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, check=check, timeout=10
        )

    def play_into_mic(self, wav_path: Path) -> subprocess.Popen[bytes]:
        """Start playing a WAV into the virtual microphone; returns at once (wait() the handle)."""
        return subprocess.Popen(
            ["paplay", f"--device={MIC_SINK}", str(wav_path)],
            env=self.env,
            stderr=subprocess.PIPE,
        )

    def echo_speaker_into_mic(self, volume: str = "100%", latency_ms: int = 60) -> str:
        """Let the microphone hear the skill's speaker, as a real room does; returns the
        module id for `pactl unload-module`. `volume` is the echo's level (pactl percent)."""
        module = self.pactl("load-module", "module-loopback", f"source={SPEAKER_SINK}.monitor",
                            f"sink={MIC_SINK}", f"latency_msec={latency_ms}",
                            "adjust_time=0",  # no rate adjusting: a room does not resample
                            "source_dont_move=true", "sink_dont_move=true").stdout.strip()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:  # the loopback's stream appears a moment later
            for block in self.pactl("list", "sink-inputs").stdout.split("Sink Input #")[1:]:
                if f"Owner Module: {module}\n" in block:
                    self.pactl("set-sink-input-volume", block.split()[0], volume)
                    return module
            time.sleep(0.05)
        raise RuntimeError(f"the echo loopback (module {module}) never started")

    def cancel_echo_in_server(self) -> str:
        """Put PulseAudio's own echo canceller (module-echo-cancel, webrtc) between the skill
        and the devices, as a deployment with the sound server's canceller has it: its source
        and sink become the default microphone and speaker. Returns the module id.

        Two settings for the virtual devices, which a sound card needs neither of: the null
        sinks report latencies that change with the streams on them, and each of the module's
        resyncs (every second, and whenever its sink starts playing) then moved its reference
        by up to 100 ms, leaving the echo only 9-35 dB down at the median (measured). So
        adjust_time=0 keeps its first alignment, and a silent stream keeps its sink playing:
        the echo is then 66 dB down at the median, 51 dB in the worst tenth of the frames."""
        module = self.pactl(
            "load-module", "module-echo-cancel", f"source_master={MIC_SINK}.monitor",
            f"sink_master={SPEAKER_SINK}", f"source_name={EC_SOURCE}", f"sink_name={EC_SINK}",
            "aec_method=webrtc", 'aec_args="analog_gain_control=0 digital_gain_control=0"',
            "rate=16000", "channels=1", "adjust_time=0").stdout.strip()
        self._players.append(subprocess.Popen(
            ["pacat", "--playback", f"--device={EC_SINK}", "--latency-msec=20", "--raw",
             "--format=s16le", f"--rate={RECORD_RATE_HZ}", "--channels=1", "/dev/zero"],
            env=self.env, stderr=subprocess.DEVNULL))
        self.pactl("set-default-source", EC_SOURCE)
        self.pactl("set-default-sink", EC_SINK)
        _rescan_portaudio()
        return module

    def speaker_recorder(self) -> SpeakerRecorder:
        """Start recording what the skill plays; `.stop()` returns the audio."""
        recorder = SpeakerRecorder(self.env)
        if not recorder.flowing.wait(START_TIMEOUT_S):
            recorder.stop()
            raise RuntimeError(f"{SPEAKER_SINK}.monitor delivers no audio")
        return recorder

    def record_speaker(self, seconds: float) -> np.ndarray:
        """Record the skill's speaker for `seconds` (int16 mono 16 kHz)."""
        recorder = self.speaker_recorder()
        time.sleep(seconds)
        return recorder.stop()

    def stop(self) -> None:
        """Ask the daemon to exit (pactl exit); kill it if it does not; restore the env."""
        daemon, self._daemon = self._daemon, None
        for keeper in self._keepers:
            keeper.stop()
        self._keepers = []
        for player in self._players:
            player.kill()
            player.wait()
        self._players = []
        if daemon is not None and daemon.poll() is None:
            self.pactl("exit", check=False)
            try:
                daemon.wait(5)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        _rescan_portaudio()


def _rescan_portaudio() -> None:
    """PortAudio lists devices when it starts: restart it if it is already loaded."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


def loud(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """int16 audio raised to `peak` of full scale at its loudest: a person raising their voice."""
    return (audio * (peak * 32767 / np.abs(audio.astype(np.int32)).max())).astype(np.int16)


def rms(audio: np.ndarray) -> float:
    """Root-mean-square level of int16 audio (0 for none)."""
    if audio.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
