"""The recorded-audio corpus: complete for the dialogue, well-formed, reproducible; recording."""

from __future__ import annotations

import argparse
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voice_skill.dev.fixtures import (
    DEFAULT_NOISY_VOICES,
    DEFAULT_SEED,
    DEFAULT_SNRS_DB,
    DEFAULT_VOICES,
    MANIFEST,
    Phrase,
    add_fixtures_parser,
    corpus_phrases,
    fixtures_command,
    generate,
    measured_snr_db,
    read_manifest,
    record,
    slugify,
    snr_folder,
    speech_span,
)
from voice_skill.dialogue.dialog import Dialog, load_dialog
from voice_skill.dialogue.intents import NO_MATCH, IntentMatcher
from voice_skill.errors import VoiceSkillError
from voice_skill.hearing.audio import PIPELINE_RATE_HZ, WavSource, read_wav, silence
from voice_skill.hearing.endpointing import Endpointer
from voice_skill.settings import Settings

CORPUS = Path(__file__).parent / "fixtures" / "audio"
REGENERATE = "run `voice-skill fixtures generate` (from the repository root) and commit the result"

needs_synth = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("espeak-ng") is None,
    reason="flite and espeak-ng are needed (apt-get install flite espeak-ng)",
)


@pytest.fixture(scope="module")
def manifest() -> dict[str, dict[str, Any]]:
    return read_manifest(CORPUS)


@pytest.fixture(scope="module")
def dialog() -> Dialog:
    return load_dialog()


def test_every_phrase_a_state_accepts_has_a_clean_fixture_in_every_voice(manifest, dialog):
    matcher = IntentMatcher(dialog)
    written = {
        tuple(matcher.tokens(p)): intent
        for intent, phrases in dialog.intents.items()
        for p in phrases
    }
    missing: dict[str, str] = {}
    for state in dialog.states:
        for text in matcher.grammar(state):
            if tuple(matcher.tokens(text)) not in written:
                continue  # a pain score from a template: covered by numbers and sentences
            for voice in DEFAULT_VOICES:
                rel = f"{voice}/clean/{slugify(text)}.wav"
                entry = manifest.get(rel)
                if entry is None or entry["text"] != text or not (CORPUS / rel).exists():
                    missing[rel] = f"{rel} ({text!r}, heard in state {state})"
    assert not missing, (
        f"{len(missing)} clean fixture(s) missing for phrases the dialogue accepts, e.g. "
        f"{'; '.join(sorted(missing.values())[:4])}: {REGENERATE}"
    )


def test_corpus_is_up_to_date_with_the_dialogue(manifest, dialog):
    want = {f"{v}/clean/{p.slug}.wav": p for p in corpus_phrases(dialog) for v in DEFAULT_VOICES}
    have = {rel for rel, e in manifest.items() if e["voice"] in DEFAULT_VOICES}
    assert not set(want) - have, f"missing {sorted(set(want) - have)[:5]}: {REGENERATE}"
    stale = {rel for rel in have if "/clean/" in rel} - set(want)
    assert not stale, (
        f"fixtures of phrases no longer in the dialogue {sorted(stale)[:5]}: {REGENERATE}"
    )
    for rel, p in want.items():
        e = manifest[rel]
        assert (e["text"], e["intent"], e["value"]) == (p.text, p.intent, p.value), (
            f"{rel}: manifest says {e}, the dialogue says {p}: {REGENERATE}"
        )


def test_manifest_matches_the_files(manifest):
    on_disk = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.wav")}
    assert on_disk == set(manifest), (
        f"not in the manifest: {sorted(on_disk - set(manifest))[:5]}; "
        f"in the manifest, no file: {sorted(set(manifest) - on_disk)[:5]}"
    )
    for rel, e in manifest.items():
        voice, folder, name = rel.split("/")
        assert voice == e["voice"], rel
        assert folder == snr_folder(e["snr_db"]), rel
        assert name == f"{slugify(str(e['text']))}.wav", f"{rel} is not named after {e['text']!r}"
    noisy = {(e["voice"], e["snr_db"]) for e in manifest.values() if e["snr_db"] is not None}
    assert noisy == {(v, s) for v in DEFAULT_NOISY_VOICES for s in DEFAULT_SNRS_DB if s}


def test_files_are_16_khz_mono_16_bit(manifest):
    for rel in manifest:
        with wave.open(str(CORPUS / rel)) as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            assert fmt == (16000, 1, 2), f"{rel}: {fmt}"
            assert w.getnframes() > 0.5 * PIPELINE_RATE_HZ, f"{rel}: too short to hold a phrase"


