"""The markdown report and its target verdicts: a pure function of the saved JSON."""

from __future__ import annotations

import os
from typing import Any

from voice_skill.dev.bench.plan import NOISE_LEVELS


def _bundled(report: dict[str, Any]) -> dict[str, Any] | None:
    """The bundled default engine's results (Whisper; PocketSphinx when only it was measured)."""
    for name in ("whisper", "pocketsphinx"):
        e: dict[str, Any] | None = report["engines"].get(name)
        if e and e.get("measured"):
            return e
    return None


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: measured value, met or missed (by how much), and why."""
    out: list[dict[str, Any]] = []
    b = _bundled(report)

    def add(name: str, value: Any, limit: str, met: bool | None, by: str, why: str) -> None:
        out.append({"target": name, "value": value, "limit": limit, "met": met, "by": by,
                    "why": why})

    for engine, e in report["engines"].items():
        if not e.get("measured"):
            continue
        cells = _get(e, "red_flags", "table", "yes") or {}
        worst = min((c["recall_pct"] for k, c in cells.items() if k != "all"), default=None)
        misses = e["red_flags"]["miss_count"]
        yes_misses = [m for m in e["red_flags"]["misses"] if m["verdict"] == "passed on"]
        add(f"red-flag \"yes\" recall, every voice and noise level ({engine})", worst, "100 %",
            None if worst is None else worst >= 100.0,
            "" if worst is None or worst >= 100 else f"{100 - worst:.1f} points",
            "" if not yes_misses else f"{len(yes_misses)} of the {misses} misses passed a yes on, "
            f"e.g. {yes_misses[0]['file']} in {yes_misses[0]['state']} heard as "
            f"{yes_misses[0]['heard']!r} -> {yes_misses[0]['intent']}")
    if b is None:
        return out
    cells = b["accuracy"]["table"]["grammar"]["cells"].get("all voices", {})
    confusions = b["accuracy"]["table"]["grammar"]["confusions"]
    why_acc = "most common errors: " + ", ".join(f"{c} ({n})" for c, n in confusions[:4])
    for noise, limit in (("clean", 97.0), ("10 dB", 90.0)):
        pct = _get(cells, noise, "pct")
        add(f"intent accuracy, {noise}, bundled engine", pct, f">= {limit:g} %",
            None if pct is None else pct >= limit,
            "" if pct is None or pct >= limit else f"{limit - pct:.1f} points short",
            "no clip was decoded at this noise level" if pct is None
            else "" if pct >= limit else why_acc)
    speed = _get(b, "machine", "speed", "summary")
    latency = "turn latency beyond the endpointing silence, median"
    if speed and speed["beyond_endpointing_s"]["median"] is not None:
        med = speed["beyond_endpointing_s"]["median"]
        parts = {k: speed[k]["median"] or 0.0 for k in ("recognize_s", "dialogue_s",
                                                        "tts_first_audio_s")}
        top = max(parts, key=lambda k: parts[k])
        add(latency, med, "< 0.300 s",
            med < 0.3, "" if med < 0.3 else f"{1000 * (med - 0.3):.0f} ms over",
            f"largest part: {top.removesuffix('_s').replace('_', ' ')} "
            f"({1000 * parts[top]:.0f} ms median)")
    else:
        add(latency, None, "< 0.300 s", None, "", _unmeasured(b, "speed"))
    start = _get(b, "machine", "startup", "summary")
    startup = "start-up to the first spoken word, median"
    if start and start["first_word_s"]["median"] is not None:
        med = start["first_word_s"]["median"]
        phases = {k: start[k]["median"] or 0.0 for k in (
            "interpreter_s", "imports_s", "dialog_s", "model_load_s", "greeting_first_audio_s")}
        top = max(phases, key=lambda k: phases[k])
        add(startup, med, "< 2 s", med < 2.0,
            "" if med < 2.0 else f"{med - 2.0:.2f} s over",
            f"largest phase: {top.removesuffix('_s').replace('_', ' ')} ({phases[top]:.2f} s)")
    else:
        add(startup, None, "< 2 s", None, "", _unmeasured(
            b, "startup", "" if not start else "no start-up run spoke its greeting"))
    session = _get(b, "machine", "session")
    worker = _get(b, "machine", "startup", "summary", "tts_worker_peak_mb", "max")
    memory = "peak memory of a full session, bundled engine (skill + speech worker)"
    if session and session.get("peak_mb") is not None:
        total = session["peak_mb"] + (worker or 0.0)
        add(memory, round(total, 1), "< 200 MB", total < 200,
            "" if total < 200 else f"{total - 200:.0f} MB over",
            f"skill process {session['peak_mb']:.0f} MB + speech worker {worker or 0:.0f} MB "
            "(resident peaks added: shared library pages counted twice)")
    else:
        add(memory, None, "< 200 MB", None, "", _unmeasured(b, "session"))
    return out


def _unmeasured(engine: dict[str, Any], kind: str, why: str = "") -> str:
    """Why a target has no number: the worker's own error, else `why`. A target is never left
    out of the report: a missing line read as a target met (issue 23)."""
    error = _get(engine, "machine", kind, "error")
    return error or why or f"the {kind} worker gave no figures"


def _f(x: Any, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "-"
    if unit == "ms":
        return f"{1000 * x:.0f} ms"
    return f"{x:.{digits}f}{unit}"


def _acc_cell(cell: dict[str, Any] | None) -> str:
    return "-" if not cell else f"{cell['pct']:.1f} % ({cell['ok']}/{cell['n']})"


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report: every number with how it was measured."""
    m, st, plan = report["machine"], report["settings"], report["plan"]
    L: list[str] = []
    if plan["quick"]:
        L += ["> **Quick sample** (`--quick`): a smoke test on a fraction of the corpus, not the "
              "committed numbers.", ""]
    L += [f"Measured {m['date']} at commit `{m['commit']}` by `voice-skill bench` "
          f"in {report['wall_s']:.0f} s. Raw numbers: `benchmarks.json` beside this file.", ""]
    L += ["## Machine", "",
          f"- CPU: {m['cpu']}, {m['cores']} cores", f"- RAM: {m['ram_gb']} GB",
          f"- OS: {m['os']}", f"- Python {m['python']}",
          f"- Load average (1 minute) {m['load_1min_start']} at the start, "
          f"{m.get('load_1min_end')} at the end: anything else running on the machine competes "
          "with these measurements (each worker's load is in the JSON)",
          "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v),
          f"- Settings: end-of-speech silence {st['end_silence_s']} s "
          f"(decided after {st['endpoint_wait_s']:.2f} s of {st['frame_ms']} ms frames), "
          f"VAD mode {st['vad_aggressiveness']}, red-flag answers below confidence "
          f"{st['low_confidence']} are confirmed, {st['max_reprompts']} re-asks", ""]
    L += ["## How to reproduce", "",
          "```", ".venv/bin/voice-skill bench            # the full run, this report (~10 minutes)",
          ".venv/bin/voice-skill bench --quick    # a < 1 minute smoke test on a sample",
          "```", "",
          "Accuracy and red-flag recall are decoded by a pool of worker processes, one per core. "
          "Every timing and memory number comes from a fresh worker process "
          "(`.venv/bin/python -m voice_skill.dev.bench.workers`), once on the whole machine and once under "
          "`taskset -c 0` (one core). Each part has a wall-time budget, so a slow recognizer "
          "gives a smaller, still balanced, sample; the sample sizes are given with the numbers.",
          ""]
    L += ["## Targets", "", "| target | measured | limit | verdict | why |",
          "|---|---|---|---|---|"]
    for t in report["targets"]:
        if t["met"] is None:  # the reason is the verdict: what kept it from being measured
            verdict, why = f"not measured: {t['why'] or 'no figures'}", ""
        else:
            verdict = "met" if t["met"] else f"**missed** by {t['by']}"
            why = t["why"]
        value = "-" if t["value"] is None else t["value"]
        L.append(f"| {t['target']} | {value} | {t['limit']} | {verdict} | {why} |")
    L.append("")
    engines = report["engines"]
    for engine, e in engines.items():
        if not e.get("measured"):
            L += [f"- **{engine}**: {e['reason']}"]
    L.append("")
    L += _accuracy_md(engines, plan)
    L += _red_flag_md(engines)
    L += _speed_md(engines, "machine")
    L += _footprint_md(engines, "machine")
    L += _pi_md(engines)
    L += _closing_md(report)
    return "\n".join(L) + "\n"


