"""Turn-taking through the virtual devices: reply latency, echo, and barge-in, measured live.

Runs `voice-skill run` on a private PulseAudio (tests/pulse_rig.py, so run it from a source
checkout) with the skill's speaker looped back into its microphone at the person's level,
answers each question as a person would, and records both devices. Figures:

- end of the person's speech to the first audio of the reply (median, p95), from the two
  recordings (aligned by when each recorder started: a few tens of ms of uncertainty);
- false barge-ins: the skill's own voice taken for the person (nobody speaks over it here);
- "stop" / "help" spoken over a prompt (real "stop"s, one speaker per session; "help" in the
  four synthetic voices in turn): share acted on within 500 ms of the end of the word (when
  the skill logs what it heard over itself, which is after speaker.stop() has returned), and
  what it heard.

With --room, the person lies across a simulated room (voice_skill.dev.room_sim, one room per
run): every answer is played with that room's echoes, real recordings where the repo has them
(yes, no, the pain numbers; the rest synthetic), and with --snr a real household noise plays
from elsewhere in the room all session long, that far under the answers' speech. The person's
speech end is then the recording's own (its last loud 10 ms, after the room's lead-in), as the
microphone cannot tell it from the noise. --close plays the same answers dry, for comparison.

Run: .venv/bin/python -m voice_skill.dev.turn_live [--stops N] [--echo-volume 100%]
                                                   [--room [--snr DB | --close] [--sessions N]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voice_skill.hearing.audio import PIPELINE_RATE_HZ

REPO = Path(__file__).resolve().parents[2]
CLEAN = REPO / "tests" / "fixtures" / "audio" / "slt" / "clean"
REAL = REPO / "tests" / "fixtures" / "real_speech"
ANSWERS = {"opening": "yes", "rf_": "no", "pain_start": "its_about_a_seven", "can_move": "yes",
           "choose_position": "side", "side_": "ready", "onset": "yes", "ice_ask": "no",
           "breathing_intro": "ready", "breathing_again": "no", "pain_end": "three"}
LOUD = 500.0
"""a 10 ms block above this RMS (int16) is sound"""
REAL_ANSWERS = {"yes": "yes", "no": "no", "its_about_a_seven": "digits/seven_", "three": "digits/three_"}
"""answers a person gives in a room trial from real recordings: folder (and file-name start)"""
EXPECTED = {"yes": "yes", "no": "no", "its_about_a_seven": "pain", "three": "pain",
            "side": "side", "ready": "ready"}
"""the intent each answer should be heard as"""


def pulse_rig_module() -> Any:
    """tests/pulse_rig.py of the source checkout (the private PulseAudio)."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import pulse_rig
    except ImportError as exc:
        raise SystemExit(f"needs tests/pulse_rig.py of a source checkout: {exc}") from exc
    return pulse_rig


class Recording:
    """A device recorded from now on, with the wall time of its first sample."""

    def __init__(self, rig_module: Any, env: dict[str, str], source: str) -> None:
        self.rec = rig_module.SpeakerRecorder(env, source)
        self.rec.flowing.wait(10)
        self.t0 = time.monotonic()
        self.audio = np.zeros(0, np.int16)

    def stop(self) -> None:
        """Stop recording and keep what was captured."""
        self.audio = self.rec.stop()

    def loud(self) -> np.ndarray:
        """Wall times (monotonic) of the 10 ms blocks that hold sound."""
        return self.t0 + np.flatnonzero(block_levels(self.audio) > LOUD) * 0.01


def answer_for(state: str) -> str | None:
    """The fixture a person would answer with in `state`."""
    for key, wav in ANSWERS.items():
        if state == key or (key.endswith("_") and state.startswith(key)):
            return wav
    return None


def _unit_power(clip: np.ndarray) -> np.ndarray:
    """A noise clip scaled to a mean power of 1 (float; a silent clip stays silent)."""
    x = clip.astype(np.float64)
    power = float(np.mean(x**2)) if len(x) else 0.0
    return x / np.sqrt(power) if power > 0.0 else x


