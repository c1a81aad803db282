"""`voice-skill models list|download|verify`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from voice_skill.errors import ModelError, VoiceSkillError
from voice_skill.models.download import download
from voice_skill.models.manifest import (
    default_download_dir,
    find_entry,
    load_check,
    locate_vosk_model,
    read_manifest,
    user_models_dir,
    verify,
)
from voice_skill.settings import Settings, load_settings


def add_models_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Define `voice-skill models list|download|verify`, each with its own --help."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models",
        help="the optional Vosk model: where it is, fetch it (checked, resumable), check it",
        description="The bundled Whisper tiny.en needs nothing here. These commands list, "
        "download (checked by size and SHA-256, resumable) or verify the optional Vosk "
        "English models. Set VOICE_SKILL_MODEL_BASE_URL to download from a mirror.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output")
    actions.add_parser(
        "list", parents=[as_json], help="every model in the manifest: installed or not, where",
        description="Every Vosk model in models/manifest.yaml: whether it is installed, "
        "where, and its size.")
    download = actions.add_parser(
        "download", parents=[as_json], help="fetch a model, check it, unpack it",
        description="Download a Vosk model (default: the manifest's default, "
        "vosk-model-small-en-us-0.15, about 40 MB), check its size and SHA-256, unpack it. "
        "An interrupted download resumes.")
    download.add_argument("name", nargs="?", default=None,
                          help="model name (default: the manifest's default)")
    download.add_argument(
        "--dest", type=Path, default=None,
        help="folder to install into (default: models/ of a checkout, else the user data folder)")
    download.add_argument("--no-verify", action="store_true",
                          help="install even when the manifest has no SHA-256 for it")
    verify_cmd = actions.add_parser(
        "verify", parents=[as_json], help="check an installed model's files",
        description="Check that the files libvosk reads are there, not empty, and the size "
        "they had when installed.")
    verify_cmd.add_argument("name", nargs="?", default=None,
                            help="model name or folder (default: the manifest's default)")
    verify_cmd.add_argument("--load", action="store_true",
                            help="also load the model with Vosk (slower, proves it works)")
    parser.set_defaults(func=models_command)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    given = getattr(args, "settings", None)
    if isinstance(given, Settings):
        return given
    config = getattr(args, "config", None)  # the top-level --config of `voice-skill`
    return load_settings(config if isinstance(config, Path) else None)


def _installed_at(settings: Settings, name: str) -> Path | None:
    try:
        return locate_vosk_model(settings, name)
    except ModelError:
        return None


def _list(args: argparse.Namespace, settings: Settings) -> int:
    entries, default = read_manifest(None)
    rows = []
    for e in entries:
        where = _installed_at(settings, e.name)
        rows.append(
            {
                "name": e.name,
                "lang": e.lang,
                "default": e.name == default,
                "installed": where is not None,
                "path": str(where) if where else None,
                "size_bytes": e.size_bytes,
                "sha256": e.sha256,
                "url": e.url,
                "notes": e.notes,
            }
        )
    if getattr(args, "json", False):
        print(json.dumps({"default": default, "models": rows}, indent=1))
        return 0
    for row in rows:
        size = row["size_bytes"]
        size_text = f"{size / 2**20:6.1f} MiB" if isinstance(size, int) else "   ? MiB"
        state = f"installed: {row['path']}" if row["installed"] else "not installed"
        flag = "default" if row["default"] else ""
        print(f"{row['name']:32} {size_text}  {flag:7}  {state}")
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    name: str | None = getattr(args, "name", None)
    if name and (os.sep in name or Path(name).is_dir()):
        path = Path(name).expanduser()
    else:
        path = locate_vosk_model(settings, name)
    problems = verify(path)
    if not problems and getattr(args, "load", False):
        problems += [p for p in [load_check(path)] if p]
    if getattr(args, "json", False):
        print(json.dumps({"path": str(path), "ok": not problems, "problems": problems}))
    elif not problems:
        print(f"{path}: OK")
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return 0 if not problems else 1


def _download(args: argparse.Namespace) -> int:
    entry = find_entry(getattr(args, "name", None))
    dest = getattr(args, "dest", None) or default_download_dir()
    path = download(
        entry,
        Path(dest).expanduser(),
        progress=not getattr(args, "json", False),
        allow_unverified=getattr(args, "no_verify", False),
    )
    with contextlib.suppress(OSError):
        (user_models_dir() / ".last-download-failed").unlink(missing_ok=True)
    if getattr(args, "json", False):
        print(json.dumps({"name": entry.name, "path": str(path)}))
    else:
        print(f"{entry.name} is installed at {path}")
    return 0


def models_command(args: argparse.Namespace) -> int:
    """`voice-skill models list|download|verify`: 0 on success, 1 with a message on stderr."""
    action = getattr(args, "action", "list")
    try:
        if action == "download":
            return _download(args)
        settings = _settings_from(args)
        if action == "list":
            return _list(args, settings)
        if action == "verify":
            return _verify(args, settings)
        raise ModelError(f"unknown action {action!r}: use list, download or verify")
    except VoiceSkillError as exc:
        print(f"voice-skill models {action}: {exc}", file=sys.stderr)
        return 1
