"""Speech out: pyttsx3 (espeak-ng) in a guarded worker process, WAV files, console, or nothing."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol, TextIO

from voice_skill.console import write_line
from voice_skill.hearing.audio import parse_device
from voice_skill.settings import Settings

log = logging.getLogger(__name__)

MAX_RATE_FACTOR = 2.0
"""the rate factor never goes above this (a person in pain never needs it faster)"""
_PLAY_LATENCY_S = 0.2
"""output buffer (seconds): lower ones underran and dropped audio through ALSA's pulse plugin"""
_PLAY_RATE_HZ = 22050
"""espeak-ng's own output rate"""


class Speaker(Protocol):
    """Something that says replies; say() blocks until spoken and never raises for engine faults."""

    last_first_audio_s: float | None
    """seconds from the last say() call to the first audio (None before any, or if silent)"""

    def say(self, text: str) -> None:
        """Speak `text` and return when it has been spoken (or cut short by stop())."""
        ...

    def set_rate_factor(self, factor: float) -> None:
        """Speak at `factor` times the configured rate from the next reply on."""
        ...

    def stop(self) -> None:
        """Cut the current speech short (barge-in); safe to call from another thread."""
        ...

    def close(self) -> None:
        """Release the engine."""
        ...


def clamp_rate_factor(settings: Settings, factor: float) -> float:
    """Keep a rate factor between the settings' floor and MAX_RATE_FACTOR."""
    return min(max(factor, settings.min_rate_factor), MAX_RATE_FACTOR)


def estimate_speech_s(text: str, rate_wpm: float) -> float:
    """Rough spoken length of `text` at `rate_wpm` (seconds), counting pauses at punctuation."""
    words = len(text.split())
    pauses = len(re.findall(r"[.,;:!?]", text))
    return words * 60.0 / max(rate_wpm, 1.0) + 0.3 * pauses


# --------------------------------------------------------------------------- worker process


def engine_worker(cmd: Connection, evt: Connection, config: dict[str, Any]) -> None:
    """Run pyttsx3 in its own process: ("say", text, rate, volume, voice) in, events out.

    Events: ("ready", init_s), ("init_error", why), ("warning", why), ("started",),
    ("done", stopped), ("error", why). A ("stop",) while speaking cuts the audio.
    """
    # pyttsx3's espeak driver prints chatter ("Audio saved to ...") to stdout.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    # Ctrl-C and a closed terminal reach the whole process group; the session answers them
    # with its closing line, which this worker must still be alive to say. It ends when the
    # session closes its pipe (or kills it).
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    t0 = time.perf_counter()
    try:
        import pyttsx3

        engine = pyttsx3.init(config.get("driver_name"))
        driver = type(engine.proxy._driver).__module__.rsplit(".", 1)[-1]
    except Exception as exc:  # any failure to start the engine means: no speech
        evt.send(("init_error", f"{type(exc).__name__}: {exc}"))
        return
    if driver == "espeak":
        try:
            _warm_up_output(config)
        except Exception as exc:  # no output device: the replies will be printed
            evt.send(("init_error", f"no audio output: {type(exc).__name__}: {exc}"))
            return
    evt.send(("ready", time.perf_counter() - t0, driver))
    voice_ok: str | None = None
    tmpdir = _scratch_dir()
    try:
        while True:
            try:
                msg = cmd.recv()
            except (EOFError, OSError):
                return  # the session is gone
            if msg[0] == "quit":
                return
            if msg[0] != "say":
                continue  # a stop that arrived after the speech ended
            _, text, rate, volume, voice = msg
            engine.setProperty("rate", int(rate))
            engine.setProperty("volume", float(volume))
            if voice and voice != voice_ok:
                try:
                    engine.setProperty("voice", voice)
                    voice_ok = voice
                except (ValueError, KeyError) as exc:
                    evt.send(("warning", f"voice {voice!r} not available ({exc}); default used"))
            try:
                if driver == "espeak":
                    stopped = _speak_via_file(engine, text, tmpdir, cmd, evt, config)
                else:
                    stopped = _speak_direct(engine, text, evt)
            except Exception as exc:  # report, the parent decides what to do
                evt.send(("error", f"{type(exc).__name__}: {exc}"))
                continue
            evt.send(("done", stopped))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _scratch_dir() -> str:
    """Where each reply's WAV is written: memory first (/dev/shm, the user's runtime folder),
    so that a full disk cannot silence the guide; the usual temporary folder otherwise."""
    for parent in ("/dev/shm", os.environ.get("XDG_RUNTIME_DIR"), None):
        if parent is None or os.path.isdir(parent):
            try:
                return tempfile.mkdtemp(prefix="voice-skill-tts-", dir=parent)
            except OSError:
                continue
    raise OSError("no folder to write speech in")