class RoomTrial:
    """The answers as heard across one simulated room, and its household noise (optional)."""

    def __init__(self, folder: Path, number: int, snr_db: float | None,
                 close: bool = False) -> None:
        from voice_skill.dev import room_sim
        from voice_skill.dev.fixtures import write_wav
        from voice_skill.hearing.audio import read_wav

        seed = f"live/{number}"
        room = room_sim.draw_room(seed)
        talker, noise_rir = room_sim.impulse_responses(room)
        self.rt60_s = round(room_sim.measured_rt60(talker), 3)
        self.room = room.as_dict()
        self.files: dict[str, list[Path]] = {}
        """each answer's takes by one speaker, as heard in this room: a question asked again
        gets the next take, as a person says a word anew each time (one take, said again)"""
        self._said: dict[str, int] = {}
        self.word_end_s: dict[Path, float] = {}
        rendered: list[tuple[Path, np.ndarray, float]] = []  # (file, sound, its level)
        for k, word in enumerate(dict.fromkeys(ANSWERS.values())):
            self.files[word] = []
            for i, dry in enumerate(self.recordings(word, k + 13 * number)):  # other speakers
                audio = read_wav(dry)                                          # each session
                wet = (np.concatenate([np.zeros(round(room_sim.LEAD_S * PIPELINE_RATE_HZ),
                                                np.int16), audio])
                       if close else room_sim.in_room(audio, talker)).astype(np.float64) / 32768.0
                path = folder / f"{word}_{i}_room.wav"
                rendered.append((path, wet, room_sim.active_level(wet)))
                self.files[word].append(path)
                self.word_end_s[path] = room_sim.LEAD_S + word_end_s(dry)
        # One person speaks at one level: the recordings' own levels (from -3 to +15 dB over
        # the noise of a "10 dB" session, measured) are those of the phones they were made on.
        level = float(np.median([lv for _, _, lv in rendered]))
        for path, wet, lv in rendered:
            leveled = wet * np.sqrt(level / max(lv, 1e-20))
            write_wav(path, np.clip(np.round(leveled * 32768.0), -32768, 32767).astype(np.int16))
        self.noise: Path | None = None
        if snr_db is not None:
            clips = sorted((REAL / "noise").glob("*.wav"))
            order = room_sim.rng_for(seed + "/noise").permutation(len(clips))
            # Each clip at one level: as recorded they span 55 dB (5th to 95th percentile), so
            # with the whole set at 10 dB under the answers the median clip was 23 dB under
            # them, and a third of the session was over 30 dB clear (answers measured so live).
            x = np.concatenate([_unit_power(read_wav(clips[i])) for i in order])
            nz = room_sim.fftconvolve(x, noise_rir)[len(noise_rir): len(x)]
            nz *= np.sqrt(level / 10 ** (snr_db / 10) / np.mean(nz**2))
            self.noise = folder / "noise_room.wav"
            write_wav(self.noise, np.clip(np.round(nz * 32768.0), -32768, 32767).astype(np.int16))

    @staticmethod
    def recordings(word: str, k: int) -> list[Path]:
        """Real recordings of the answer where the repo has them: every take of one speaker (a
        different speaker for each answer and session), else the synthetic one."""
        if word in REAL_ANSWERS:
            folder, _, start = REAL_ANSWERS[word].partition("/")
            takes = sorted((REAL / folder).glob(f"{start}*.wav"))
            first = takes[(7 * k) % len(takes)]
            speaker = first.name.split("_nohash_")[0]
            return [first] + [t for t in takes if t != first
                              and t.name.split("_nohash_")[0] == speaker]
        return [CLEAN / f"{word}.wav"]

    def take(self, word: str) -> Path:
        """The next take of `word` in this room (round and round)."""
        n = self._said.get(word, 0)
        self._said[word] = n + 1
        return self.files[word][n % len(self.files[word])]

    def play_noise(self, rig: Any, until: threading.Event) -> threading.Thread:
        """The household noise into the microphone, over and over until `until` is set."""
        def loop() -> None:
            while self.noise is not None and not until.is_set():
                player = rig.play_into_mic(self.noise)
                while player.poll() is None:
                    if until.wait(0.2):
                        player.kill()
                        break

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread


def session(rig: Any, mod: Any, dialog: Path, config: Path, command: Path | None,
            timeout_s: float, room: RoomTrial | None = None,
            said: tuple[str, float] | None = None) -> dict[str, Any]:
    """One whole session with echo, answering each question; or, with `command`, a session
    where that word is said a second into the first safety instructions."""
    env = dict(rig.env, VOICE_SKILL_CONFIG=str(config))
    mic = Recording(mod, rig.env, f"{mod.MIC_SINK}.monitor")
    spk = Recording(mod, rig.env, f"{mod.SPEAKER_SINK}.monitor")
    # -v logs: a pipe read only at the end would fill up
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by _read_all)
    proc = subprocess.Popen([sys.executable, "-m", "voice_skill", "-v", "run", "--json",
                             "--no-log", "--dialog", str(dialog)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    assert proc.stdout is not None
    events: list[tuple[float, dict[str, Any]]] = []
    answered_at: list[tuple[float, float, str]] = []  # (answer played from, to, state)
    overs: list[tuple[float, str]] = []  # (wall time, word) spoken over the skill
    commands = [command] if command else []
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    person_busy = threading.Lock()
    quiet = threading.Event()
    noise = room.play_noise(rig, quiet) if room else None
    spoken: list[tuple[float, str, str, int]] = []  # (speech end, state, answer, take) in a room

    def speak(path: Path, state: str) -> None:
        with person_busy:
            t = time.monotonic()
            rig.play_into_mic(path).wait(15)
            answered_at.append((t, time.monotonic(), state))
            if room:
                word, take, _ = path.stem.rsplit("_", 2)
                spoken.append((t + room.word_end_s[path], state, word, int(take)))

    def say_over(path: Path) -> None:
        label, end = said or (said_by(path), word_end_s(path))
        with person_busy:
            # counted as it starts: a skill that acts before the word has finished playing
            # ends the session, and a count made after the playing was then lost
            overs.append((time.monotonic() + end, label))
            rig.play_into_mic(path).wait(15)

    try:
        for line in proc.stdout:
            e = json.loads(line)
            now = time.monotonic()
            events.append((now, e))
            if e["event"] == "listening" and e["state"].startswith("confirm_"):
                # the skill asks whether it heard "stop" or "help" over itself: a person who
                # said it says yes; in a whole session nobody did, so the answer is no
                time.sleep(0.3)
                word = "yes" if command else "no"
                speak(room.take(word) if room else CLEAN / f"{word}.wav", e["state"])
            elif e["event"] == "listening" and (wav := answer_for(e["state"])):
                time.sleep(0.3)
                speak(room.take(wav) if room else CLEAN / f"{wav}.wav", e["state"])
            elif e["event"] == "said" and commands and e["state"] == "rf_bladder":
                # over the first safety instructions, about a second into them: a command
                threading.Timer(1.0, say_over, (commands.pop(0),)).start()
            if e["event"] == "ended" or (command and e["event"] == "escalated"):
                time.sleep(1.0)
                break
    finally:
        proc.kill()
        proc.wait(30)
        timer.cancel()
        quiet.set()
        if noise:
            noise.join(5)
        mic.stop()
        spk.stop()
    return {"events": events, "answers": answered_at, "overs": overs, "mic": mic, "spk": spk,
            "spoken": spoken, "stderr": _read_all(err)}


def _read_all(file: Any) -> str:
    """What a temporary file holds, and close it."""
    file.seek(0)
    text: str = file.read()
    file.close()
    return text


def room_figures(run: dict[str, Any]) -> dict[str, Any]:
    """A room trial's reply latency (from each recording's own speech end) and what was heard:
    latencies for every answer, and for all but the red-flag "no"s (the target's set)."""
    spk_loud = run["spk"].loud()
    intents = [(t, e) for t, e in run["events"] if e["event"] == "intent"]
    timings = [e for _, e in run["events"] if e["event"] == "timing" and e.get("ended_at")]
    rows = []
    for end, state, word, take in run["spoken"]:
        after = spk_loud[spk_loud > end + 0.05]
        wait = round(float(after[0] - end), 3) if after.size and after[0] - end < 8.0 else None
        heard = next((e for t, e in intents if t > end - 0.5), None)
        timing = next((e for e in timings if e["ended_at"] > end - 0.3), None)
        rows.append({"state": state, "said": word, "reply_s": wait,
                     "heard": heard and heard.get("name"), "text": heard and heard.get("text"),
                     "take": take, "confidence": heard and heard.get(
                         "confidence"), "right": bool(heard and heard.get("name") == EXPECTED.get(word)),
                     **(where_the_wait_went(timing, end) if timing else {})})
    return room_summary(rows) | {
        "outcome": next((e.get("outcome") for _, e in run["events"] if e["event"] == "ended"),
                        None), "rows": rows,
        "heard_over_speech": [e.get("text") for _, e in run["events"]
                              if e["event"] == "heard" and e.get("over_speech")],
        "confirmations_asked": [e["state"] for _, e in run["events"] if e["event"] ==
                                "listening" and e["state"].startswith("confirm_")],
        "escalated": [e.get("reason") for _, e in run["events"] if e["event"] == "escalated"]}


def where_the_wait_went(timing: dict[str, Any], word_end: float) -> dict[str, Any]:
    """A reply's wait split by the skill's own `timing` event (its clock is this one,
    CLOCK_MONOTONIC): from the word's end (as played) to the last frame the detector called
    voice (the rig's latency, plus the detector held by noise), to the end of the turn (the
    quiet it waited), to the decode's end, to the reply's first audio."""
    def since(at: float | None) -> float | None:
        return None if at is None else round(at - word_end, 3)

    decoded = timing["ended_at"] + timing["recognize_s"]
    return {"voice_end_s": since(timing.get("voice_ended_at")), "turn_end_s": since(timing["ended_at"]),
            "quiet_s": timing.get("quiet_s"), "judge_wait_s": timing.get("judge_wait_s"),
            "decoded_s": since(decoded), "pause_decodes": timing.get("pause_decodes"),
            "decodes_after": timing.get("decodes_after"),
            "first_audio_s": since(timing.get("first_audio_at")),
            "tts_first_audio_s": timing.get("tts_first_audio_s")}


def room_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers heard as meant, and the reply waits: median, for all but the red-flag "no"s (the
    target's set; the skill waits longer after those on purpose), and p95."""
    waits = [r["reply_s"] for r in rows if r["reply_s"] is not None]
    others = [r["reply_s"] for r in rows if r["reply_s"] is not None
              and not (r["state"].startswith("rf_") and r["said"] == "no")]
    return {"answers": len(rows), "heard_right": sum(r["right"] for r in rows),
            "reply_median_s": round(statistics.median(waits), 3) if waits else None,
            "reply_median_not_red_flag_no_s": round(statistics.median(others), 3) if others else None,
            "reply_p95_s": round(float(np.percentile(waits, 95)), 3) if waits else None}


def commands_to_say(n: int, first: int = 0) -> list[Path]:
    """n real "stop"s (one speaker each, from the `first`-th on) and n "help"s (the four
    synthetic voices in turn)."""
    speakers: dict[str, Path] = {}
    for path in sorted((REAL / "stop").glob("*.wav")):
        speakers.setdefault(path.name.split("_")[0], path)
    stops = list(speakers.values())
    helps = [CLEAN.parents[1] / voice / "clean" / "help.wav"
             for voice in ("slt", "awb", "kal16", "espeak-ng")]
    return [p for k in range(n)
            for p in (stops[(first + k) % len(stops)], helps[k % len(helps)])]


def said_by(path: Path) -> str:
    """A command recording's word and voice: "stop (real 022cd682)", "help (slt)"."""
    if path.parent.name == "stop":
        return f"stop (real {path.name.split('_')[0]})"
    return f"{path.stem} ({path.parents[1].name})"


def block_levels(audio: np.ndarray) -> np.ndarray:
    """RMS level of each whole 10 ms block of int16 audio."""
    block = PIPELINE_RATE_HZ // 100
    n = len(audio) // block
    levels: np.ndarray = np.sqrt(np.mean(
        audio[: n * block].astype(np.float64).reshape(n, block) ** 2, axis=1))
    return levels


def word_end_s(path: Path) -> float:
    """Where the spoken word in a recording ends: its last 10 ms within 20 dB of its loudest."""
    from voice_skill.hearing.audio import read_wav

    levels = block_levels(read_wav(path))
    loud = np.flatnonzero(levels > 0.1 * levels.max())
    return float(loud[-1] + 1) * 0.01 if len(loud) else 0.0


def figures(run: dict[str, Any]) -> dict[str, Any]:
    """Latency, false barge-ins and commands acted on, from one session's recordings."""
    mic_loud, spk_loud = run["mic"].loud(), run["spk"].loud()
    events = run["events"]
    latencies = []
    for start, end, state in run["answers"]:
        # the person's speech in this answer: the mic's loud blocks while it was played,
        # less what the skill itself was saying then (echo): blocks with no speaker sound
        own = [t for t in mic_loud if start <= t <= end + 0.3
               and not np.any(np.abs(spk_loud - (t - 0.1)) < 0.15)]
        if not own:
            continue
        speech_end = max(own) + 0.01
        after = spk_loud[spk_loud > speech_end + 0.05]
        if after.size and after[0] - speech_end < 5.0:
            latencies.append((round(after[0] - speech_end, 3), state))
    over_words = [t for t, _ in run["overs"]]
    heard_over = [(t, e) for t, e in events if e["event"] == "heard" and e.get("over_speech")]
    false_barge = [e for t, e in heard_over
                   if not any(0 <= t - w < 6.0 for w in over_words)
                   and not any(s - 0.5 <= t <= end + 3.0 for s, end, _ in run["answers"])]
    acted = []  # (word, seconds from its end to the skill acting on it, what it heard)
    for word_end, word in run["overs"]:
        # the end of the word is known from its recording (the microphone also hears the
        # skill's echo, so its loudness cannot say when the person stopped); the skill logs
        # what it heard over itself once speaker.stop() has returned (and the speaker goes
        # quiet within 10 ms of that, measured): the speaker recording cannot tell, as the
        # reply ("All right. I will stop now.") follows the cut-off prompt without a gap
        at = next(((t, e) for t, e in heard_over if t > word_end - 0.2), None)
        acted.append((word, None, None) if at is None
                     else (word, round(at[0] - word_end, 3), at[1]["text"]))
    lat = sorted(d for d, _ in latencies)
    return {
        "answers": len(run["answers"]),
        "reply_latency_median_s": round(statistics.median(lat), 3) if lat else None,
        "reply_latency_p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3)
        if lat else None,
        "reply_latencies_s": latencies,
        "false_barge_ins": len(false_barge),
        "false_barge_in_texts": [e["text"] for e in false_barge],
        "commands_over_speech": len(run["overs"]),
        "commands_stopped_within_500ms": sum(1 for _, d, _ in acted if d is not None and d <= 0.5),
        "command_stop_delays_s": acted,
        "outcome": next((e.get("outcome") for _, e in events if e["event"] == "ended"), None),
        "confirmations_asked": [e["state"] for _, e in events
                                if e["event"] == "listening" and e["state"].startswith("confirm_")],
        "escalated": any(e["event"] == "escalated" for _, e in events),
    }


def under_echo(run: dict[str, Any], volume: str, below_db: float, folder: Path,
               paths: list[Path]) -> list[tuple[Path, str, float]]:
    """The commands as a person 1-3 m away says them (each in its own simulated room), at
    `below_db` under the skill's echo at the microphone: the loudness of what the skill
    played in the first session (its speech, not its pauses) at the loopback's level
    (pactl's cubic scale). Each: (file, who said what, where the word ends in it)."""
    from voice_skill.dev import room_sim
    from voice_skill.dev.fixtures import write_wav
    from voice_skill.hearing.audio import read_wav

    gain = (float(volume.rstrip("%")) / 100.0) ** 3
    played = run["spk"].audio.astype(np.float64) / 32768.0
    echo = room_sim.active_level(played) * gain ** 2
    out = []
    for k, path in enumerate(paths):
        dry = read_wav(path)
        talker, _ = room_sim.impulse_responses(room_sim.draw_room(f"live-command/{k}"))
        wet = room_sim.in_room(dry, talker).astype(np.float64) / 32768.0
        wet *= np.sqrt(echo / 10 ** (below_db / 10) / room_sim.active_level(wet))
        file = folder / f"command{k}.wav"
        write_wav(file, np.clip(np.round(wet * 32768.0), -32768, 32767).astype(np.int16))
        out.append((file, said_by(path), room_sim.LEAD_S + word_end_s(path)))
    return out


def main() -> None:
    """Print the live turn-taking figures as JSON."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stops", type=int, default=3, help="sessions with 'stop', and with 'help'")
    ap.add_argument("--echo-volume", default="100%", help="loopback level (pactl volume)")
    ap.add_argument("--barge-in", choices=("on", "off"), default="on")
    ap.add_argument("--safety-words", choices=("on", "off"), default="on",
                    help="with --barge-in off: hear only stop/help/calls over the skill")
    ap.add_argument("--under-echo", type=float, default=None,
                    help="the commands said from across a room, this many dB under the echo")
    ap.add_argument("--echo-cancel", choices=("skill", "server"), default="skill",
                    help="server: PulseAudio's module-echo-cancel (webrtc) cancels the echo")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--room", action="store_true",
                    help="the person lies across a simulated room (whole sessions only)")
    ap.add_argument("--snr", type=float, default=None,
                    help="with --room: household noise all session, this many dB under the answers")
    ap.add_argument("--sessions", type=int, default=3, help="with --room: sessions (one room each)")
    ap.add_argument("--first-session", type=int, default=0,
                    help="number of the first session (with --room: its room, noise and voices;"
                         " with --stops: its real speakers), so that runs one after another"
                         " draw new ones")
    ap.add_argument("--close", action="store_true",
                    help="with --room: the same answers close to the microphone, for comparison")
    ap.add_argument("--keep", default=None,
                    help="keep each session's log in this folder (with --room, its events too)")
    args = ap.parse_args()
    if args.room:
        print(json.dumps(room_main(args), indent=1))
        return
    with live_rig(args) as (rig, mod, base, dialog, config):
        run = session(rig, mod, dialog, config, None, args.timeout)
        result = figures(run)
        acted: list[Any] = []
        paths = commands_to_say(args.stops, args.first_session * args.stops)
        commands = ([(p, said_by(p), word_end_s(p)) for p in paths] if args.under_echo is None
                    else under_echo(run, args.echo_volume, args.under_echo, base, paths))
        for k, (path, label, end) in enumerate(commands):
            said = session(rig, mod, dialog, config, path, 120.0, said=(label, end))
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                (Path(args.keep) / f"command{k}.stderr").write_text(said["stderr"], "utf-8")
            trial = figures(said)
            acted += trial["command_stop_delays_s"]
            result["false_barge_ins"] += trial["false_barge_ins"]
        result["commands_over_speech"] = len(acted)
        result["commands_stopped_within_500ms"] = sum(1 for _, d, _ in acted
                                                     if d is not None and d <= 0.5)
        result["command_stop_delays_s"] = acted
        delays = [d for _, d, _ in acted if d is not None]
        result["commands_acted_on"] = len(delays)
        result["commands_acted_on_within_1s"] = sum(1 for d in delays if d <= 1.0)
        result["command_delay_median_s"] = round(statistics.median(delays), 3) if delays else None
    result["echo_volume"], result["barge_in"] = args.echo_volume, args.barge_in
    result["safety_words"], result["under_echo_db"] = args.safety_words, args.under_echo
    result["echo_cancel"] = args.echo_cancel
    print(json.dumps(result, indent=1))
    if os.environ.get("TURN_LIVE_DEBUG"):
        print(run["stderr"][-3000:], file=sys.stderr)
        for t, e in run["events"]:
            print(round(t, 2), json.dumps(e)[:150], file=sys.stderr)


@contextlib.contextmanager
def live_rig(args: argparse.Namespace) -> Iterator[tuple[Any, Any, Path, Path, Path]]:
    """A private PulseAudio with the speaker heard by the microphone, and the session's files:
    (rig, its module, a scratch folder, the dialogue with short timers, the settings)."""
    mod = pulse_rig_module()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        rig = mod.PulseRig(base / "pulse")
        rig.start()
        try:
            yield (rig, mod, base, *prepare(rig, base, args))
        finally:
            rig.stop()


def prepare(rig: Any, base: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The speaker heard by the microphone, the settings, and the dialogue with short timers."""
    from voice_skill.dialogue.dialog import bundled_dialog_path

    rig.echo_speaker_into_mic(args.echo_volume)
    if args.echo_cancel == "server":
        rig.cancel_echo_in_server()
    config = base / "config.toml"
    config.write_text(f"barge_in = {'true' if args.barge_in == 'on' else 'false'}\n"
                      f"safety_words_over_speech = {'true' if args.safety_words == 'on' else 'false'}\n"
                      f'echo_cancel = "{args.echo_cancel}"\n')
    dialog = base / "short.yaml"
    text = bundled_dialog_path().read_text(encoding="utf-8")
    dialog.write_text(text.replace("duration_s: 1200", "duration_s: 4")
                      .replace("at_s: 600", "at_s: 2"), encoding="utf-8")
    return dialog, config


def room_main(args: argparse.Namespace) -> dict[str, Any]:
    """Whole sessions answered from across a room (each its own), with or without noise."""
    trials = []
    with live_rig(args) as (rig, mod, base, dialog, config):
        for k in range(args.first_session, args.first_session + args.sessions):
            folder = base / f"room{k}"
            folder.mkdir()
            room = RoomTrial(folder, k, args.snr, args.close)
            run = session(rig, mod, dialog, config, None, args.timeout, room)
            result = room_figures(run)
            if args.keep:  # the session's events and log, to see where a wait went
                keep = Path(args.keep)
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"session{k}.stderr").write_text(run["stderr"], encoding="utf-8")
                (keep / f"session{k}.events.jsonl").write_text("".join(
                    json.dumps({"t": round(t, 3), **e}) + "\n" for t, e in run["events"]),
                    encoding="utf-8")
            trials.append(result | {"room": room.room, "rt60_measured_s": room.rt60_s})
    return {"snr_db": args.snr, "close": args.close, "sessions": len(trials),
            **room_summary([r for t in trials for r in t["rows"]]),
            "outcomes": [t["outcome"] for t in trials],
            "heard_over_speech": sum(len(t["heard_over_speech"]) for t in trials),
            "confirmations_asked": sum(len(t["confirmations_asked"]) for t in trials),
            "sessions_escalated": sum(bool(t["escalated"]) for t in trials), "trials": trials}


if __name__ == "__main__":
    main()