def _accuracy_md(engines: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    L = ["## Accuracy", "",
         "How measured: each fixture WAV (`tests/fixtures/audio`, flite voices slt, kal16, awb "
         "and espeak-ng; noisy copies at 20 and 10 dB SNR for slt and kal16) is endpointed with "
         "the real VAD, recognized under the grammar of a state where its intent is an answer "
         "(yes/no/unsure and sentences that must not match: rf_bladder; pain: pain_start; "
         "ready: back_1; back/side: choose_position; cannot: can_move; global commands: "
         "rf_bladder), and the intent matcher's result is compared with the manifest (pain "
         "scores must match too). Free dictation: the same segment decoded with no grammar "
         "(phrases=None), matched the same way" + (
             f" (every {plan['free_every']}th phrase of the sample)." if plan["free_every"] > 1
             else "."), ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        a = e["accuracy"]
        t = a["table"]
        g, fr = t["grammar"]["cells"], t["free"]["cells"]
        L += [f"### {engine}: intent accuracy, per-state grammar vs free dictation", "",
              f"Sample: {a['phrases']} of the {a['phrases_total']} phrases (intents taken in "
              "turn), each in every voice and noise set it was recorded in, decoded in a "
              f"{a['budget_s']:.0f} s budget by {len(os.sched_getaffinity(0))} worker processes"
              + ("." if a["phrases"] < a["phrases_total"] else ": the whole corpus."), "",
              "| voice | " + " | ".join(f"{n} grammar | {n} free" for n in NOISE_LEVELS)
              + " | all grammar | all free |",
              "|---|" + "---|" * (2 * len(NOISE_LEVELS) + 2)]
        for voice in sorted(g, key=lambda v: (v == "all voices", v)):
            row = [voice]
            for n in (*NOISE_LEVELS, "all"):
                row += [_acc_cell(_get(g, voice, n)), _acc_cell(_get(fr, voice, n))]
            L.append("| " + " | ".join(row) + " |")
        gain_g, gain_f = _get(g, "all voices", "all", "pct"), _get(fr, "all voices", "all", "pct")
        L += ["", f"Gain from per-state grammars: {gain_g} % vs {gain_f} % with free dictation"
              + (f" ({gain_g - gain_f:+.1f} points)." if gain_g is not None and gain_f is not None
                 else "."),
              "Most common errors with grammars: " + (", ".join(
                  f"{c} ({n})" for c, n in t["grammar"]["confusions"]) or "none") + ".",
              "Real-time factor in this run (decode time / speech length, median): grammar "
              f"{_f(t['grammar']['rtf']['median'])}, free {_f(t['free']['rtf']['median'])}.", ""]
    return L


def _red_flag_md(engines: dict[str, Any]) -> list[str]:
    L = ["## Red-flag recall", "",
         "How measured: every \"yes\" fixture is answered to every emergency and urgent "
         "red-flag question, each in a fresh dialogue manager driven to that question with "
         "typed answers. Recalled: the skill escalated at once, asked to confirm, or re-asked "
         "(still on the question; a question left unclear ends in the safer \"yes\") - never "
         "passed on to the next question. False escalation: a \"no\" fixture that escalated "
         "at once. Re-ask rate: answers that led to a confirmation or re-ask.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        rf = e["red_flags"]
        tot = rf["fixtures_total"]
        n_yes = _get(rf, "table", "yes", "all", "n") or 0
        n_no = _get(rf, "table", "no", "all", "n") or 0
        L += [f"### {engine}", "", f"Questions: {', '.join(rf['states'])}. Answers: "
              f"{n_yes // max(1, len(rf['states']))} of the {tot['yes']} \"yes\" fixtures and "
              f"{n_no // max(1, len(rf['states']))} of the {tot['no']} \"no\" fixtures, each "
              "to every question.", "",
              "| voice / noise | \"yes\" answers | recall | escalated at once | confirmed "
              "| re-asked | passed on | \"no\" answers | false escalations | no re-asked |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        yes, no = rf["table"].get("yes", {}), rf["table"].get("no", {})
        for label in sorted(set(yes) | set(no), key=lambda k: (k == "all", k)):
            y, n = yes.get(label, {}), no.get(label, {})
            L.append(f"| {label} | {y.get('n', 0)} | **{y.get('recall_pct', '-')} %** | "
                     f"{y.get('escalated', 0)} | {y.get('confirm', 0)} | {y.get('re-ask', 0)} | "
                     f"{y.get('passed on', 0)} | {n.get('n', 0)} | "
                     f"{n.get('false_escalation_pct', '-')} % | {n.get('reask_pct', '-')} % |")
        L.append("")
        if rf["misses"]:
            L += ["Misses (first few): " + "; ".join(
                f"{x['file']} in {x['state']}: heard {x['heard']!r} -> {x['intent']} "
                f"({x['verdict']})" for x in rf["misses"][:6]), ""]
    return L


def _speed_rows(sp: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    s = sp["summary"]
    return [("endpointing (end silence + VAD frame)", s["endpointing_s"]),
            ("recognition", s["recognize_s"]), ("dialogue (match + manager)", s["dialogue_s"]),
            ("speech synthesis to first audio", s["tts_first_audio_s"]),
            ("**beyond endpointing**", s["beyond_endpointing_s"]),
            ("**end of speech to first audio**", s["total_s"])]


def _speed_md(engines: dict[str, Any], where: str) -> list[str]:
    L = ["## Speed", "",
         "How measured (worker process): for a spread of corpus files, the endpointing part is "
         "the configured end-of-speech wait (whole frames) plus the VAD compute of one frame; "
         "recognition is the recognizer's decode time for the segment under the state's "
         "grammar; dialogue is the intent matcher plus DialogueManager.handle; speech synthesis "
         "is Pyttsx3Speaker.last_first_audio_s for the reply's first sentence (real espeak-ng, "
         "audio played to the device named below, then cut short). Real-time factor: decode "
         "time / speech length. Start-up: a fresh `python` process doing what `voice-skill run` "
         "does (imports, load the dialogue, start the speech worker, open the recognizer, say "
         "the greeting), from spawn to the greeting's first audio. Model load: opening the "
         "recognizer in that process.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        sp, su = _get(e, where, "speed"), _get(e, where, "startup")
        L += [f"### {engine}", ""]
        if sp and "summary" in sp:
            L += [f"Turn latency over {sp['summary']['recognize_s']['n']} turns; speech out: "
                  f"{sp['tts_how']}.", "", "| part | median | p95 |", "|---|---|---|"]
            L += [f"| {name} | {_f(v['median'], 'ms')} | {_f(v['p95'], 'ms')} |"
                  for name, v in _speed_rows(sp)]
            rtf = sp["summary"]["rtf"]
            L += ["", f"Real-time factor of recognition: median {_f(rtf['median'])}, p95 "
                  f"{_f(rtf['p95'])}.", ""]
        elif sp:
            L += [f"Turn latency: {sp.get('error')}", ""]
        if su and "summary" in su:
            s = su["summary"]
            L += [f"Start-up over {s['first_word_s']['n']} fresh processes (median):", "",
                  "| phase | median |", "|---|---|"]
            for key, name in (("interpreter_s", "Python start"), ("imports_s", "imports"),
                              ("dialog_s", "load the dialogue"),
                              ("model_load_s", "model load (open the recognizer)"),
                              ("tts_engine_ready_s", "speech worker ready (in parallel)"),
                              ("greeting_first_audio_s", "greeting: say() to first audio"),
                              ("first_word_s", "**spawn to the first spoken word**")):
                L.append(f"| {name} | {_f(s[key]['median'], ' s', 2)} |")
            L.append("")
        elif su:
            L += [f"Start-up: {su.get('error')}", ""]
    return L


def _footprint_md(engines: dict[str, Any], where: str) -> list[str]:
    L = ["## Footprint", "",
         "How measured: peak resident memory of a worker process that replays the "
         "happy_path_ice scenario (a full session, real decoding, speech to a null speaker), "
         "read from the kernel's VmHWM: getrusage's ru_maxrss would do, but on Linux it keeps "
         "the parent's peak across fork and exec, so a worker started by the big bench process "
         "reports the bench's size (the raw value is in the JSON). The speech worker's own peak "
         "is read the same way in the start-up runs, after it has spoken the greeting. "
         "Soak: every scenario looped on virtual clocks with real audio decoding, resident "
         "memory (/proc/self/statm) sampled after each session.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        se, so = _get(e, where, "session"), _get(e, where, "soak")
        worker = _get(e, where, "startup", "summary", "tts_worker_peak_mb", "max")
        L += [f"### {engine}", ""]
        if se and "peak_mb" in se:
            L += [f"- Full session (happy_path_ice, {'passed' if se['passed'] else 'FAILED'}, "
                  f"{se['wall_s']} s wall): peak {se['peak_mb']} MB in the skill process "
                  f"({se['peak_before_mb']} MB after the imports); speech worker peak "
                  f"{worker} MB."]
        if so and "samples" in so:
            L += [f"- Soak: {so['virtual_minutes']} virtual minutes, {so['sessions']} sessions, "
                  f"{so['turns']} decoded turns ({so['speech_decoded_min']} minutes of speech), "
                  f"{so['wall_s']} s wall. Resident memory: {so['rss_first_mb']} MB after the "
                  f"first session, max {so['rss_max_mb']} MB, {so['rss_last_mb']} MB at the end; "
                  f"trend over the second half {so['second_half_slope_mb_per_1000_turns']:+.2f} "
                  "MB per 1000 turns.", "",
                  "| virtual minutes | sessions | turns | RSS (MB) |", "|---|---|---|---|"]
            samples = so["samples"]
            step = max(1, len(samples) // 8)
            for x in [*samples[::step], samples[-1]][:10]:
                L.append(f"| {x['virtual_min']} | {x['sessions']} | {x['turns']} | "
                         f"{x['rss_mb']} |")
        for part in (se, so):
            if part and "error" in part:
                L.append(f"- {part['error']}")
        L.append("")
    return L


def _pi_md(engines: dict[str, Any]) -> list[str]:
    L = ["## Raspberry-Pi-like run", "",
         "The same workers confined to one CPU core (`taskset -c 0`; the speech worker inherits "
         "it). This machine's core is much faster than a Raspberry Pi's, so this shows what "
         "one core costs, not a Pi's absolute speed.", ""]
    for engine, e in engines.items():
        if not e.get("measured"):
            continue
        L += [f"### {engine}", "", "| measure | whole machine | one core |", "|---|---|---|"]

        def val(where: str, *path: str, unit: str = "ms", e: dict[str, Any] = e) -> str:
            x = _get(e, where, *path)
            return _f(x, unit, 2) if unit != "MB" else ("-" if x is None else f"{x} MB")

        rows = [("turn: beyond endpointing, median", ("speed", "summary",
                                                      "beyond_endpointing_s", "median"), "ms"),
                ("turn: beyond endpointing, p95", ("speed", "summary", "beyond_endpointing_s",
                                                   "p95"), "ms"),
                ("turn: recognition, median", ("speed", "summary", "recognize_s", "median"), "ms"),
                ("turn: speech synthesis, median", ("speed", "summary", "tts_first_audio_s",
                                                    "median"), "ms"),
                ("real-time factor, median", ("speed", "summary", "rtf", "median"), ""),
                ("start-up to first word, median", ("startup", "summary", "first_word_s",
                                                    "median"), " s"),
                ("model load, median", ("startup", "summary", "model_load_s", "median"), " s"),
                ("peak memory, full session (skill process)", ("session", "peak_mb"), "MB"),
                ("peak memory, speech worker", ("startup", "summary", "tts_worker_peak_mb",
                                                "max"), "MB"),
                ("soak: RSS at the end", ("soak", "rss_last_mb"), "MB"),
                ("soak: wall time", ("soak", "wall_s"), " s")]
        for name, path, unit in rows:
            L.append(f"| {name} | {val('machine', *path, unit=unit)} | "
                     f"{val('one_core', *path, unit=unit)} |")
        L.append("")
    return L


def _closing_md(report: dict[str, Any]) -> list[str]:
    L = ["## Closing note", ""]
    b = _bundled(report)
    sp = _get(b, "machine", "speed", "summary")
    missed = [t for t in report["targets"] if t["met"] is False]
    L.append("Targets missed: " + ("none." if not missed else "; ".join(
        f"{t['target']} (by {t['by']})" for t in missed) + "."))
    if sp:
        parts = {"the end-of-speech silence": sp["endpointing_s"]["median"],
                 "recognition": sp["recognize_s"]["median"],
                 "speech synthesis to first audio": sp["tts_first_audio_s"]["median"],
                 "the dialogue": sp["dialogue_s"]["median"]}
        ranked = sorted(((v or 0.0, k) for k, v in parts.items()), reverse=True)
        (c1, n1), (c2, n2) = ranked[0], ranked[1]
        L += ["", f"Biggest remaining cost: {n1} ({1000 * c1:.0f} ms of every turn at the "
              f"median), then {n2} ({1000 * c2:.0f} ms)."]
    return [*L, ""]
