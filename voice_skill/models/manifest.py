"""Speech models: the manifest, where an installed model is found, and whether it is whole."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import platformdirs
import yaml

from voice_skill.errors import ModelError
from voice_skill.settings import APP_NAME, Settings

STAMP_NAME = ".voice-skill-model.json"
"""written into an installed model: what was installed and the size of every file"""


_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # voice_skill/


_REPO_MODELS = _PACKAGE_DIR.parent / "models"


_MANIFEST_FILE = "manifest.yaml"


_MANIFEST_PACKAGE = "voice_skill.models_manifest"


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


_HEX_RE = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model of the manifest."""

    name: str
    """folder name of the unpacked model, e.g. vosk-model-small-en-us-0.15"""
    url: str
    """where the .zip archive is published"""
    size_bytes: int | None
    """archive size (bytes); None if unknown"""
    sha256: str | None
    """archive SHA-256 (lowercase hex); None: unverifiable, installed only with --no-verify"""
    lang: str = "en-us"
    notes: str = ""
    md5: str | None = None
    """archive MD5 as the authors publish it; checked as well when known"""

    @property
    def archive_name(self) -> str:
        """File name of the archive (the last part of the URL)."""
        return urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1] or f"{self.name}.zip"


class Opener(Protocol):
    """What `download` needs of urllib's OpenerDirector (tests may pass their own)."""

    def open(self, fullurl: urllib.request.Request, data: None = None, timeout: float = ...) -> Any:
        """Open a request; the result is a file-like HTTP response."""