def _warm_up_output(config: dict[str, Any]) -> None:
    """Open the output once with a little silence: the first stream of a process can take
    over a second to start sounding (measured through ALSA's pulse plugin), and it fails
    here, not in the middle of a reply, when there is no output device."""
    import numpy as np
    import sounddevice as sd

    sd.play(
        np.zeros(_PLAY_RATE_HZ // 10, np.int16),
        _PLAY_RATE_HZ,
        device=config.get("output_device"),
        latency=_PLAY_LATENCY_S,
        blocking=True,
    )


def _speak_via_file(
    engine: Any, text: str, tmpdir: str, cmd: Connection, evt: Connection, config: dict[str, Any]
) -> bool:
    """Synthesize to a WAV, then play it ourselves: exact first-audio time and a real stop()."""
    import numpy as np
    import sounddevice as sd

    from voice_skill.errors import AudioError
    from voice_skill.hearing.audio import decode_wav_native

    path = os.path.join(tmpdir, "reply.wav")
    for attempt in (1, 2):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        engine.save_to_file(text, path)
        engine.runAndWait()
        try:
            with open(path, "rb") as fh:
                samples, rate = decode_wav_native(fh.read(), "synthesized speech")
            break
        except FileNotFoundError:
            raise RuntimeError("the engine wrote no audio") from None
        except AudioError:
            # On a busy machine the espeak driver now and then writes only a header (seen
            # in live sessions); once more is enough, a second empty file is a fault.
            if attempt == 2:
                raise
    audio = np.ascontiguousarray(samples[:, 0], dtype=np.int16)
    sd.play(audio, rate, device=config.get("output_device"), latency=_PLAY_LATENCY_S)
    evt.send(("started", audio, rate))  # the audio too: echo cancellation needs what was played
    stream = sd.get_stream()
    stopped = False
    while stream.active:
        if cmd.poll(0.02):
            msg = cmd.recv()
            if msg[0] in ("stop", "quit"):
                # abort, not stop: PortAudio's stop plays out the buffered audio first.
                stream.abort()
                stopped = True
                break
    stream.close()
    return stopped


def _speak_direct(engine: Any, text: str, evt: Connection) -> bool:
    """Other pyttsx3 drivers (SAPI5, NSSpeech) play by themselves; report their start."""
    engine.connect("started-utterance", lambda name: evt.send(("started",)))
    engine.say(text)
    engine.runAndWait()
    return False


# --------------------------------------------------------------------------- pyttsx3 speaker


class Pyttsx3Speaker:
    """pyttsx3 in a worker process: a hung or dead engine is killed, never stalls the session.

    A fault while speaking prints the words (with a one-time notice and one `on_fault` call)
    and restarts the worker once for the next reply; a second fault, or an engine that
    cannot start at all (no espeak-ng, no pyttsx3), prints every reply from then on.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        on_fault: Callable[[str], None] | None = None,
        *,
        driver_name: str | None = None,
        output_device: str | int | None = None,
        worker_target: Callable[[Connection, Connection, dict[str, Any]], None] = engine_worker,
        stream: TextIO | None = None,
        startup_timeout_s: float = 15.0,
    ) -> None:
        self.settings = settings or Settings()
        self.on_fault = on_fault
        self.startup_timeout_s = startup_timeout_s
        """a worker not ready this long after spawning counts as hung (a busy machine needs ~1 s)"""
        self.last_first_audio_s: float | None = None
        self.on_playback: Callable[[Any, int], None] | None = None
        """called with (int16 samples, rate) as each reply starts playing (echo cancellation)"""
        self.worker_start_s: float | None = None
        """seconds the last worker took from spawn to ready (engine initialised)"""
        self.faults: list[str] = []
        """every fault seen, in order (the first one is the one announced)"""
        self._rate_factor = 1.0
        if output_device is None:
            output_device = parse_device(self.settings.output_device)
        self._config: dict[str, Any] = {"driver_name": driver_name, "output_device": output_device}
        self._target = worker_target
        self._stream = stream
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._cmd: Connection | None = None
        self._evt: Connection | None = None
        self._ready = False
        self._spawned_at = 0.0
        self._restarted = False
        self._failed = False
        self._announced = False
        self._speaking = False
        self._stop_requested = False
        self._say_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._start_worker()

    @property
    def rate_wpm(self) -> int:
        """The rate the next reply is spoken at (words per minute)."""
        return round(self.settings.speech_rate_wpm * self._rate_factor)

    @property
    def speaking_enabled(self) -> bool:
        """False once speech has been given up and replies are printed."""
        return not self._failed

    def set_rate_factor(self, factor: float) -> None:
        """Speak at `factor` times settings.speech_rate_wpm (clamped) from the next reply on."""
        self._rate_factor = clamp_rate_factor(self.settings, factor)

    def say(self, text: str) -> None:
        """Speak `text`; on an engine fault the words are printed instead. Never raises."""
        if not text.strip():
            return
        called = time.perf_counter()
        with self._say_lock:
            self.last_first_audio_s = None
            if self._failed:
                self._print(text)
                return
            alive = self._proc is not None and self._proc.is_alive()
            if not alive and not self._restart_or_give_up("the speech engine process had exited"):
                self._print(text)
                return
            fault = self._speak(text, called)
            if fault is None:
                return
            self._handle_fault(fault)
            self._print(text)

    def stop(self) -> None:
        """Cut the current reply short (barge-in). Safe from another thread."""
        if not self._speaking:
            return
        self._stop_requested = True
        self._send(("stop",))

    def close(self) -> None:
        """Ask the worker to quit, kill it if it will not."""
        self._kill_worker(polite=True)
        self._failed = True  # a closed speaker only prints

    def __enter__(self) -> Pyttsx3Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals

    def _start_worker(self) -> None:
        cmd_recv, cmd_send = self._ctx.Pipe(duplex=False)
        evt_recv, evt_send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=self._target,
            args=(cmd_recv, evt_send, self._config),
            name="voice-skill-tts",
            daemon=True,
        )
        self._spawned_at = time.perf_counter()
        proc.start()
        # Our copies of the child's ends must go, or a dead child never reads as EOF.
        cmd_recv.close()
        evt_send.close()
        self._proc, self._cmd, self._evt, self._ready = proc, cmd_send, evt_recv, False

    def _kill_worker(self, polite: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if polite and proc.is_alive():
            self._send(("quit",))
            proc.join(1.0)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)
        for conn in (self._cmd, self._evt):
            if conn is not None:
                conn.close()
        self._cmd = self._evt = None

    def _restart_or_give_up(self, reason: str) -> bool:
        """Restart the worker once per speaker; after that, speech is given up."""
        self._kill_worker()
        if self._restarted:
            self._failed = True
            self._handle_fault(reason)
            return False
        log.warning("speech engine: %s; restarting it", reason)
        self._restarted = True
        self._start_worker()
        return True

    def _send(self, msg: tuple[Any, ...]) -> bool:
        with self._send_lock:
            conn = self._cmd
            if conn is None:
                return False
            try:
                conn.send(msg)
                return True
            except (OSError, ValueError):
                return False

    def _next_event(self, deadline: float) -> tuple[Any, ...] | str:
        """The next event from the worker, or a fault description (hang or death)."""
        evt, proc = self._evt, self._proc
        if evt is None or proc is None:
            return "the speech engine is not running"
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return "hung"
            ready = wait([evt, proc.sentinel], timeout=left)
            if evt in ready:
                try:
                    msg: tuple[Any, ...] = evt.recv()
                except (EOFError, OSError):
                    ready = [proc.sentinel]
                else:
                    if msg[0] == "warning":
                        log.warning("speech engine: %s", msg[1])
                        continue
                    return msg
            if ready:
                proc.join(0.5)
                return f"the speech engine process died (exit code {proc.exitcode})"

    def _await_ready(self) -> str | None:
        if self._ready:
            return None
        limit = self.startup_timeout_s
        msg = self._next_event(self._spawned_at + limit)
        if msg == "hung":
            return f"the speech engine did not start within {limit:g} s"
        if isinstance(msg, str):
            return msg
        if msg[0] == "init_error":
            self._failed = True  # a missing engine will not appear on a restart
            return f"the speech engine cannot start: {msg[1]}"
        if msg[0] != "ready":
            return f"the speech engine sent {msg[0]!r} before it was ready"
        self._ready = True
        self.worker_start_s = time.perf_counter() - self._spawned_at
        log.info("speech engine %s ready in %.2f s", msg[2] if len(msg) > 2 else "?", msg[1])
        return None

    def _speak(self, text: str, called: float) -> str | None:
        """Speak once; the fault description, or None when it went well."""
        fault = self._await_ready()
        if fault is not None:
            return fault
        limit = self.settings.tts_timeout_s
        rate = self.rate_wpm
        t0 = time.perf_counter()
        self._stop_requested = False
        self._speaking = True
        try:
            if not self._send(("say", text, rate, self.settings.volume, self.settings.voice)):
                return "the speech engine process is gone"
            msg = self._next_event(t0 + limit)
            if (fault := _fault_of(msg, f"the speech engine hung (no sound within {limit:g} s)")):
                return fault
            assert isinstance(msg, tuple)  # _fault_of took every text
            if msg[0] == "started":
                self.last_first_audio_s = time.perf_counter() - called
                if self.on_playback is not None and len(msg) == 3:
                    self.on_playback(msg[1], msg[2])
                # Generous: twice the expected length, plus slack for a slow machine.
                budget = 2.0 * estimate_speech_s(text, rate) + 3.0
                msg = self._next_event(time.perf_counter() + budget)
                hung = ("the speech engine did not stop when asked" if self._stop_requested
                        else f"the speech engine hung (still speaking after {budget:.0f} s)")
                if (fault := _fault_of(msg, hung)):
                    return fault
                assert isinstance(msg, tuple)
            if msg[0] != "done":
                return f"the speech engine sent {msg[0]!r} unexpectedly"
            return None
        finally:
            self._speaking = False

    def _handle_fault(self, reason: str) -> None:
        self.faults.append(reason)
        log.warning("speech output fault: %s", reason)
        if not self._failed:
            self._kill_worker()
            if self._restarted:
                self._failed = True
            else:
                # Restart now, in the background, so the next reply may be spoken again.
                self._restarted = True
                self._start_worker()
        else:
            self._kill_worker()
        if not self._announced:
            self._announced = True
            self._emit(f"Speech output failed ({reason}): showing the words instead.")
            if self.on_fault is not None:
                self.on_fault(reason)

    def _print(self, text: str) -> None:
        self._emit(text)

    def _emit(self, line: str) -> None:
        write_line(line, self._stream or sys.stdout)  # never raises: the session goes on


# --------------------------------------------------------------------------- other speakers


class WavSpeaker:
    """Writes each reply as real synthesized speech to `out_dir/NNN_<slug>.wav` (espeak-ng)."""

    def __init__(self, out_dir: Path, settings: Settings | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings or Settings()
        self.spoken: list[tuple[str, Path]] = []
        """(text, path) of every reply written, in order"""
        self.faults: list[str] = []
        self.last_first_audio_s: float | None = None
        self._rate_factor = 1.0
        self._espeak = shutil.which("espeak-ng") or shutil.which("espeak")

    def say(self, text: str) -> None:
        """Synthesize `text` into the next numbered WAV file (a fault is logged, not raised)."""
        if not text.strip():
            return
        path = self.out_dir / f"{len(self.spoken) + 1:03d}_{slugify(text)}.wav"
        t0 = time.perf_counter()
        try:
            self._synthesize(text, path)
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            self.faults.append(f"{path.name}: {exc}")
            log.error("could not write speech to %s: %s", path, exc)
            self.last_first_audio_s = None
            return
        self.last_first_audio_s = time.perf_counter() - t0
        self.spoken.append((text, path))

    def _synthesize(self, text: str, path: Path) -> None:
        rate = round(self.settings.speech_rate_wpm * self._rate_factor)
        if self._espeak is None:
            raise RuntimeError("espeak-ng is not installed")
        args = [self._espeak, "-w", str(path), "-s", str(rate)]
        args += ["-a", str(round(100 * self.settings.volume))]
        if self.settings.voice:
            args += ["-v", self.settings.voice]
        # "--" so a reply that starts with "-" is still words, not an option.
        proc = subprocess.run(
            [*args, "--", text],
            capture_output=True,
            text=True,
            timeout=self.settings.tts_timeout_s,
            check=False,
        )
        if proc.returncode != 0 or not path.exists():
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()}")

    def set_rate_factor(self, factor: float) -> None:
        """Write later replies at `factor` times the configured rate."""
        self._rate_factor = clamp_rate_factor(self.settings, factor)

    def stop(self) -> None:
        """Nothing is playing."""

    def close(self) -> None:
        """Nothing to release."""


class ConsoleSpeaker:
    """Prints each reply (text mode, or no audio output)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.last_first_audio_s: float | None = None

    def say(self, text: str) -> None:
        """Print `text` as one line."""
        print(text, file=self._stream or sys.stdout, flush=True)
        self.last_first_audio_s = 0.0

    def set_rate_factor(self, factor: float) -> None:
        """Printing has no rate."""

    def stop(self) -> None:
        """Nothing to cut short."""

    def close(self) -> None:
        """Nothing to release."""


class NullSpeaker:
    """Says nothing; keeps what it was asked to say (replays that only check decisions)."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.last_first_audio_s: float | None = None

    def say(self, text: str) -> None:
        """Remember `text`."""
        self.said.append(text)

    def set_rate_factor(self, factor: float) -> None:
        """Nothing is spoken."""

    def stop(self) -> None:
        """Nothing is spoken."""

    def close(self) -> None:
        """Nothing to release."""


def slugify(text: str, max_len: int = 40) -> str:
    """A file-name-safe short form of a reply: "Can you move?" -> "can_you_move"."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:max_len].rstrip("_") or "reply"


def _fault_of(msg: tuple[Any, ...] | str, hung: str) -> str | None:
    """What went wrong, from the speech worker's next event (None: an event to read on)."""
    if msg == "hung":
        return hung
    if isinstance(msg, str):
        return msg
    if msg[0] == "error":
        return f"the speech engine failed: {msg[1]}"
    return None
