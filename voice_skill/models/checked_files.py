"""Model files shipped in the repo (models/<kind>/), each checked against the folder's SHA256SUMS
before use, so a damaged or altered file is one clear line naming it, never a wrong answer."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from voice_skill.errors import ModelError

_REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
_PACKAGE = "voice_skill.models_manifest"
SUMS = "SHA256SUMS"


def shipped_dir(kind: str) -> Path:
    """The checkout's models/<kind>, or the installed package's copy."""
    if (_REPO_MODELS / kind).is_dir():
        return _REPO_MODELS / kind
    return Path(str(resources.files(_PACKAGE) / kind))


def read_sums(folder: Path, what: str) -> dict[str, str]:
    """The folder's SHA256SUMS as file name -> sum; `what` names the files in the message."""
    try:
        lines = (folder / SUMS).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"{folder / SUMS}: cannot read the {what} checksums: "
                         f"{exc.strerror}") from None
    return {f.lstrip("*"): h.lower() for h, _, f in (ln.strip().partition("  ") for ln in lines)
            if f}


def checked(folder: Path, file: str, sums: dict[str, str], what: str) -> bytes:
    """The file's bytes, once its SHA-256 is the one listed. Raises ModelError naming it."""
    path = folder / file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {what} file: {exc.strerror}") from None
    if file not in sums:
        raise ModelError(f"{path}: not listed in {folder / SUMS}")
    if hashlib.sha256(data).hexdigest() != sums[file]:
        raise ModelError(f"{path}: damaged (its SHA-256 is not the one in {SUMS})")
    return data
