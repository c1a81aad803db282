"""The keyword judge (a second opinion on one-word answers): the shipped files are checked, a
damaged one is one clear line and Whisper hears alone, and the judge on real people it was not
trained on."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from voice_skill.dev.keyword_train import held_out
from voice_skill.errors import ModelError
from voice_skill.hearing.audio import read_wav
from voice_skill.hearing.keyword_judge import KeywordJudge, keyword_judge
from voice_skill.models.keyword_judge import load_keyword_judge, models_dir

REAL = Path(__file__).parent / "fixtures" / "real_speech"


def held_out_files(label: str, n: int = 10) -> list[Path]:
    """The first `n` recordings of a label by speakers the judge was never trained on."""
    return [f for f in sorted((REAL / label).glob("*.wav")) if held_out(f)][:n]


@pytest.fixture(scope="module")
def judge() -> KeywordJudge:
    return KeywordJudge(load_keyword_judge())


def test_the_shipped_judge_hears_real_people_it_never_heard_say_yes_no_and_stop(
        judge: KeywordJudge) -> None:
    for label, meant, at_least in (("yes", "yes", 9), ("no", "no", 8), ("stop", "stop", 9),
                                   ("noise", "other", 8)):
        heard = [judge.verdict(read_wav(f)).best for f in held_out_files(label)]
        assert sum(h == meant for h in heard) >= at_least, (label, heard)


def test_it_hears_the_same_word_wherever_it_falls_in_the_answer(judge: KeywordJudge) -> None:
    said = read_wav(held_out_files("no", 1)[0])
    quiet = np.zeros(16000, np.int16)
    for audio in (said, np.concatenate([quiet, said]), np.concatenate([said, quiet, quiet])):
        assert judge.verdict(audio).best == "no"


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    folder = tmp_path / "keyword_judge"
    shutil.copytree(models_dir(), folder)
    return folder


@pytest.mark.parametrize("file", ["melspectrogram.tflite", "embedding_model.tflite",
                                  "answer_head.npz"])
def test_a_changed_file_is_one_clear_line_and_answers_are_heard_by_whisper_alone(
        copied: Path, file: str) -> None:
    data = bytearray((copied / file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copied / file).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=rf"{file.replace('.', '[.]')}: damaged"):
        load_keyword_judge(copied)
    said: list[str] = []
    assert keyword_judge(said.append, copied) is None
    assert len(said) == 1 and "\n" not in said[0]
    assert file in said[0] and "Whisper alone" in said[0]


def test_a_missing_checksum_list_or_file_is_named(copied: Path) -> None:
    (copied / "answer_head.npz").unlink()
    with pytest.raises(ModelError, match=r"answer_head[.]npz: cannot read"):
        load_keyword_judge(copied)
    (copied / "SHA256SUMS").unlink()
    with pytest.raises(ModelError, match=r"SHA256SUMS: cannot read"):
        load_keyword_judge(copied)