def read_manifest_text(path: Path | None) -> tuple[str, str]:
    """The manifest's text and a name for it: the given file, the repo copy, or package data."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the model manifest: {exc.strerror}") from None
    repo_copy = _REPO_MODELS / _MANIFEST_FILE
    if repo_copy.is_file():
        return repo_copy.read_text(encoding="utf-8"), str(repo_copy)
    try:
        packaged = resources.files(_MANIFEST_PACKAGE) / _MANIFEST_FILE
        return packaged.read_text(encoding="utf-8"), f"{_MANIFEST_PACKAGE}/{_MANIFEST_FILE}"
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        raise ModelError(
            f"model manifest not found: looked at {repo_copy} and at package data "
            f"{_MANIFEST_PACKAGE}/{_MANIFEST_FILE} (is the package installed completely?)"
        ) from None


def _optional(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _HEX_RE[key].fullmatch(value.lower()):
        digits = 64 if key == "sha256" else 32
        raise ModelError(f"{where}: field {key!r} must be {digits} hex digits or null: {value!r}")
    return value.lower()


def _parse_entry(item: Any, where: str) -> ModelEntry:
    if not isinstance(item, dict):
        raise ModelError(f"{where}: each model must be a mapping of fields")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        # The name becomes a folder name: no slashes or dots in front, so it cannot escape.
        raise ModelError(f"{where}: field 'name' must be a plain folder name, got {name!r}")
    where = f"{where} ({name})"
    url = item.get("url")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ModelError(f"{where}: field 'url' must be an http(s) URL, got {url!r}")
    size = item.get("size_bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise ModelError(f"{where}: field 'size_bytes' must be a positive whole number or null")
    unknown = set(item) - {"name", "url", "size_bytes", "sha256", "md5", "lang", "notes"}
    if unknown:
        raise ModelError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return ModelEntry(
        name=name,
        url=url,
        size_bytes=size,
        sha256=_optional(item, "sha256", where),
        lang=str(item.get("lang") or "en-us"),
        notes=" ".join(str(item.get("notes") or "").split()),
        md5=_optional(item, "md5", where),
    )


def read_manifest(path: Path | None) -> tuple[tuple[ModelEntry, ...], str]:
    text, source = read_manifest_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{source}: malformed YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelError(f"{source}: expected a mapping with a 'models' list")
    entries = tuple(
        _parse_entry(item, f"{source}: models[{i}]") for i, item in enumerate(data["models"])
    )
    names = [e.name for e in entries]
    if not entries or len(set(names)) != len(names):
        raise ModelError(f"{source}: model names must be present and unique, got {names}")
    default = data.get("default", names[0])
    if default not in names:
        raise ModelError(f"{source}: default {default!r} is not one of the models {names}")
    return entries, default


def load_manifest(path: Path | None = None) -> tuple[ModelEntry, ...]:
    """Every model of the manifest (the repo's models/manifest.yaml, else the packaged copy)."""
    return read_manifest(path)[0]


def default_model_name(path: Path | None = None) -> str:
    """The manifest's `default` model name."""
    return read_manifest(path)[1]


def find_entry(name: str | None = None, path: Path | None = None) -> ModelEntry:
    """The manifest entry called `name` (the default if None); ModelError lists the known ones."""
    entries, default = read_manifest(path)
    wanted = name or default
    for entry in entries:
        if entry.name == wanted:
            return entry
    known = ", ".join(e.name for e in entries)
    raise ModelError(f"unknown model {wanted!r}; the manifest has: {known}")


def repo_models_dir() -> Path | None:
    """`<repo>/models` when running from a checkout (it holds the manifest), else None."""
    return _REPO_MODELS if (_REPO_MODELS / _MANIFEST_FILE).is_file() else None


def user_models_dir() -> Path:
    """`<user data dir>/models` (platformdirs, app "voice-skill"); it need not exist."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


def default_download_dir() -> Path:
    """Where `download` installs by default: the checkout's models/ if writable, else the user's."""
    repo = repo_models_dir()
    if repo is not None and os.access(repo, os.W_OK):
        return repo
    return user_models_dir()


def model_search_paths(settings: Settings, name: str | None = None) -> list[Path]:
    """Folders tried in order: vosk_model_path (itself, then <it>/<name>), repo, user data dir."""
    name = name or default_model_name()
    paths: list[Path] = []
    if settings.vosk_model_path is not None:
        explicit = settings.vosk_model_path.expanduser()
        # VOSK_MODEL_PATH may name the model folder itself or, as the vosk package reads
        # it, a folder holding models by name: accept both.
        paths += [explicit, explicit / name]
    repo = repo_models_dir()
    if repo is not None:
        paths.append(repo / name)
    paths.append(user_models_dir() / name)
    unique: list[Path] = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def locate_vosk_model(settings: Settings, name: str | None = None) -> Path:
    """The first complete model folder of `model_search_paths`; ModelError lists every place."""
    name = name or default_model_name()
    looked: list[str] = []
    for i, path in enumerate(model_search_paths(settings, name), start=1):
        problems = verify(path)
        if not problems:
            return path
        origin = " (vosk_model_path / VOSK_MODEL_PATH)" if _is_explicit(settings, path) else ""
        looked.append(f"  {i}. {path}{origin}: {'; '.join(problems)}")
    raise ModelError(
        f"No complete Vosk model {name!r} found. Looked in:\n"
        + "\n".join(looked)
        + "\nGet one with `voice-skill models download`, or set VOSK_MODEL_PATH to a model folder."
    )


def _is_explicit(settings: Settings, path: Path) -> bool:
    if settings.vosk_model_path is None:
        return False
    explicit = settings.vosk_model_path.expanduser()
    return path in (explicit, explicit / path.name)


@dataclass(frozen=True)
class _Layout:
    required: tuple[str, ...]
    graphs: tuple[tuple[str, ...], ...]
    """either graph makes the model usable: static HCLG, or the lookahead pair"""


_V2 = _Layout(
    required=("am/final.mdl", "conf/model.conf", "conf/mfcc.conf"),
    graphs=(
        ("graph/HCLG.fst",),
        ("graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int"),
    ),
)


_V1 = _Layout(
    required=("final.mdl", "mfcc.conf"),
    graphs=(("HCLG.fst",), ("HCLr.fst", "Gr.fst", "disambig_tid.int")),
)


_IVECTOR_FILES = (
    "final.ie",
    "final.dubm",
    "final.mat",
    "global_cmvn.stats",
    "online_cmvn.conf",
    "splice.conf",
)


def _file_problem(root: Path, rel: str) -> str | None:
    target = root / rel
    if not target.is_file():
        return f"missing {rel}"
    if target.stat().st_size == 0:
        return f"empty file {rel}"
    return None


def verify(path: Path) -> list[str]:
    """Problems that would stop Vosk loading the model folder `path`; an empty list means good."""
    if not path.exists():
        return ["does not exist"]
    if not path.is_dir():
        return ["is not a folder"]
    layout = _V1 if (path / "final.mdl").is_file() else _V2
    problems = [p for rel in layout.required if (p := _file_problem(path, rel))]
    graph_problems = [[p for rel in g if (p := _file_problem(path, rel))] for g in layout.graphs]
    if all(graph_problems):
        # Neither decoding graph is complete: name the missing part of the one that was
        # started, or both choices when neither is there at all.
        present = [
            len(g) - len(found) for g, found in zip(layout.graphs, graph_problems, strict=True)
        ]
        if max(present) > 0:
            problems += graph_problems[present.index(max(present))]
        else:
            choices = " or ".join(" + ".join(g) for g in layout.graphs)
            problems.append(f"missing a decoding graph ({choices})")
    ivector = path / "ivector"
    if (ivector / "final.ie").exists():
        problems += [p for f in _IVECTOR_FILES if (p := _file_problem(ivector, f))]
    # The stamp adds what the layout check cannot see (truncated files, lost extras).
    problems += [p for p in _stamp_problems(path) if p.split(" (")[0] not in problems]
    return problems


def _stamp_problems(path: Path) -> list[str]:
    """Files whose size changed since install (a truncated copy, a failing SD card ...)."""
    stamp = path / STAMP_NAME
    if not stamp.is_file():
        return []
    try:
        sizes = json.loads(stamp.read_text(encoding="utf-8")).get("files", {})
    except (ValueError, OSError, AttributeError):
        return [f"unreadable {STAMP_NAME}"]
    problems = []
    for rel, size in sizes.items():
        target = path / rel
        if not target.is_file():
            problems.append(f"missing {rel} (present when installed)")
        elif target.stat().st_size != size:
            problems.append(f"{rel} is {target.stat().st_size} bytes, was {size} when installed")
    return problems


def load_check(path: Path) -> str | None:
    """Load the folder with the real Vosk library; None if it loads, else why not."""
    try:
        import vosk
    except (ImportError, OSError) as exc:  # OSError: libvosk.so cannot load (libatomic.so.1)
        return f"the vosk library cannot be loaded ({str(exc).splitlines()[0] if str(exc) else exc!r})"
    vosk.SetLogLevel(-1)
    try:
        vosk.Model(str(path))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        return f"Vosk could not load it: {exc}"
    return None
