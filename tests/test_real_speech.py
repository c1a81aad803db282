"""The real-speech benchmark: its corpus, its noise mixing, its report and its arithmetic."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from voice_skill.dev.real_speech import (
    CORPUS,
    Clip,
    active_speech_power,
    clips,
    false_escalation,
    mix,
    render,
)
from voice_skill.dev.report_doc import write_section
from voice_skill.hearing.audio import read_wav

LABELS = ("digits", "digits8k", "go", "no", "noise", "other-words", "stop", "yes")


def test_the_corpus_has_every_label_attributed_and_in_the_format_it_claims() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "CC BY-SA 4.0" in readme and "arXiv:1804.03209" in readme
    for label in LABELS:
        files = sorted((CORPUS / label).glob("*.wav"))
        assert len(files) >= 50, label
        assert f"`{label}/`" in readme, label
        for f in files[:: max(1, len(files) // 10)]:
            with wave.open(str(f)) as w:
                rate = 8000 if label == "digits8k" else 16000
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 1, 2), f


def test_each_digit_recording_names_its_value() -> None:
    values = {Clip(c.label, c.path).expected_value() for c in clips() if c.label == "digits8k"}
    assert values == set(range(10))
    assert Clip("digits", CORPUS / "digits" / "seven_x.wav").expected_value() == 7


def test_noisy_copies_are_made_of_the_answers_only_at_each_snr() -> None:
    all_clips = list(clips())
    noisy = {(c.label, c.snr_db) for c in all_clips if c.snr_db is not None}
    assert noisy == {(label, snr) for label in ("yes", "no", "stop", "digits") for snr in (10.0, 5.0)}
    assert all(c.noise is not None and c.noise.parent.name == "noise"
               for c in all_clips if c.snr_db is not None)


@pytest.mark.parametrize("snr_db", [10.0, 5.0])
def test_real_noise_is_mixed_at_the_asked_snr(snr_db: float) -> None:
    speech = read_wav(sorted((CORPUS / "yes").glob("*.wav"))[0])
    noise = read_wav(sorted((CORPUS / "noise").glob("*.wav"))[3])
    mixed = mix(speech, noise, snr_db, "seed").astype(np.float64)
    s = speech.astype(np.float64)
    gain = float(np.dot(mixed, s) / np.dot(s, s))  # the copy may be scaled to avoid clipping
    residual = mixed - gain * s
    measured = 10 * np.log10(active_speech_power((gain * s).astype(np.int16)) * 32768.0**2
                             / np.mean(residual**2))
    assert measured == pytest.approx(snr_db, abs=0.5)
    assert np.array_equal(mixed, mix(speech, noise, snr_db, "seed"))  # reproducible


def _outcomes(**shares: float) -> dict[str, float]:
    keys = ("no", "no_unsure", "yes", "yes_unsure", "doubt", "stop_unsure", "unclear")
    return {k: shares.get(k, 0.0) for k in keys}


def test_false_escalation_follows_the_re_ask_rules() -> None:
    assert false_escalation(_outcomes(no=1.0), questions=9, max_reprompts=2) == 0.0
    assert false_escalation(_outcomes(unclear=1.0), questions=9, max_reprompts=2) == 1.0
    # every answer doubtful, but a "no" each time: confirmed once, then passed
    assert false_escalation(_outcomes(no_unsure=1.0), questions=9, max_reprompts=2) == 0.0
    mostly = _outcomes(no=0.9, unclear=0.1)
    assert false_escalation(mostly, questions=9, max_reprompts=2) == pytest.approx(
        1 - (0.9 * (1 + 0.1 + 0.01)) ** 9)
    # a confirmation that hears nothing is asked again: passed when a "no" comes within the bound
    noisy = _outcomes(no_unsure=0.5, unclear=0.5)
    confirmed = 0.5 + 0.5 * (0.5 + 0.5 * 0.5)  # a "no" now, or after one or two re-asks
    per_question = confirmed * (0.5 + 0.5 * 0.5 + 0.5 * 0.5 * 0.5)
    assert false_escalation(noisy, questions=1, max_reprompts=2) == pytest.approx(
        1 - per_question)
    # an unsure "yes" and an unsure "no" are settled by a third answer, passed only when sure
    split = _outcomes(no_unsure=0.5, yes_unsure=0.5)
    assert false_escalation(split, questions=1, max_reprompts=0) == pytest.approx(1 - 0.5 * 0.5)
    assert false_escalation(split, questions=1, max_reprompts=1) == pytest.approx(1 - 0.5 * 0.5)
    some_sure = _outcomes(no=0.2, no_unsure=0.4, yes_unsure=0.4)
    no_unsure_passes = 0.2 + 0.4 + 0.4 * 0.2  # confirming an unsure "no": the third must be sure
    yes_unsure_passes = 0.2 + 0.4 * 0.2
    assert false_escalation(some_sure, questions=1, max_reprompts=1) == pytest.approx(
        1 - (0.2 + 0.4 * no_unsure_passes + 0.4 * yes_unsure_passes))
    # doubt is confirmed, and an unsure "no" to that is asked once more; doubt at the last
    # ask is the safe default
    doubt_then_unsure_no = _outcomes(doubt=0.5, no_unsure=0.5)
    confirmed_no = 0.5  # an unsure "no" confirmed by an unsure "no" (doubt there escalates)
    after_doubt = 0.5 * confirmed_no  # the confirmation's unsure "no", then one agreeing
    assert false_escalation(doubt_then_unsure_no, questions=1, max_reprompts=1) == pytest.approx(
        1 - (0.5 * confirmed_no + 0.5 * after_doubt))
    assert false_escalation(_outcomes(doubt=0.5, no=0.5), questions=1,
                            max_reprompts=0) == pytest.approx(0.5)
    # a stop heard unsurely is confirmed at any ask, the last one too
    assert false_escalation(_outcomes(stop_unsure=0.5, no=0.5), questions=1,
                            max_reprompts=0) == pytest.approx(1 - (0.5 + 0.5 * 0.5))


def test_the_report_renders_from_saved_numbers_and_replaces_its_own_section(tmp_path) -> None:
    summary = {"accuracy": {"yes clean": 99.3, "no 10 dB": 90.0}, "n": {"yes clean": 152},
               "noise_as_yes_no": 0.0, "noise_as_answer": 0.5, "other_words_as_answer": 2.8,
               "go_as_no": 0.0, "yes_as_confident_no": 0,
               "decode_s": {"median": 0.128, "p95": 0.2, "n": 400}}
    report = {"when": "2026-11-24 07:00 UTC", "commit": "abc1234", "questions": 9,
              "max_reprompts": 2, "low_confidence": 0.55,
              "engines": [{"engine": "whisper", "summary": summary, "false_escalation_pct": 0.4}]}
    md = render(report)
    assert "| yes clean | 99.3 | 152 |" in md and "| no 10 dB | 90.0 |" in md
    assert "| 0.128 / 0.200 |" in md and "| 0.4 |" in md and "9 red-flag questions" in md
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nother sections\n", encoding="utf-8")
    write_section(doc, "real-speech", md)
    write_section(doc, "wake", "## Wake word\n\nsome figures")
    write_section(doc, "real-speech", md.replace("99.3", "98.0"))  # replaced in place
    text = doc.read_text(encoding="utf-8")
    assert text.count("## Real speech") == 1 and "98.0" in text and "other sections" in text
    assert text.index("## Real speech") < text.index("## Wake word") and "some figures" in text
