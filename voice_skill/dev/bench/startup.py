"""A fresh process doing what `voice-skill run` does before its first word, each phase timed.

Run as `python -m voice_skill.dev.bench.startup SETTINGS_JSON ENGINE` by the start-up worker;
it imports nothing of the skill before its clock starts (the packages above it are empty).
"""

import json
import os
import sys
import time


def main(settings_text: str, engine: str) -> None:
    """Start as the skill does, say the greeting, print one JSON line of phase times."""
    t_spawn = float(os.environ["VOICE_SKILL_BENCH_SPAWNED"])
    t_start = time.time()
    from voice_skill.clock import WallClock
    from voice_skill.dev.bench.plan import settings_from_json
    from voice_skill.dev.bench.workers import (
        audio_output,
        first_audio_s,
        peak_mb,
        speech_worker_peak_mb,
    )
    from voice_skill.dialogue.dialog import load_dialog
    from voice_skill.dialogue.manager import DialogueManager
    from voice_skill.events import Reply
    from voice_skill.hearing.recognizers import recognizer_for
    from voice_skill.speaking.tts import Pyttsx3Speaker

    settings = settings_from_json(settings_text)
    with audio_output() as device, open(os.devnull, "w") as quiet:
        t_imported = time.time()
        dialog = load_dialog(settings.dialog_path)
        t_dialog = time.time()
        speaker = Pyttsx3Speaker(settings, stream=quiet)
        recognizer = recognizer_for(settings, engine)
        t_model = time.time()
        greeting = next(o for o in DialogueManager(dialog, settings, WallClock()).start()
                        if isinstance(o, Reply))
        t_say = time.time()
        first = first_audio_s(speaker, greeting.spoken)
        worker_s = speaker.worker_start_s
        worker_peak = speech_worker_peak_mb()
        speaker.close()
    print(json.dumps({
        "device": device, "engine": recognizer.name, "speaking": first is not None,
        "interpreter_s": t_start - t_spawn, "imports_s": t_imported - t_start,
        "dialog_s": t_dialog - t_imported, "model_load_s": t_model - t_dialog,
        "tts_engine_ready_s": worker_s,
        "first_word_s": (t_say + first - t_spawn) if first is not None else None,
        "greeting_first_audio_s": first,
        "peak_mb": peak_mb(), "tts_worker_peak_mb": worker_peak}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        asked = sys.argv[1:2] in (["-h"], ["--help"])
        print("usage: python -m voice_skill.dev.bench.startup SETTINGS_JSON ENGINE\n"
              "The start-up measurement that `voice-skill bench` runs in a fresh process; not "
              "for running by hand: run `.venv/bin/voice-skill bench`.",
              file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    main(sys.argv[1], sys.argv[2])
