"""Speech out: pyttsx3 (espeak-ng) in a guarded worker process, WAV files, console, or nothing."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import re
import select
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
from typing import Any, Literal, Protocol, TextIO

from voice_skill.console import write_line
from voice_skill.hearing.audio import parse_device
from voice_skill.settings import Settings

log = logging.getLogger(__name__)

MAX_RATE_FACTOR = 2.0
"""the rate factor never goes above this (a person in pain never needs it faster)"""
_PLAY_LATENCY_S = 0.2
"""output buffer (seconds): lower ones underran and dropped audio through ALSA's pulse plugin
on a stream begun with its reply. The stream kept open between replies has it too, and each
reply waits it out (its silence is queued ahead): not less for now, as at 0.1 s (first sound
0.13 s after a reply was asked for, against 0.26) the live rig, loaded by a full test run,
let the guide's own first reply through the gate in 3 of 8 sessions ("can you hear me",
confidence 0.9-1.0). At 0.2 s that happened once in 24 noisy sessions, on a machine loaded
still more, so it comes with a starved machine; why is not yet understood
(docs/benchmarks.md)"""
_PLAY_RATE_HZ = 22050
"""espeak-ng's own output rate"""
_OUTPUT_IDLE_S = 30.0
"""the output stream is closed after this long without a reply (a long timer, or waiting to
be woken): the device is let go for other programs, and stays open while the guide talks"""
_WRITE_WAIT_S = 0.5
"""how long a reply's WAV may come after the engine said it was done (seconds)"""
_PLAY_START_TIMEOUT_S = 5.0
"""a reply's first samples not taken by the output device in this long: a device fault"""
_FALLBACK_LATENCY_S = 0.5
"""the fallback player's output buffer: a new process on a busy machine underran (garbled
words) at 0.2 s; it starts late anyway, so a larger buffer costs little"""


SpokenBy = Literal["worker", "fallback", "printed"]
"""how a reply's words went out: spoken by the pyttsx3 worker, spoken by espeak-ng called
directly (the worker could not), or only shown"""


class Speaker(Protocol):
    """Something that says replies; say() blocks until spoken and never raises for engine faults."""

    last_first_audio_s: float | None
    """seconds from the last say() call to the first audio (None before any, or if silent)"""
    last_spoken_by: SpokenBy
    """how the last reply's words went out"""

    def plan(self) -> SpokenBy:
        """How the next reply will go out (its `said` event says so before it is spoken)."""
        ...

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

    Events: ("ready", init_s), ("init_error", why), ("warning", why), ("started", audio, rate,
    (clock, frame), sounds_in_s) (espeak: what plays, where on the output stream it began, and
    how soon its first sample sounds) or ("started",) (other drivers), ("done", stopped),
    ("error", why). A ("stop",) while speaking cuts the audio.
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
    output: list[Any] = []  # the player, once open
    if driver == "espeak":
        try:
            output.append(_open_output(config))
            if not config.get("keep_output"):
                output.pop().close()  # opened once: the process's first stream is the slow one
        except Exception as exc:  # no output device: the replies will be printed
            evt.send(("init_error", f"no audio output: {type(exc).__name__}: {exc}"))
            return
    evt.send(("ready", time.perf_counter() - t0, driver))
    voice_ok: str | None = None
    tmpdir = _scratch_dir()
    try:
        while True:
            try:
                if output and not cmd.poll(_OUTPUT_IDLE_S):
                    output.pop().close()  # opened again for the next reply
                    continue
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
                    stopped = _speak_via_file(engine, text, tmpdir, cmd, evt, config, output)
                else:
                    stopped = _speak_direct(engine, text, evt)
            except Exception as exc:  # report, the parent decides what to do
                evt.send(("error", f"{type(exc).__name__}: {exc}"))
                continue
            evt.send(("done", stopped))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        for player in output:
            player.close()


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


