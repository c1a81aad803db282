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

Run: .venv/bin/python -m voice_skill.dev.turn_live [--stops N] [--echo-volume 100%]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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


def _rig() -> Any:
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


def session(rig: Any, mod: Any, dialog: Path, config: Path, command: Path | None,
            timeout_s: float) -> dict[str, Any]:
    """One whole session with echo, answering each question; or, with `command`, a session
    where that word is said a second into the first safety instructions."""
    env = dict(rig.env, VOICE_SKILL_CONFIG=str(config))
    mic = Recording(mod, rig.env, f"{mod.MIC_SINK}.monitor")
    spk = Recording(mod, rig.env, f"{mod.SPEAKER_SINK}.monitor")
    proc = subprocess.Popen([sys.executable, "-m", "voice_skill", "run", "--json", "--no-log",
                             "--dialog", str(dialog)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    events: list[tuple[float, dict[str, Any]]] = []
    answered_at: list[tuple[float, float, str]] = []  # (answer played from, to, state)
    overs: list[tuple[float, str]] = []  # (wall time, word) spoken over the skill
    commands = [command] if command else []
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    person_busy = threading.Lock()

    def speak(path: Path, state: str) -> None:
        with person_busy:
            t = time.monotonic()
            rig.play_into_mic(path).wait(15)
            answered_at.append((t, time.monotonic(), state))

    def say_over(path: Path) -> None:
        with person_busy:
            t = time.monotonic()
            rig.play_into_mic(path).wait(15)
        overs.append((t + word_end_s(path), said_by(path)))

    try:
        for line in proc.stdout:
            e = json.loads(line)
            now = time.monotonic()
            events.append((now, e))
            if e["event"] == "listening" and (wav := answer_for(e["state"])):
                time.sleep(0.3)
                speak(CLEAN / f"{wav}.wav", e["state"])
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
        mic.stop()
        spk.stop()
    return {"events": events, "answers": answered_at, "overs": overs, "mic": mic, "spk": spk,
            "stderr": proc.stderr.read() if proc.stderr else ""}


def commands_to_say(n: int) -> list[Path]:
    """n real "stop"s (one speaker each) and n "help"s (the four synthetic voices in turn)."""
    speakers: dict[str, Path] = {}
    for path in sorted((REAL / "stop").glob("*.wav")):
        speakers.setdefault(path.name.split("_")[0], path)
    stops = list(speakers.values())
    helps = [CLEAN.parents[1] / voice / "clean" / "help.wav"
             for voice in ("slt", "awb", "kal16", "espeak-ng")]
    return [p for k in range(n) for p in (stops[k % len(stops)], helps[k % len(helps)])]


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
    }


def main() -> None:
    """Print the live turn-taking figures as JSON."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stops", type=int, default=3, help="sessions with 'stop', and with 'help'")
    ap.add_argument("--echo-volume", default="100%", help="loopback level (pactl volume)")
    ap.add_argument("--barge-in", choices=("on", "off"), default="on")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    mod = _rig()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        rig = mod.PulseRig(base / "pulse")
        rig.start()
        try:
            rig.echo_speaker_into_mic(args.echo_volume)
            config = base / "config.toml"
            config.write_text(f"barge_in = {'true' if args.barge_in == 'on' else 'false'}\n")
            dialog = base / "short.yaml"
            from voice_skill.dialogue.dialog import bundled_dialog_path
            text = bundled_dialog_path().read_text(encoding="utf-8")
            dialog.write_text(text.replace("duration_s: 1200", "duration_s: 4")
                              .replace("at_s: 600", "at_s: 2"), encoding="utf-8")
            run = session(rig, mod, dialog, config, None, args.timeout)
            result = figures(run)
            acted: list[Any] = []
            for path in commands_to_say(args.stops):
                trial = figures(session(rig, mod, dialog, config, path, 120.0))
                acted += trial["command_stop_delays_s"]
                result["false_barge_ins"] += trial["false_barge_ins"]
            result["commands_over_speech"] = len(acted)
            result["commands_stopped_within_500ms"] = sum(1 for _, d, _ in acted
                                                         if d is not None and d <= 0.5)
            result["command_stop_delays_s"] = acted
        finally:
            rig.stop()
    result["echo_volume"], result["barge_in"] = args.echo_volume, args.barge_in
    print(json.dumps(result, indent=1))
    if os.environ.get("TURN_LIVE_DEBUG"):
        print(run["stderr"][-3000:], file=sys.stderr)
        for t, e in run["events"]:
            print(round(t, 2), json.dumps(e)[:150], file=sys.stderr)


if __name__ == "__main__":
    main()