def test_clean_copies_have_quarter_second_of_silence_around_the_speech(manifest):
    for rel, e in manifest.items():
        if e["snr_db"] is not None:
            continue
        audio = read_wav(CORPUS / rel)
        span = speech_span(audio)
        assert span.start >= 0.24 * PIPELINE_RATE_HZ, rel
        assert len(audio) - span.stop >= 0.24 * PIPELINE_RATE_HZ, rel
        assert 0.45 < np.abs(audio).max() / 32768 < 0.55, f"{rel}: not normalized to -6 dBFS"


def test_noisy_copies_have_the_labelled_signal_to_noise_ratio(manifest):
    checked = 0
    for rel, e in manifest.items():
        if e["snr_db"] is None:
            continue
        voice, _, name = rel.split("/")
        clean = read_wav(CORPUS / voice / "clean" / name)
        noisy = read_wav(CORPUS / rel)
        assert len(clean) == len(noisy), rel
        snr = measured_snr_db(clean, noisy)
        assert abs(snr - e["snr_db"]) <= 1.0, f"{rel}: measured {snr:.1f} dB"
        # The noise fills the silence too: a listener hears a fan or traffic throughout.
        assert np.abs(noisy[: PIPELINE_RATE_HZ // 5]).max() > 0, rel
        checked += 1
    assert checked >= 2 * len(DEFAULT_NOISY_VOICES) * 100


def test_measured_snr_sees_a_wrong_label():
    clean = read_wav(CORPUS / "slt" / "clean" / "yes.wav")
    noisy10 = read_wav(CORPUS / "slt" / "snr10" / "yes.wav")
    noisy20 = read_wav(CORPUS / "slt" / "snr20" / "yes.wav")
    assert measured_snr_db(clean, noisy20) - measured_snr_db(clean, noisy10) == pytest.approx(
        10, abs=1
    )


def test_phrases_are_named_after_what_they_say_and_labelled_as_the_matcher_reads_them(dialog):
    phrases = corpus_phrases(dialog)
    matcher = IntentMatcher(dialog)
    slugs = [p.slug for p in phrases]
    assert len(slugs) == len(set(slugs))
    by_slug = {p.slug: p for p in phrases}
    assert by_slug["no_i_havent"] == Phrase("no i haven't", "no", None, "no_i_havent")
    assert by_slug["no_i_have_not"].intent == "no"
    assert [by_slug[n].value for n in dialog.language.numbers] == list(range(11))
    assert by_slug["its_about_a_seven"].value == 7
    pain_state = next(s for s in dialog.states if "pain" in dialog.accepted_intents(s))
    for p in phrases:
        if p.intent == NO_MATCH:
            for state in dialog.states:
                got = matcher.match(p.text, state)
                assert got.name == NO_MATCH, f"{p.text!r} in {state}: {got}"
        elif p.intent == "pain":
            got = matcher.match(p.text, pain_state)
            assert (got.name, got.value) == ("pain", p.value), p.text
        else:
            state = next(
                s
                for s in dialog.states
                if p.intent in dialog.accepted_intents(s)
                and "pain" not in dialog.accepted_intents(s)
            )
            assert matcher.match(p.text, state).name == p.intent, f"{p.text!r} in {state}"


@needs_synth
def test_regenerating_a_phrase_gives_identical_bytes(tmp_path, manifest, dialog):
    phrase = next(p for p in corpus_phrases(dialog) if p.slug == "no_i_havent")
    report = generate(tmp_path, voices=DEFAULT_VOICES, seed=DEFAULT_SEED, phrases=[phrase])
    made = read_manifest(tmp_path)
    assert report.files == len(made) == len(DEFAULT_VOICES) + 2 * len(DEFAULT_NOISY_VOICES)
    for rel, entry in made.items():
        assert entry == manifest[rel]
        assert (tmp_path / rel).read_bytes() == (CORPUS / rel).read_bytes(), (
            f"{rel} differs from the committed file: {REGENERATE}"
        )


@needs_synth
def test_another_seed_gives_other_noise_same_speech(tmp_path, dialog):
    phrase = next(p for p in corpus_phrases(dialog) if p.slug == "yes")
    generate(tmp_path, voices=("slt",), seed=DEFAULT_SEED + 1, phrases=[phrase])
    assert (tmp_path / "slt/clean/yes.wav").read_bytes() == (
        CORPUS / "slt/clean/yes.wav"
    ).read_bytes()
    assert (tmp_path / "slt/snr10/yes.wav").read_bytes() != (
        CORPUS / "slt/snr10/yes.wav"
    ).read_bytes()


class StandInMicrophone:
    """Plays one clip per listen: each flush (before a prompt) moves on to the next clip."""

    def __init__(self, clips: list[np.ndarray]) -> None:
        self._clips = list(clips)
        self._now: WavSource | None = None
        self.frame_samples = WavSource(silence(0.1), Settings()).frame_samples
        self.flushes = 0

    def read(self, timeout_s: float) -> np.ndarray | None:
        return self._now.read(timeout_s) if self._now else None

    def flush(self) -> None:
        self.flushes += 1
        self._now = WavSource(self._clips.pop(0), Settings()) if self._clips else None

    def close(self) -> None:
        self._now = None


def _is_slice_of(part: np.ndarray, whole: np.ndarray) -> bool:
    for k in range(len(whole) - len(part) + 1):
        if whole[k] == part[0] and np.array_equal(whole[k : k + len(part)], part):
            return True
    return False


def test_record_saves_each_phrase_and_skips_after_two_silences(tmp_path, dialog):
    phrases = {p.slug: p for p in corpus_phrases(dialog)}
    wanted = [phrases["yes"], phrases["no"], phrases["i_cant_move"]]
    spoken_yes = np.concatenate([read_wav(CORPUS / "awb/clean/yes.wav"), silence(1.0)])
    spoken_cant = np.concatenate([read_wav(CORPUS / "slt/clean/i_cant_move.wav"), silence(1.0)])
    mic = StandInMicrophone([spoken_yes, silence(3.0), silence(3.0), spoken_cant])
    said: list[str] = []

    report = record(tmp_path, "anna", wanted, mic, Endpointer(Settings()), said.append, 2.0)

    assert [p.slug for p in report.skipped] == ["no"]
    assert report.saved == (
        tmp_path / "anna/clean/yes.wav",
        tmp_path / "anna/clean/i_cant_move.wav",
    )
    assert said == [
        "[1/3] Say: yes",
        "[2/3] Say: no",
        "I heard nothing. Say: no",
        "Skipped: no",
        "[3/3] Say: i can't move",
    ]
    assert mic.flushes == 4
    for path, source in zip(report.saved, (spoken_yes, spoken_cant), strict=True):
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        saved = read_wav(path)
        assert _is_slice_of(saved, source), f"{path.name} is not what the microphone heard"
        speech = speech_span(source)
        assert np.count_nonzero(saved) == np.count_nonzero(source[speech]), "speech was cut"
    entries = read_manifest(tmp_path)
    assert entries["anna/clean/i_cant_move.wav"] == {
        "text": "i can't move",
        "intent": "cannot",
        "value": None,
        "voice": "anna",
        "snr_db": None,
        "noise": None,
    }
    assert set(entries) == {"anna/clean/yes.wav", "anna/clean/i_cant_move.wav"}


def test_record_rejects_a_speaker_name_that_is_not_a_folder_name(tmp_path, dialog):
    mic = StandInMicrophone([])
    for bad in ("../evil", "Anna Smith", "slt", ""):
        with pytest.raises(VoiceSkillError, match="speaker name"):
            record(tmp_path, bad, corpus_phrases(dialog)[:1], mic)
    assert not (tmp_path / MANIFEST).exists()


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="voice-skill")
    add_fixtures_parser(parser.add_subparsers(dest="command"))
    return fixtures_command(parser.parse_args(argv))


def test_cli_record_only_an_unknown_phrase_fails_before_opening_the_microphone(tmp_path, capsys):
    code = _cli(
        [
            "fixtures",
            "record",
            "--speaker",
            "anna",
            "--out",
            str(tmp_path),
            "--only",
            "make me a sandwich",
        ]
    )
    assert code == 2
    assert "not a corpus phrase: make_me_a_sandwich" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@needs_synth
def test_cli_generate_one_voice_writes_clean_and_noisy_copies(tmp_path, capsys, dialog):
    assert _cli(["fixtures", "generate", "--out", str(tmp_path), "--voices", "espeak-ng"]) == 0
    assert "wrote" in capsys.readouterr().out
    entries = read_manifest(tmp_path)
    n = len(corpus_phrases(dialog))
    assert len(entries) == 3 * n
    assert {e["snr_db"] for e in entries.values()} == {None, 20, 10}
    assert (tmp_path / "espeak-ng/clean/call_an_ambulance.wav").read_bytes() == (
        CORPUS / "espeak-ng/clean/call_an_ambulance.wav"
    ).read_bytes()