def _open_output(config: dict[str, Any], rate_hz: int = _PLAY_RATE_HZ,
                 start: bool = True) -> Any:
    """An output stream for the replies (speaking.player). The first is opened and started
    when the worker starts, so that it fails there, not in the middle of a reply, when there is
    no output device, and the first stream's slow start (over a second through ALSA's pulse
    plugin, measured) is not heard in the greeting. With `keep_output` (the skill's own echo
    canceller listens over its speech) one stream plays every reply, silence between them;
    else each reply has its own, begun with it: a kept stream has its buffer (0.2 s) of
    silence queued ahead of each reply, which a reply then waits out (measured through the
    live rig: first sound 0.25-0.28 s after it was asked for, against 0.02 s on a stream of
    its own)."""
    from voice_skill.speaking.player import ContinuousPlayer

    player = ContinuousPlayer(rate_hz, config.get("output_device"), _PLAY_LATENCY_S)
    if start:
        player.start()
    return player


def _speak_via_file(engine: Any, text: str, tmpdir: str, cmd: Connection, evt: Connection,
                    config: dict[str, Any], output: list[Any]) -> bool:
    """Synthesize to a WAV, then play it ourselves on `output`'s player (opened, or opened
    again, as needed): the first audio's time, where it began on the stream, a real stop()."""
    import numpy as np

    from voice_skill.errors import AudioError
    from voice_skill.hearing.audio import decode_wav_native

    path = os.path.join(tmpdir, "reply.wav")
    for attempt in (1, 2):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        engine.save_to_file(text, path)
        engine.runAndWait()
        try:
            samples, rate = _written_speech(path, decode_wav_native)
            break
        except (FileNotFoundError, AudioError) as exc:
            # On a busy machine pyttsx3's espeak driver now and then writes no file, or only
            # a header (seen in live sessions and test runs); once more is enough, a second
            # time is a fault.
            if attempt == 2:
                if isinstance(exc, FileNotFoundError):
                    raise RuntimeError("the engine wrote no audio") from None
                raise
    audio = np.ascontiguousarray(samples[:, 0], dtype=np.int16)
    if output and (output[0].rate_hz != rate or not output[0].active):
        output.pop().close()  # another voice's rate, or a device that went away
    if not output:
        output.append(_open_output(config, rate, start=False))
    player = output[0]
    began = player.play(audio, _PLAY_START_TIMEOUT_S)
    if began is None:
        output.pop().close()
        raise RuntimeError(f"the output device took no audio within {_PLAY_START_TIMEOUT_S:g} s")
    # the audio too, and where it began on the stream: echo cancellation needs what was played
    evt.send(("started", audio, rate, began, player.sounds_in_s))
    while not player.done(0.02):
        if not player.active:
            output.pop().close()
            raise RuntimeError("the output device stopped in the middle of a reply")
        if cmd.poll() and cmd.recv()[0] in ("stop", "quit"):
            # closed, not just cut: what the device holds would sound for its latency more
            # (the next reply opens it again, and its echo is measured anew)
            output.pop().close()
            return True
    time.sleep(player.latency_s)  # its last samples are still in the device's buffer
    if not config.get("keep_output"):
        output.pop().close()
    return False


def _written_speech(path: str, decode: Callable[[bytes, str], Any]) -> Any:
    """The reply's WAV, decoded. pyttsx3's espeak driver can return from runAndWait before its
    callback has written the file (1 in 80 replies with both cores busy, measured; it was
    there 0.3 s later): waited for up to _WRITE_WAIT_S, then what is there is the answer."""
    from voice_skill.errors import AudioError

    deadline = time.perf_counter() + _WRITE_WAIT_S
    while True:
        try:
            with open(path, "rb") as fh:
                return decode(fh.read(), "synthesized speech")
        except (FileNotFoundError, AudioError):
            if time.perf_counter() >= deadline:
                raise
            time.sleep(0.01)


def _speak_direct(engine: Any, text: str, evt: Connection) -> bool:
    """Other pyttsx3 drivers (SAPI5, NSSpeech) play by themselves; report their start."""
    engine.connect("started-utterance", lambda name: evt.send(("started",)))
    engine.say(text)
    engine.runAndWait()
    return False


# --------------------------------------------------------------------------- pyttsx3 speaker

_RESTART_BACKOFF_S = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""wait before restarting the worker after 1, 2, 3 ... faults in a row (the last one repeats)"""

_PLAYER = """
import json, signal, sys
import numpy as np, sounddevice as sd
signal.signal(signal.SIGINT, signal.SIG_IGN)
device, rate, latency, path = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sd.play(np.fromfile(path, dtype=np.int16), rate, device=device, latency=latency)
print("started", flush=True)
sd.wait()
"""
"""the fallback's player: a process of its own, so a hung sound device is killed, never waited on"""


class Pyttsx3Speaker:
    """pyttsx3 in a worker process: a hung or dead engine is killed, never stalls the session.

    Speech keeps coming back. A worker that dies or hangs (killed at a quiet moment, or
    while speaking) is restarted in the background, at once the first time and then after a
    growing wait (_RESTART_BACKOFF_S); until it is ready, replies are spoken by espeak-ng
    called directly, to the same output device (`fallback`). Only when that fails too are
    the words printed (with a one-time notice and one `on_fault` call). An engine that cannot
    start at all (no pyttsx3) is not restarted: espeak-ng speaks every reply.
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
        fallback: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.on_fault = on_fault
        self.startup_timeout_s = startup_timeout_s
        """a worker not ready this long after spawning counts as hung (a busy machine needs ~1 s)"""
        self.last_first_audio_s: float | None = None
        self.last_first_audio_at: float | None = None
        """time.perf_counter() when the last reply's first audio started"""
        self.last_spoken_by: SpokenBy = "printed"
        """how the last reply's words went out"""
        self.on_playback: Callable[[Any, int, tuple[str, int] | None], None] | None = None
        """called with (int16 samples, rate, where) as each reply starts playing (echo
        cancellation); where: the output stream's clock and the frame the reply began at on
        it, when it plays on the stream kept open between replies (else None)"""
        self.on_stop: Callable[[], None] | None = None
        """told when a reply is cut short (echo cancellation: the rest never plays)"""
        self.worker_start_s: float | None = None
        """seconds the last worker took from spawn to ready (engine initialised)"""
        self.faults: list[str] = []
        """every fault seen, in order (the first one is the one announced)"""
        self._rate_factor = 1.0
        if output_device is None:
            output_device = parse_device(self.settings.output_device)
        # one output stream kept open for every reply where the skill's own canceller listens
        # over its speech (speaking.player: why)
        keep = ((self.settings.barge_in or self.settings.safety_words_over_speech)
                and self.settings.echo_cancel == "skill")
        self._config: dict[str, Any] = {"driver_name": driver_name, "output_device": output_device,
                                        "keep_output": keep}
        self._target = worker_target
        self._stream = stream
        self._espeak = (shutil.which("espeak-ng") or shutil.which("espeak")) if fallback else None
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._cmd: Connection | None = None
        self._evt: Connection | None = None
        self._ready = False
        self._starts = 0
        self._spawned_at = 0.0
        self._faults_in_a_row = 0
        self._restart_at: float | None = None
        """when the worker may be started again (None: it is running, or will never be)"""
        self._engine_missing = False
        self._closed = False
        self._planned: SpokenBy | None = None
        self._announced = False
        self._fallback_told = False
        self._speaking = False
        self._stop_requested = False
        self._scratch: str | None = None
        self._say_lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._start_worker()

    @property
    def rate_wpm(self) -> int:
        """The rate the next reply is spoken at (words per minute)."""
        return round(self.settings.speech_rate_wpm * self._rate_factor)

    @property
    def speaking_enabled(self) -> bool:
        """False when the next reply would only be printed."""
        return not self._closed and (self._espeak is not None or not self._engine_missing)

    def set_rate_factor(self, factor: float) -> None:
        """Speak at `factor` times settings.speech_rate_wpm (clamped) from the next reply on."""
        self._rate_factor = clamp_rate_factor(self.settings, factor)

    def plan(self) -> SpokenBy:
        """How the next reply will go out: the worker when it is ready (its first start is
        waited for), else espeak-ng directly, else printed. The next say() keeps to it, unless
        the worker fails in the middle of it (then the words are said again the other way)."""
        with self._say_lock:
            self._planned = self._choose()
            return self._planned

    def say(self, text: str) -> None:
        """Speak `text`; on an engine fault another way (see the class). Never raises."""
        called = time.perf_counter()
        with self._say_lock:
            if not text.strip():
                self._planned = None
                return
            route, self._planned = self._planned or self._choose(), None
            self.last_first_audio_s = self.last_first_audio_at = None
            if route == "worker":
                fault = self._speak(text, called)
                if fault is None:
                    self._faults_in_a_row = 0
                    self.last_spoken_by = "worker"
                    return
                self._worker_fault(fault)
                if self._stop_requested:  # the person spoke over it: cut short, not said again
                    self.last_spoken_by = "worker"
                    return
                route = "fallback" if self._espeak else "printed"
            if route == "fallback":
                fault = self._speak_fallback(text, called)
                if fault is None:
                    self.last_spoken_by = "fallback"
                    if not self._fallback_told:
                        self._fallback_told = True
                        self._emit(f"Speech engine fault ({self.faults[-1] if self.faults else '?'}):"
                                   " speaking with espeak-ng directly until it is back.")
                    return
                self.faults.append(f"espeak-ng: {fault}")
                log.warning("speech fallback fault: %s", fault)
            self.last_spoken_by = "printed"
            self._announce()
            self._emit(text)

    def stop(self) -> None:
        """Cut the current reply short (barge-in). Safe from another thread."""
        if not self._speaking:
            return
        self._stop_requested = True
        self._send(("stop",))  # the fallback's player is watched for the request
        if self.on_stop is not None:
            self.on_stop()

    def close(self) -> None:
        """Ask the worker to quit, kill it if it will not."""
        self._closed = True  # a closed speaker only prints
        self._restart_at = None
        self._kill_worker(polite=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Pyttsx3Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals: choosing the way

    def _choose(self) -> SpokenBy:
        if self._closed:
            return "printed"
        if self._worker_ready():
            return "worker"
        return "fallback" if self._espeak is not None else "printed"

    def _worker_ready(self) -> bool:
        """Whether the worker can take the next reply; starts it again when it is due."""
        if self._proc is None:
            if self._restart_at is None or time.perf_counter() < self._restart_at:
                return False
            log.warning("speech engine: restarting it")
            self._start_worker()
        if not self._ready:
            # Its first start is waited for (the greeting); a restart is not: until it is
            # ready the fallback speaks.
            fault = self._await_ready(wait=self._starts == 1)
            if fault == "starting":
                return False
            if fault is not None:
                self._worker_fault(fault)
                return False
        if not self._proc.is_alive():  # killed at a quiet moment
            self._proc.join(0.5)
            self._worker_fault(f"the speech engine process had exited (exit code"
                               f" {self._proc.exitcode})")
            return False
        return True

    def _worker_fault(self, reason: str) -> None:
        """Kill the worker; start it again at once, or after a growing wait."""
        self.faults.append(reason)
        log.warning("speech engine fault: %s", reason)
        self._kill_worker()
        if self._engine_missing or self._closed:
            self._restart_at = None
            return
        wait = _RESTART_BACKOFF_S[min(self._faults_in_a_row, len(_RESTART_BACKOFF_S) - 1)]
        self._faults_in_a_row += 1
        self._restart_at = time.perf_counter() + wait
        if wait == 0:
            self._start_worker()  # in the background: ready for a later reply

    def _announce(self) -> None:
        if self._announced:
            return
        self._announced = True
        reason = self.faults[0] if self.faults else "the speaker is closed"
        if len(self.faults) > 1 and self.faults[-1] != reason:
            reason += f"; {self.faults[-1]}"
        self._emit(f"Speech output failed ({reason}): showing the words instead.")
        if self.on_fault is not None:
            self.on_fault(reason)

    # -- internals: the worker

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
        self._restart_at = None
        self._starts += 1
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
        self._ready = False

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
            ready = wait([evt, proc.sentinel], timeout=max(left, 0.0))
            if not ready and left <= 0:
                return "hung"
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

    def _await_ready(self, wait: bool = True) -> str | None:
        """None once the worker is ready; a fault; or "starting" (not ready yet, not waited)."""
        if self._ready:
            return None
        limit = self.startup_timeout_s
        hung_at = self._spawned_at + limit
        msg = self._next_event(hung_at if wait else time.perf_counter())
        if msg == "hung":
            if time.perf_counter() < hung_at:
                return "starting"
            return f"the speech engine did not start within {limit:g} s"
        if isinstance(msg, str):
            return msg
        if msg[0] == "init_error":
            self._engine_missing = True  # a missing engine will not appear on a restart
            return f"the speech engine cannot start: {msg[1]}"
        if msg[0] != "ready":
            return f"the speech engine sent {msg[0]!r} before it was ready"
        self._ready = True
        self.worker_start_s = time.perf_counter() - self._spawned_at
        log.info("speech engine %s ready in %.2f s", msg[2] if len(msg) > 2 else "?", msg[1])
        return None

    def _speak(self, text: str, called: float) -> str | None:
        """Speak once through the worker; the fault description, or None when it went well."""
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
                # when it sounds: its first sample may still have the device's buffer ahead
                self.last_first_audio_at = time.perf_counter() + (msg[4] if len(msg) == 5 else 0)
                self.last_first_audio_s = self.last_first_audio_at - called
                if self.on_playback is not None and len(msg) == 5:
                    self.on_playback(msg[1], msg[2], msg[3])
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

    # -- internals: the fallback

    def _speak_fallback(self, text: str, called: float) -> str | None:
        """Speak once with espeak-ng called directly: synthesized to a WAV in memory, played
        by a small player process on the same device. The fault, or None when it went well."""
        import numpy as np

        from voice_skill.errors import AudioError
        from voice_skill.hearing.audio import decode_wav_native

        assert self._espeak is not None
        rate = self.rate_wpm
        limit = self.settings.tts_timeout_s
        self._stop_requested = False
        self._speaking = True
        try:
            if self._scratch is None:
                self._scratch = _scratch_dir()
            wav = os.path.join(self._scratch, "reply.wav")
            raw = os.path.join(self._scratch, "reply.s16")
            args = [self._espeak, "-w", wav, "-s", str(rate),
                    "-a", str(round(100 * self.settings.volume))]
            if self.settings.voice:
                args += ["-v", self.settings.voice]
            done = subprocess.run([*args, "--", text], capture_output=True, timeout=limit,
                                  check=False, start_new_session=True)
            if done.returncode != 0:
                return f"failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}"
            with open(wav, "rb") as fh:
                samples, rate_hz = decode_wav_native(fh.read(), "synthesized speech")
            audio = np.ascontiguousarray(samples[:, 0], dtype=np.int16)
            audio.tofile(raw)
            if self._stop_requested:
                return None
            device = json.dumps(self._config.get("output_device"))
            with subprocess.Popen(
                    [sys.executable, "-c", _PLAYER, device, str(rate_hz), str(_FALLBACK_LATENCY_S),
                     raw],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True,  # Ctrl-C and a hang-up are the session's to answer
            ) as player:
                return self._watch_player(player, audio, rate_hz, limit, called)
        except (OSError, subprocess.SubprocessError, AudioError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            self._speaking = False

    def _watch_player(self, player: subprocess.Popen[bytes], audio: Any, rate_hz: int,
                      limit: float, called: float) -> str | None:
        """Wait for the fallback's player to end (or kill it on a stop or a hang)."""
        # its start-up (a second or two on a busy machine), then the speech, with slack
        budget = limit + 2.0 * len(audio) / rate_hz + 3.0
        deadline = time.perf_counter() + budget
        started = False
        while player.poll() is None or not started:
            if self._stop_requested or time.perf_counter() > deadline:
                player.kill()
                player.wait()
                return None if self._stop_requested else f"hung (still playing after {budget:.0f} s)"
            if started:
                time.sleep(0.02)
            elif player.stdout is not None and select.select([player.stdout], [], [], 0.02)[0]:
                started = True  # or ended before it could start
                if player.stdout.readline().strip() == b"started":
                    self.last_first_audio_at = time.perf_counter()
                    self.last_first_audio_s = self.last_first_audio_at - called
                    if self.on_playback is not None:  # echo cancellation: what plays now
                        self.on_playback(audio, rate_hz, None)
        if player.returncode != 0:
            err = (player.stderr.read() if player.stderr else b"").decode(errors="replace")
            last = err.strip().splitlines()[-1] if err.strip() else f"exit {player.returncode}"
            return f"could not play ({last})"
        return None

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
        self.last_spoken_by: SpokenBy = "printed"
        """written to a file, heard by nobody"""
        self._rate_factor = 1.0
        self._espeak = shutil.which("espeak-ng") or shutil.which("espeak")

    def plan(self) -> SpokenBy:
        """Nothing is heard: the words are in a file."""
        return "printed"

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
        self.last_spoken_by: SpokenBy = "printed"

    def plan(self) -> SpokenBy:
        """Printed."""
        return "printed"

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
        self.last_spoken_by: SpokenBy = "printed"

    def plan(self) -> SpokenBy:
        """Not heard (a replay)."""
        return "printed"

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
